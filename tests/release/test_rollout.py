"""Putting a version on a cluster (`contrail.release.rollout`) with a fake cluster, engine,
smoke test and scrape: what is applied, in which order, and what a failure leaves behind
(a failed rollout undone, a failed canary deleted, stable untouched)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from contrail.release import rollout
from contrail.release.deploy import DeployTarget
from contrail.release.rollout import DeployFailed, RolloutSettings
from contrail.release.versions import ReleaseError
from contrail.transports.cluster import ClusterError

PROJECT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "ab" * 32
REPOSITORY = "ghcr.io/octo/flights/flight-delay"
IMAGE = f"{REPOSITORY}@{DIGEST}"
SETTINGS = RolloutSettings(
    smoke_port=3311, rollout_timeout="42s", soak_seconds=60, soak_interval=25
)
URL = "http://127.0.0.1:3311"


@pytest.fixture(autouse=True)
def in_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    """The steps read deploy/ relative to the working directory, as `make` runs them."""
    monkeypatch.chdir(PROJECT)


class FakeCluster:
    """Records each call as a tuple; the calls named in `fail` raise ClusterError: a method
    (`rollout_status`), or a method and the argument after the namespace
    (`rollout_status deployment/flight-delay`)."""

    def __init__(self, *fail: str) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.fail = set(fail)

    def _call(self, *call: object) -> None:
        self.calls.append(call)
        if call[0] in self.fail or " ".join(map(str, call[:3:2])) in self.fail:
            raise ClusterError(f"{call[0]} failed")

    def render(self, script: Path, stage: str, digest: str, repository: str) -> str:
        self._call("render", stage, digest, repository)
        assert script == Path("deploy/render.sh")
        return f"kind: Deployment\n# {stage}\nimage: {repository}@{digest}\n"

    def apply(self, manifests: str) -> None:
        self._call("apply", manifests)

    def create_namespace(self, namespace: str) -> None:
        self._call("create_namespace", namespace)

    def rollout_status(self, namespace: str, deployment: str, timeout: str) -> None:
        self._call("rollout_status", namespace, deployment, timeout)

    def rollout_undo(self, namespace: str, deployment: str) -> None:
        self._call("rollout_undo", namespace, deployment)

    def running_pod(self, namespace: str, selector: str) -> str:
        self._call("running_pod", namespace, selector)
        return "flight-delay-canary-5d8f7-x2x9q"

    def wait_ready(self, namespace: str, pod: str, timeout: str) -> None:
        self._call("wait_ready", namespace, pod, timeout)

    def delete(self, namespace: str, resource: str) -> None:
        self._call("delete", namespace, resource)

    def describe_pods(self, namespace: str) -> str:
        self._call("describe_pods", namespace)
        return "Name: flight-delay-abc\nStatus: Pending\n"

    def kind_load_archive(self, archive: Path, cluster: str) -> None:
        self._call("kind_load_archive", archive.name, cluster)
        assert archive.parent.is_dir()

    @contextmanager
    def port_forward(
        self, namespace: str, target: str, local_port: int, remote_port: int
    ) -> Iterator[None]:
        self._call("port_forward", namespace, target, local_port, remote_port)
        try:
            yield
        finally:
            self.calls.append(("forward closed",))


class FakeContainers:
    def __init__(self, calls: list[tuple[object, ...]]) -> None:
        self.calls = calls

    def pull(self, engine: str, image: str) -> None:
        self.calls.append(("pull", engine, image))

    def tag(self, engine: str, source: str, target: str) -> None:
        self.calls.append(("tag", engine, source, target))

    def save(self, engine: str, image: str, archive: Path) -> None:
        self.calls.append(("save", engine, image, archive.name))


class FakeService:
    """The smoke test and /metrics scrapes of the service behind the port-forward."""

    def __init__(self, calls: list[tuple[object, ...]], scrapes: list[str], smoke_ok: bool = True):
        self.calls, self.scrapes, self.smoke_ok = calls, list(scrapes), smoke_ok

    def smoke(self, url: str, expect_version: str | None, ready_timeout_s: float) -> None:
        self.calls.append(("smoke", url, expect_version, ready_timeout_s))
        if not self.smoke_ok:
            raise DeployFailed("smoke failed at version: served 0000, expected 1234")

    def scrape(self, url: str) -> str:
        self.calls.append(("scrape", url))
        if not self.scrapes:
            raise DeployFailed(f"cannot scrape {url}/metrics: connection refused")
        return self.scrapes.pop(0)


def metrics(ok: int, errors: int = 0) -> str:
    """A /metrics text: `ok` 200s and `errors` 500s on /predict, all within 50 ms."""
    lines = []
    for code, count in (("200", ok), ("500", errors)):
        labels = f'endpoint="/predict",http_response_code="{code}"'
        lines.append(f"bentoml_service_request_total{{{labels}}} {count}")
        for le in ("0.05", "+Inf"):
            lines.append(
                f'bentoml_service_request_duration_seconds_bucket{{{labels},le="{le}"}} {count}'
            )
    return "\n".join(lines) + "\n"


def no_sleep(seconds: float) -> None:
    assert seconds == SETTINGS.soak_interval


# ----------------------------------------------------------------------------------------
# Pure parts
# ----------------------------------------------------------------------------------------


def test_namespaces_are_the_overlays_own() -> None:
    assert rollout.overlay_namespace("staging") == "contrail-staging"
    assert rollout.overlay_namespace("production") == "contrail"


def test_namespace_of_an_unknown_stage_is_refused() -> None:
    with pytest.raises(
        ReleaseError, match="unknown stage 'qa': the stages are staging, production"
    ):
        rollout.overlay_namespace("qa")


def test_an_overlay_without_a_namespace_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overlay = tmp_path / "deploy" / "overlays" / "staging"
    overlay.mkdir(parents=True)
    (overlay / "kustomization.yaml").write_text("resources: [../../base]\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ReleaseError, match=r"deploy/overlays/staging/kustomization.yaml names no"):
        rollout.overlay_namespace("staging")


@pytest.mark.parametrize("image", ["", "ghcr.io/o/r/flight-delay:v1", f"{REPOSITORY}@sha256:abc"])
def test_an_image_not_by_digest_is_refused_naming_IMAGE(image: str) -> None:
    with pytest.raises(ReleaseError, match=r"^IMAGE must name the image by digest"):
        rollout.checked_image(image)


def test_kind_image_is_a_local_tag_from_the_digest_within_60_characters() -> None:
    local = rollout.kind_image(IMAGE)
    assert local == "localhost/contrail/flight-delay:kind-" + "ab" * 11 + "a"
    assert len(local) == 60


def test_pointed_at_rewrites_only_the_images_own_lines() -> None:
    manifests = f"        image: {IMAGE}\n  note: image: {IMAGE} is pinned here\n"
    assert rollout.pointed_at(manifests, IMAGE, "localhost/x:kind-1") == (
        f"        image: localhost/x:kind-1\n  note: image: {IMAGE} is pinned here\n"
    )


@pytest.mark.parametrize(
    ("has_kubeconfig", "stage", "mode"),
    [(True, "production", "cluster"), (True, "staging", "cluster"), (False, "staging", "kind"),
     (False, "production", "none"), (False, None, "none")],
)  # fmt: skip
def test_cluster_mode(has_kubeconfig: bool, stage: str | None, mode: str) -> None:
    assert rollout.cluster_mode(has_kubeconfig, stage) == mode


# ----------------------------------------------------------------------------------------
# deploy, deploy_kind, smoke_stage
# ----------------------------------------------------------------------------------------


def test_deploy_applies_the_stage_overlay_with_the_image_and_waits() -> None:
    cluster = FakeCluster()
    rollout.deploy(cluster, "staging", IMAGE, "42s")
    assert cluster.calls == [
        ("render", "staging", DIGEST, REPOSITORY),
        ("apply", f"kind: Deployment\n# staging\nimage: {IMAGE}\n"),
        ("rollout_status", "contrail-staging", "deployment/flight-delay", "42s"),
    ]


def test_a_failed_rollout_is_undone_and_refuses_the_version() -> None:
    cluster = FakeCluster("rollout_status")
    with pytest.raises(DeployFailed, match=f"the rollout of {IMAGE} to production failed"):
        rollout.deploy(cluster, "production", IMAGE, "42s")
    assert cluster.calls[-2:] == [
        ("rollout_status", "contrail", "deployment/flight-delay", "42s"),
        ("rollout_undo", "contrail", "deployment/flight-delay"),
    ]


def test_a_failed_undo_still_reports_the_failed_rollout() -> None:
    cluster = FakeCluster("rollout_status", "rollout_undo")
    with pytest.raises(DeployFailed, match="rollout_status failed"):
        rollout.deploy(cluster, "staging", IMAGE, "42s")


def test_bad_input_touches_no_cluster() -> None:
    cluster = FakeCluster()
    with pytest.raises(ReleaseError, match="IMAGE must name the image by digest"):
        rollout.deploy(cluster, "staging", "flight-delay:latest", "42s")
    with pytest.raises(ReleaseError, match="unknown stage 'canary'"):
        rollout.deploy(cluster, "canary", IMAGE, "42s")
    assert cluster.calls == []


def test_deploy_kind_loads_the_image_pulled_by_digest_and_applies_the_local_tag() -> None:
    cluster = FakeCluster()
    rollout.deploy_kind(cluster, FakeContainers(cluster.calls), "podman", IMAGE, "ci", "42s")
    local = rollout.kind_image(IMAGE)
    assert cluster.calls == [
        ("render", "staging", DIGEST, REPOSITORY),
        ("pull", "podman", IMAGE),
        ("tag", "podman", IMAGE, local),
        ("save", "podman", local, "image.tar"),
        ("kind_load_archive", "image.tar", "ci"),
        ("create_namespace", "contrail-staging"),
        ("apply", f"kind: Deployment\n# staging\nimage: {local}\n"),
        ("rollout_status", "contrail-staging", "deployment/flight-delay", "42s"),
    ]


def test_a_failed_kind_rollout_describes_the_pods(capsys: pytest.CaptureFixture[str]) -> None:
    cluster = FakeCluster("rollout_status")
    with pytest.raises(DeployFailed, match="to kind cluster contrail failed"):
        rollout.deploy_kind(
            cluster, FakeContainers(cluster.calls), "docker", IMAGE, "contrail", "1s"
        )
    assert cluster.calls[-1] == ("describe_pods", "contrail-staging")
    assert "Status: Pending" in capsys.readouterr().err


def test_smoke_stage_goes_through_the_service_on_the_smoke_port() -> None:
    cluster = FakeCluster()
    service = FakeService(cluster.calls, [])
    rollout.smoke_stage(cluster, service.smoke, "production", 3311, "0123456789abcdef")
    assert cluster.calls == [
        ("port_forward", "contrail", "service/flight-delay", 3311, 3000),
        ("smoke", URL, "0123456789abcdef", 60.0),
        ("forward closed",),
    ]


# ----------------------------------------------------------------------------------------
# The canary
# ----------------------------------------------------------------------------------------
CANARY_POD = "pod/flight-delay-canary-5d8f7-x2x9q"
CANARY = ("delete", "contrail", "deployment/flight-delay-canary")


def run_canary(cluster: FakeCluster, service: FakeService) -> None:
    rollout.canary(cluster, service.smoke, service.scrape, IMAGE, "v-model", SETTINGS, no_sleep)


def test_a_healthy_canary_is_smoked_soaked_and_left_for_the_deploy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cluster = FakeCluster()
    # 60 s every 25 s: checks after 25, 50 and 75 s (as the Makefile's loop did).
    service = FakeService(cluster.calls, [metrics(0), metrics(40), metrics(80), metrics(120)])
    run_canary(cluster, service)
    assert cluster.calls == [
        ("render", "canary", DIGEST, REPOSITORY),
        ("apply", f"kind: Deployment\n# canary\nimage: {IMAGE}\n"),
        ("rollout_status", "contrail", "deployment/flight-delay-canary", "42s"),
        ("running_pod", "contrail", "app.kubernetes.io/name=flight-delay,track=canary"),
        ("port_forward", "contrail", CANARY_POD, 3311, 3000),
        ("smoke", URL, "v-model", 60.0),
        *[("scrape", URL)] * 4,
        ("wait_ready", "contrail", CANARY_POD, "10s"),
        ("forward closed",),
    ]
    verdicts = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in verdicts] == [
        "canary healthy: 40 requests",
        "canary healthy: 80 requests",
        "canary healthy: 120 requests",
    ]


def test_an_unhealthy_canary_is_deleted_at_once_and_stable_never_touched() -> None:
    cluster = FakeCluster()
    # The second check sees 10 errors in 100 requests: 10% > 1%.
    service = FakeService(cluster.calls, [metrics(0), metrics(40), metrics(90, 10), metrics(200)])
    with pytest.raises(DeployFailed, match=r"canary failed: 100 requests, 10 5xx \(10.00%\)"):
        run_canary(cluster, service)
    assert cluster.calls[-4:] == [("scrape", URL), ("scrape", URL), ("forward closed",), CANARY]
    assert not stable_touched(cluster)


@pytest.mark.parametrize(
    "failing",
    ["apply", "rollout_status", "running_pod", "port_forward", "wait_ready", "smoke", "scrape"],
)
def test_any_canary_failure_deletes_the_canary_and_never_touches_stable(failing: str) -> None:
    cluster = FakeCluster(*{failing} - {"smoke", "scrape"})
    scrapes = [] if failing == "scrape" else [metrics(0), metrics(1), metrics(2), metrics(3)]
    service = FakeService(cluster.calls, scrapes, smoke_ok=failing != "smoke")
    with pytest.raises((ClusterError, DeployFailed)):
        run_canary(cluster, service)
    assert cluster.calls[-1] == CANARY
    assert cluster.calls.count(CANARY) == 1
    assert not stable_touched(cluster)


def test_a_failing_delete_does_not_hide_why_the_canary_failed() -> None:
    cluster = FakeCluster("rollout_status", "delete")
    with pytest.raises(ClusterError, match="rollout_status failed"):
        run_canary(cluster, FakeService(cluster.calls, []))


def stable_touched(cluster: FakeCluster) -> bool:
    stable = "deployment/flight-delay"
    return any(
        call[0] in ("rollout_status", "rollout_undo", "delete") and call[2] == stable
        for call in cluster.calls
    ) or any(call[0] == "render" and call[1] != "canary" for call in cluster.calls)


def test_canary_delete_deletes_only_the_canary() -> None:
    cluster = FakeCluster()
    rollout.delete_canary(cluster)
    assert cluster.calls == [CANARY]


# ----------------------------------------------------------------------------------------
# The rollback's redeploy
# ----------------------------------------------------------------------------------------
TARGET = DeployTarget("v1.0.1", IMAGE, "0123456789abcdef")


def test_a_production_rollback_goes_canary_stable_smoke_then_deletes_the_canary() -> None:
    cluster = FakeCluster()
    service = FakeService(cluster.calls, [metrics(0), metrics(1), metrics(2), metrics(3)])
    rollout.redeploy(
        cluster, service.smoke, service.scrape, "production", TARGET, SETTINGS, no_sleep
    )
    order = [call[0] if call[0] != "render" else f"render {call[1]}" for call in cluster.calls]
    canary_smoke, stable_smoke = (i for i, name in enumerate(order) if name == "smoke")
    assert order.index("render canary") < canary_smoke < order.index("render production")
    assert order.index("render production") < stable_smoke < order.index("delete")
    assert cluster.calls[-1] == CANARY
    assert ("port_forward", "contrail", "service/flight-delay", 3311, 3000) in cluster.calls
    assert [c[2] for c in cluster.calls if c[0] == "smoke"] == ["0123456789abcdef"] * 2


def test_a_failed_stable_rollback_still_deletes_the_canary() -> None:
    cluster = FakeCluster("rollout_status deployment/flight-delay")
    service = FakeService(cluster.calls, [metrics(0), metrics(1), metrics(2), metrics(3)])
    with pytest.raises(DeployFailed):
        rollout.redeploy(
            cluster, service.smoke, service.scrape, "production", TARGET, SETTINGS, no_sleep
        )
    assert cluster.calls[-2:] == [("rollout_undo", "contrail", "deployment/flight-delay"), CANARY]


def test_a_staging_rollback_has_no_canary() -> None:
    cluster = FakeCluster()
    service = FakeService(cluster.calls, [])
    rollout.redeploy(cluster, service.smoke, service.scrape, "staging", TARGET, SETTINGS)
    assert [call[0] for call in cluster.calls] == [
        "render", "apply", "rollout_status", "port_forward", "smoke", "forward closed",
    ]  # fmt: skip
