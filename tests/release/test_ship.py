"""The image before it ships (`contrail.release.ship`), with a fake engine and smoke test:
the local smoke run always stops its container and shows its log when it fails; the push
records the digest each engine reports."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from contrail.release import ship
from contrail.release.rollout import DeployFailed
from contrail.release.versions import ReleaseError

DIGEST = "sha256:" + "0123456789abcdef" * 4


class FakeEngine:
    def __init__(self, push_report: str = "", log_lines: int = 0) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.push_report, self.log_lines = push_report, log_lines

    def tag(self, engine: str, source: str, target: str) -> None:
        self.calls.append(("tag", engine, source, target))

    def push(self, engine: str, target: str) -> str:
        self.calls.append(("push", engine, target))
        return self.push_report

    def run_detached(self, engine: str, name: str, image: str, env: Mapping[str, str]) -> None:
        self.calls.append(("run", engine, image, dict(env)))
        assert name.startswith("contrail-smoke-")

    def logs(self, engine: str, name: str) -> str:
        self.calls.append(("logs", engine))
        return "".join(f"log line {n}\n" for n in range(1, self.log_lines + 1))

    def stop(self, engine: str, name: str) -> None:
        self.calls.append(("stop", engine))


def test_smoke_image_runs_the_image_on_loopback_smokes_it_and_stops_it() -> None:
    engine = FakeEngine()
    smoked = []
    ship.smoke_image(
        engine, lambda *args: smoked.append(args), "podman", "contrail/flight-delay:local", 3312
    )
    assert engine.calls == [
        ("run", "podman", "contrail/flight-delay:local",
         {"PORT": "3312", "BENTOML_HOST": "127.0.0.1"}),
        ("stop", "podman"),
    ]  # fmt: skip
    assert smoked == [("http://127.0.0.1:3312", None, 180.0)]


def test_a_failed_image_smoke_shows_the_last_40_log_lines_and_stops_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine = FakeEngine(log_lines=50)

    def failing(url: str, expect_version: str | None, ready_timeout_s: float) -> None:
        raise DeployFailed("smoke failed at readyz: 503 after 180 s")

    with pytest.raises(DeployFailed, match="smoke failed at readyz"):
        ship.smoke_image(engine, failing, "docker", "contrail/flight-delay:local", 3312)
    assert [call[0] for call in engine.calls] == ["run", "logs", "stop"]
    shown = capsys.readouterr().err.splitlines()
    assert shown == [f"log line {n}" for n in range(11, 51)]


def test_push_with_podman_records_its_digest_file() -> None:
    engine = FakeEngine(push_report=f"{DIGEST}\n")
    ref = ship.push_image(engine, "podman", "local:1", "127.0.0.1:5000/Octo/flight-delay", "c0ffee")
    assert ref == f"127.0.0.1:5000/octo/flight-delay@{DIGEST}"
    assert engine.calls == [
        ("tag", "podman", "local:1", "127.0.0.1:5000/octo/flight-delay:c0ffee"),
        ("push", "podman", "127.0.0.1:5000/octo/flight-delay:c0ffee"),
    ]


def test_push_with_docker_records_the_digest_it_printed_for_the_tag() -> None:
    report = f"The push refers to repository [x]\nlatest: digest: sha256:{'f' * 64} size: 9\n"
    report += f"c0ffee: digest: {DIGEST} size: 1782\n"
    engine = FakeEngine(push_report=report)
    ref = ship.push_image(engine, "docker", "local:1", "ghcr.io/o/flight-delay", "c0ffee")
    assert ref == f"ghcr.io/o/flight-delay@{DIGEST}"


def test_bad_push_input_runs_no_engine() -> None:
    engine = FakeEngine()
    with pytest.raises(ReleaseError, match="is not an image tag"):
        ship.push_image(engine, "docker", "local:1", "ghcr.io/o/flight-delay", "v1:2")
    with pytest.raises(ReleaseError, match="use docker or podman"):
        ship.smoke_image(engine, lambda *args: None, "buildah", "local:1", 3312)
    assert engine.calls == []
