"""`contrail.transports.cluster` against a fake `kubectl`/`kind` on PATH: the exact command
lines (the shapes the workflow tests' stand-in models), what a failure says, and the
port-forward's lifetime. No cluster."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from contrail.transports import cluster
from contrail.transports.cluster import ClusterError

# Records argv and stdin, prints $FAKE_STDOUT and $FAKE_STDERR, exits with $FAKE_EXIT.
RECORDER = f"""#!{sys.executable}
import json, os, sys
stdin = sys.stdin.read() if sys.argv[-2:] == ["-f", "-"] else ""
with open(os.environ["CALLS"], "a") as log:
    log.write(json.dumps({{"argv": [os.path.basename(sys.argv[0]), *sys.argv[1:]], "stdin": stdin}}) + "\\n")
sys.stdout.write(os.environ.get("FAKE_STDOUT", ""))
sys.stderr.write(os.environ.get("FAKE_STDERR", ""))
sys.exit(int(os.environ.get("FAKE_EXIT", "0")))
"""


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A recording `kubectl` and `kind` first on PATH; the file their calls go to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("kubectl", "kind"):
        (bin_dir / tool).write_text(RECORDER)
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("CALLS", str(log))
    return log


def recorded(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_each_command_line(calls: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster.apply("kind: Namespace\n")
    cluster.rollout_status("contrail", "deployment/flight-delay", "300s")
    cluster.rollout_undo("contrail", "deployment/flight-delay")
    cluster.wait_ready("contrail", "pod/canary-1", "10s")
    cluster.delete("contrail", "deployment/flight-delay-canary")
    cluster.kind_load_archive(Path("/tmp/x/image.tar"), "contrail")
    monkeypatch.setenv("FAKE_STDOUT", "flight-delay-canary-abc")
    assert cluster.running_pod("contrail", "track=canary") == "flight-delay-canary-abc"

    assert [call["argv"] for call in recorded(calls)] == [
        ["kubectl", "apply", "-f", "-"],
        ["kubectl", "-n", "contrail", "rollout", "status", "deployment/flight-delay",
         "--timeout=300s"],
        ["kubectl", "-n", "contrail", "rollout", "undo", "deployment/flight-delay"],
        ["kubectl", "-n", "contrail", "wait", "--for=condition=Ready", "pod/canary-1",
         "--timeout=10s"],
        ["kubectl", "-n", "contrail", "delete", "deployment/flight-delay-canary",
         "--ignore-not-found", "--wait=true"],
        ["kind", "load", "image-archive", "/tmp/x/image.tar", "--name", "contrail"],
        ["kubectl", "-n", "contrail", "get", "pods", "-l", "track=canary",
         "--field-selector=status.phase=Running", "-o", "jsonpath={.items[0].metadata.name}"],
    ]  # fmt: skip
    assert recorded(calls)[0]["stdin"] == "kind: Namespace\n"


def test_create_namespace_applies_what_kubectl_renders(
    calls: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_STDOUT", "kind: Namespace\nmetadata: {name: contrail-staging}\n")
    cluster.create_namespace("contrail-staging")
    create, apply = recorded(calls)
    assert create["argv"] == [
        "kubectl", "create", "namespace", "contrail-staging", "--dry-run=client", "-o", "yaml",
    ]  # fmt: skip
    assert apply["argv"] == ["kubectl", "apply", "-f", "-"]
    assert apply["stdin"] == "kind: Namespace\nmetadata: {name: contrail-staging}\n"


def test_describe_pods_returns_the_description(
    calls: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_STDOUT", "Name: flight-delay-1\n")
    assert cluster.describe_pods("contrail-staging") == "Name: flight-delay-1\n"
    assert recorded(calls)[0]["argv"] == ["kubectl", "-n", "contrail-staging", "describe", "pods"]


def test_no_running_pod_is_an_error(calls: Path) -> None:
    with pytest.raises(ClusterError, match="no Running pod in contrail matches track=canary"):
        cluster.running_pod("contrail", "track=canary")


def test_a_failure_names_the_command_and_kubectls_last_line(
    calls: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_EXIT", "1")
    monkeypatch.setenv("FAKE_STDERR", "Waiting...\nerror: timed out waiting for the condition\n")
    with pytest.raises(ClusterError) as failed:
        cluster.rollout_status("contrail", "deployment/flight-delay", "5s")
    assert str(failed.value) == (
        "`kubectl -n contrail rollout status deployment/flight-delay --timeout=5s` exited with 1: "
        "error: timed out waiting for the condition"
    )
    assert "Waiting...\n" in capsys.readouterr().err  # kubectl's own words are shown too


def test_a_missing_kubectl_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ClusterError, match="cannot run kubectl"):
        cluster.apply("kind: Namespace\n")


def test_render_runs_the_script_with_stage_digest_and_repository(tmp_path: Path) -> None:
    script = tmp_path / "render.sh"
    script.write_text('#!/bin/sh\necho "rendered $*"\n')
    script.chmod(0o755)
    assert cluster.render(script, "canary", "sha256:ab", "ghcr.io/o/r") == (
        "rendered canary sha256:ab ghcr.io/o/r\n"
    )


# ----------------------------------------------------------------------------------------
# port_forward
# ----------------------------------------------------------------------------------------
def fake_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    """A `kubectl` shell script first on PATH; it writes its pid to the returned file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pid_file = tmp_path / "pid"
    (bin_dir / "kubectl").write_text(f'#!/bin/sh\necho $$ > "{pid_file}"\n{body}\n')
    (bin_dir / "kubectl").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return pid_file


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_port_forward_serves_inside_the_block_and_is_stopped_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv_file = tmp_path / "argv"
    pid_file = fake_kubectl(
        tmp_path,
        monkeypatch,
        f'printf "%s\\n" "$*" > "{argv_file}"\necho "Forwarding from 127.0.0.1:$5 -> 3000"\nexec sleep 60',
    )
    started = time.monotonic()
    with cluster.port_forward("contrail", "service/flight-delay", 3311, 3000):
        pid = int(pid_file.read_text())
        assert alive(pid)
        assert argv_file.read_text() == "-n contrail port-forward service/flight-delay 3311:3000\n"
    assert not alive(pid)
    assert time.monotonic() - started < 10


def test_port_forward_that_exits_first_names_the_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_kubectl(
        tmp_path,
        monkeypatch,
        'echo "Unable to listen on port 3311: address already in use" >&2\nexit 1',
    )
    with (
        pytest.raises(ClusterError) as failed,
        cluster.port_forward("contrail", "pod/canary-1", 3311, 3000),
    ):
        pytest.fail("the block must not run without a port-forward")
    assert str(failed.value) == (
        "no port-forward to pod/canary-1 on 127.0.0.1:3311 (busy port?): "
        "Unable to listen on port 3311: address already in use"
    )


def test_a_silent_port_forward_times_out_and_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = fake_kubectl(tmp_path, monkeypatch, "exec sleep 60")
    monkeypatch.setattr(cluster, "FORWARD_WAIT_S", 1.0)
    with (
        pytest.raises(
            ClusterError, match=r"no port-forward to service/flight-delay on 127.0.0.1:3311"
        ),
        cluster.port_forward("contrail", "service/flight-delay", 3311, 3000),
    ):
        pytest.fail("the block must not run without a port-forward")
    assert not alive(int(pid_file.read_text()))
