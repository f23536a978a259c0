"""The Kubernetes manifests in deploy/: rendered as a deploy renders them (deploy/render.sh,
`kubectl kustomize`, no cluster) and validated offline against the Kubernetes version that
`make lint-k8s` pins, then checked for what the schemas cannot see."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
STAGES = ("staging", "production")
PORT = 3000
UID = 1034
# Kept equal to the `K8S_VERSION` of `make lint-k8s` (test_lint_target_pins_the_same_version).
K8S_VERSION = "1.32.0"
REPOSITORY = "ghcr.io/acme/contrail/flight-delay"
DIGEST = "sha256:" + "0123456789abcdef" * 4
EXPECTED_KINDS = {
    "ServiceAccount",
    "Service",
    "Deployment",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
}

pytestmark = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl (for `kubectl kustomize`) is not on PATH"
)

Docs = dict[str, dict[str, Any]]


def _by_kind(text: str) -> Docs:
    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    by_kind = {doc["kind"]: doc for doc in docs}
    assert len(by_kind) == len(docs), "one object of each kind expected"
    return by_kind


def _kustomize(directory: Path) -> Docs:
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=True
    )
    return _by_kind(result.stdout)


def _render(stage: str, *extra: str, digest: str = DIGEST) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(DEPLOY / "render.sh"), stage, digest, *extra],
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module", params=STAGES)
def stage(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def rendered(stage: str) -> Docs:
    """The overlay as a deploy applies it: image pinned to a pushed digest."""
    result = _render(stage, REPOSITORY)
    assert result.returncode == 0, result.stderr
    return _by_kind(result.stdout)


def _pod(docs: Docs) -> dict[str, Any]:
    return dict(docs["Deployment"]["spec"]["template"])


def _container(docs: Docs) -> dict[str, Any]:
    containers = _pod(docs)["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


def _validate(docs: Docs) -> None:
    for doc in docs.values():
        # Raises on a schema violation or an unknown field (strict), and, unlike the CLI, on a
        # kind or apiVersion it has no schema for.
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_render_pins_the_image_to_the_digest(rendered: Docs) -> None:
    assert _container(rendered)["image"] == f"{REPOSITORY}@{DIGEST}"


def test_render_keeps_the_overlay_repository_by_default(stage: str) -> None:
    result = _render(stage)
    assert result.returncode == 0, result.stderr
    image = _container(_by_kind(result.stdout))["image"]
    assert image == f"ghcr.io/OWNER/REPO/flight-delay@{DIGEST}"


@pytest.mark.parametrize(
    ("stage_arg", "digest"),
    [
        ("production", "sha256:1234"),
        ("production", "latest"),
        ("production", "sha256:" + "A" * 64),
        ("prod", DIGEST),
    ],
)
def test_render_refuses_a_bad_digest_or_stage(stage_arg: str, digest: str) -> None:
    result = _render(stage_arg, digest=digest)
    assert result.returncode == 2
    assert result.stdout == ""


def test_rendered_overlay_validates_strictly(rendered: Docs) -> None:
    assert set(rendered) == EXPECTED_KINDS
    _validate(rendered)


def test_overlay_alone_validates_with_a_placeholder_digest(stage: str) -> None:
    """What `make lint-k8s` checks; the placeholder can never be pulled."""
    docs = _kustomize(DEPLOY / "overlays" / stage)
    assert set(docs) == EXPECTED_KINDS
    _validate(docs)
    assert re.fullmatch(r"ghcr\.io/.+/flight-delay@sha256:0{64}", _container(docs)["image"])


def test_validation_rejects_an_unknown_field(rendered: Docs) -> None:
    deployment = json.loads(json.dumps(rendered["Deployment"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "readOnlyRootFileSystem"
    ] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_lint_target_pins_the_same_version() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert f"lint-k8s: K8S_VERSION := {K8S_VERSION}" in makefile


def test_restricted_security_context(rendered: Docs) -> None:
    pod = _pod(rendered)["spec"]
    assert pod["securityContext"] == {
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == rendered["ServiceAccount"]["metadata"]["name"]
    assert rendered["ServiceAccount"]["automountServiceAccountToken"] is False
    context = _container(rendered)["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert "privileged" not in context or context["privileged"] is False


def test_writable_paths_are_empty_dirs(rendered: Docs) -> None:
    container = _container(rendered)
    volumes = {volume["name"]: volume for volume in _pod(rendered)["spec"]["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert all("emptyDir" in volumes[name] for name in mounts.values())
    log_dir = _env(container)["CONTRAIL_PREDICTION_LOG_DIR"]
    # The image keeps BentoML's home under /tmp (deploy/docker/Dockerfile.j2).
    assert set(mounts) == {"/tmp", log_dir}
    template = (ROOT / "deploy/docker/Dockerfile.j2").read_text()
    assert "ENV BENTOML_HOME=/tmp/bentoml" in template


def test_one_single_threaded_worker_per_pod(rendered: Docs) -> None:
    service_py = (ROOT / "src" / "contrail" / "serving" / "service.py").read_text()
    match = re.search(r"@bentoml\.service\(\s*name=\"([^\"]+)\"", service_py)
    assert match, "the service's name in src/contrail/serving/service.py"
    env = _env(_container(rendered))
    overrides = json.loads(env["BENTOML_CONFIG_OVERRIDES"])
    assert overrides == {"services": {match.group(1): {"workers": 1}}}
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        assert env[variable] == "1"
    resources = _container(rendered)["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and {"cpu", "memory"} <= set(
        resources["limits"]
    )


def test_probes_and_ports_target_3000(rendered: Docs) -> None:
    container = _container(rendered)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": PORT}

    def resolve(port: int | str) -> int:
        return ports[port] if isinstance(port, str) else port

    paths = {}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert resolve(get["port"]) == PORT
        paths[probe] = get["path"]
    assert paths["readinessProbe"] == "/readyz"
    assert paths["livenessProbe"] == "/livez"
    assert paths["startupProbe"] in {"/livez", "/readyz"}
    # Every request hangs while the model loads: a minute at least before a restart.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60

    service_ports = rendered["Service"]["spec"]["ports"]
    assert [(p["port"], resolve(p["targetPort"])) for p in service_ports] == [(PORT, PORT)]
    annotations = _pod(rendered)["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(PORT)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_selectors_leave_room_for_a_canary(rendered: Docs) -> None:
    deployment = rendered["Deployment"]
    labels = _pod(rendered)["metadata"]["labels"]
    assert rendered["Service"]["spec"]["selector"] == {"app.kubernetes.io/name": "flight-delay"}
    assert deployment["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "flight-delay",
        "track": "stable",
    }
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert rendered["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= (
        labels.items()
    )
    target = rendered["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])


def _configured_namespaces(stage: str) -> set[str]:
    patch = yaml.safe_load((DEPLOY / "overlays" / stage / "networkpolicy.yaml").read_text())
    return {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in patch["spec"]["ingress"]
        for peer in rule["from"]
    }


def test_network_policy_admits_only_the_configured_namespaces(stage: str, rendered: Docs) -> None:
    policy = rendered["NetworkPolicy"]["spec"]
    labels = _pod(rendered)["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    admitted = set()
    for rule in policy["ingress"]:
        assert rule["ports"] == [{"port": PORT, "protocol": "TCP"}]
        assert rule.get("from"), "an empty `from` admits every source"
        for peer in rule["from"]:
            # A namespace selector alone, on the namespace's name: no ipBlock, no podSelector,
            # no selector that would match every namespace.
            assert set(peer) == {"namespaceSelector"}
            assert set(peer["namespaceSelector"]) == {"matchLabels"}
            selector = peer["namespaceSelector"]["matchLabels"]
            assert set(selector) == {"kubernetes.io/metadata.name"}
            admitted.add(selector["kubernetes.io/metadata.name"])
    configured = _configured_namespaces(stage)
    assert configured and admitted == configured
    assert rendered["Deployment"]["metadata"]["namespace"] not in admitted


def test_base_network_policy_admits_nothing() -> None:
    policy = _kustomize(DEPLOY / "base")["NetworkPolicy"]["spec"]
    assert policy["policyTypes"] == ["Ingress"] and policy["ingress"] == []


def test_production_runs_more_replicas_than_staging() -> None:
    replicas = {}
    for name in STAGES:
        result = _render(name)
        assert result.returncode == 0, result.stderr
        docs = _by_kind(result.stdout)
        hpa = docs["HorizontalPodAutoscaler"]["spec"]
        assert docs["Deployment"]["spec"]["replicas"] == hpa["minReplicas"] <= hpa["maxReplicas"]
        replicas[name] = hpa["minReplicas"]
    assert replicas["production"] >= 3 > replicas["staging"]
