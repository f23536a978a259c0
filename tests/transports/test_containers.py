"""`contrail.transports.containers` against a fake `podman` on PATH: the command lines, what a
push reports, and what a failure says. (docker's push report: tests/release/test_push_image.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contrail.transports import containers
from contrail.transports.containers import ContainerError

DIGEST = "sha256:" + "0123456789abcdef" * 4
# Records its arguments; `push --digestfile F` writes the digest to F; $FAIL names a
# command that exits 125 (as podman does) after saying why on stderr.
FAKE_PODMAN = f"""#!/bin/sh
printf '%s\\n' "$*" >> "$CALLS"
if [ "$1" = "$FAIL" ]; then echo "Error: something went wrong" >&2; exit 125; fi
case "$1" in
  push) echo "Writing manifest to image destination"; printf '{DIGEST}' > "$3" ;;
  logs) echo "line 1"; echo "line 2" >&2 ;;
  run) echo "4f1c0ffee" ;;
esac
"""


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "podman").write_text(FAKE_PODMAN)
    (bin_dir / "podman").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("CALLS", str(tmp_path / "calls"))
    monkeypatch.delenv("FAIL", raising=False)
    return tmp_path / "calls"


def test_podman_push_reports_the_digest_file(
    calls: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert containers.push("podman", "127.0.0.1:5000/o/flight-delay:abc") == DIGEST
    (call,) = calls.read_text().splitlines()
    assert call.startswith("push --digestfile /") and call.endswith(
        "/digest 127.0.0.1:5000/o/flight-delay:abc"
    )
    assert capsys.readouterr().out == "Writing manifest to image destination\n"  # passed through


def test_each_command_line(calls: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = f"ghcr.io/o/r/flight-delay@{DIGEST}"
    containers.pull("podman", image)
    containers.tag("podman", image, "localhost/contrail/flight-delay:kind-0123")
    containers.save("podman", "localhost/contrail/flight-delay:kind-0123", Path("/tmp/i.tar"))
    containers.run_detached(
        "podman", "smoke-1", "contrail/flight-delay:local", {"PORT": "3300", "BENTOML_HOST": "x"}
    )
    containers.stop("podman", "smoke-1")
    assert calls.read_text().splitlines() == [
        f"pull {image}",
        f"tag {image} localhost/contrail/flight-delay:kind-0123",
        "save -o /tmp/i.tar localhost/contrail/flight-delay:kind-0123",
        "run --detach --rm --name smoke-1 --network host -e PORT=3300 -e BENTOML_HOST=x "
        "contrail/flight-delay:local",
        "stop smoke-1",
    ]
    assert "4f1c0ffee" not in capsys.readouterr().out  # the container id is not news


def test_logs_are_stdout_and_stderr_together(calls: Path) -> None:
    assert containers.logs("podman", "smoke-1") == "line 1\nline 2\n"


def test_a_failure_names_the_command(calls: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAIL", "pull")
    with pytest.raises(ContainerError, match=r"^`podman pull` exited with 125$"):
        containers.pull("podman", "ghcr.io/o/r/flight-delay:latest")


def test_a_missing_engine_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ContainerError, match="cannot run podman"):
        containers.stop("podman", "smoke-1")
