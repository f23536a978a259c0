"""The kubectl and kind stand-ins (tests/workflows/stand_ins), driven as the Makefile's deploy
targets drive kubectl, against pods that podman really runs from the service image.

A deploy workflow run here trusts them: a manifest an API server would refuse must fail, a
rollout must wait for the real service's /readyz, and `contrail smoke` must reach the real
service through the port-forward. Expected values are written here, not read from the
stand-ins' code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.loopback import free_port
from support.oci_registry import OciRegistry, oci_registry  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / "tests" / "workflows" / "stand_ins" / "bin"
VENV_BIN = Path(sys.executable).parent
IMAGE = "contrail/flight-delay:local"
SESSION_IMAGE = f"contrail/flight-delay:standin-test-{os.getpid()}"
# The repository the overlays name until render.sh is given another.
OVERLAY_REPOSITORY = "ghcr.io/OWNER/REPO/flight-delay"
DIGEST = "sha256:" + hashlib.sha256(b"contrail stand-in test").hexdigest()
NAMESPACE = "contrail"  # deploy/overlays/production's
STAGING = "contrail-staging"


class StandIns:
    """The stand-ins' environment for one test, and what they recorded."""

    def __init__(self, root: Path) -> None:
        self.log = root / "calls.jsonl"
        self.state = root / "state"
        kubeconfig = root / "kubeconfig"
        # What deploy.yml's `make ci-cluster` writes from the environment's KUBECONFIG secret.
        kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: production\n")
        self.env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
            "CONTRAIL_STANDIN_LOG": str(self.log),
            "CONTRAIL_STANDIN_STATE": str(self.state),
            "CONTRAIL_STANDIN_VALIDATOR": str(VENV_BIN / "kubernetes-validate"),
            "CONTRAIL_STANDIN_NAMESPACES": f"{NAMESPACE} {STAGING}",
            "KUBECONFIG": str(kubeconfig),
        }

    def run(
        self, tool: str, *args: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / tool), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=REPO,
            timeout=600,
        )

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", *args, stdin=stdin)

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def played_pods(self) -> list[dict[str, Any]]:
        return [
            json.loads(p.read_text()) for p in sorted(self.state.glob("clusters/*/pods/*/*.json"))
        ]

    def render(
        self,
        stage: str,
        image: str | None = None,
        repository: str | None = None,
        digest: str = DIGEST,
    ) -> str:
        """deploy/render.sh's output (through the stand-in's kubectl kustomize); `image`
        replaces the rendered reference, as `make deploy-kind` does with its local tag."""
        args = [stage, digest] + ([repository] if repository else [])
        rendered = subprocess.run(
            [str(REPO / "deploy" / "render.sh"), *args],
            capture_output=True,
            text=True,
            env=self.env,
            check=True,
        ).stdout
        if image is None:
            return rendered
        reference = f"image: {repository or OVERLAY_REPOSITORY}@{DIGEST}\n"
        assert rendered.count(reference) == 1, rendered
        return rendered.replace(reference, f"image: {image}\n")


@pytest.fixture
def stand_ins(tmp_path: Path) -> Iterator[StandIns]:
    stand_ins = StandIns(tmp_path)
    yield stand_ins
    # Whatever a failed test left running.
    for played in stand_ins.state.glob("clusters/*/played/*.json"):
        subprocess.run(["podman", "kube", "down", str(played)], capture_output=True)


@pytest.fixture(scope="session")
def service_image() -> Iterator[str]:
    """The service image `make image` builds (built here if missing, after `make run` puts
    the model in place: a few minutes), under a tag of this session's own: a concurrent
    rebuild of the image moves only its own tag."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed: the stand-in plays pods with it")
    if subprocess.run(["podman", "image", "exists", IMAGE]).returncode != 0:
        subprocess.run(
            [
                "make",
                "run",
                "image",
                "CONTAINER_BACKEND=podman",
                "CONTAINERIZE_OPTS=--opt network=host",
            ],
            cwd=REPO,
            check=True,
        )
    subprocess.run(["podman", "tag", IMAGE, SESSION_IMAGE], check=True)
    yield SESSION_IMAGE
    # The name twice: `podman untag IMAGE` alone removes every name the image has.
    subprocess.run(["podman", "untag", SESSION_IMAGE, SESSION_IMAGE], capture_output=True)


def container(pod: dict[str, Any]) -> str:
    return str(pod["containers"]["flight-delay"])


def podman_pod_exists(pod: dict[str, Any]) -> bool:
    return subprocess.run(["podman", "pod", "exists", pod["podman_pod"]]).returncode == 0


def smoke_through_port_forward(stand_ins: StandIns, namespace: str, target: str) -> str:
    """`kubectl port-forward TARGET PORT:3000` in the background and `contrail smoke` through it,
    as `make smoke-k8s` does; returns the smoke test's output."""
    port = free_port()
    forward = subprocess.Popen(
        [str(BIN / "kubectl"), "-n", namespace, "port-forward", target, f"{port}:3000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=stand_ins.env,
    )
    try:
        assert forward.stdout is not None
        assert forward.stdout.readline() == f"Forwarding from 127.0.0.1:{port} -> 3000\n"
        smoke = subprocess.run(
            [
                str(VENV_BIN / "contrail"),
                "smoke",
                "--url",
                f"http://127.0.0.1:{port}",
                "--ready-timeout",
                "60",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        forward.terminate()
        forward.wait(timeout=10)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    return smoke.stdout


def test_production_overlay_runs_smokes_and_rolls_back(
    stand_ins: StandIns, service_image: str
) -> None:
    applied = stand_ins.kubectl(
        "apply", "-f", "-", stdin=stand_ins.render("production", service_image)
    )
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines() == [
        "serviceaccount/flight-delay created",
        "service/flight-delay created",
        "deployment.apps/flight-delay created",
        "poddisruptionbudget.policy/flight-delay created",
        "horizontalpodautoscaler.autoscaling/flight-delay created",
        "networkpolicy.networking.k8s.io/flight-delay created",
    ]
    rollout = stand_ins.kubectl(
        "-n", NAMESPACE, "rollout", "status", "deployment/flight-delay", "--timeout=180s"
    )
    assert rollout.returncode == 0, rollout.stderr
    assert rollout.stdout.endswith('deployment "flight-delay" successfully rolled out\n')

    assert "smoke passed: 7 checks" in smoke_through_port_forward(
        stand_ins, NAMESPACE, "service/flight-delay"
    )

    # The manifest's securityContext and emptyDirs, as podman ran them.
    (stable,) = stand_ins.played_pods()
    uid = subprocess.run(
        ["podman", "exec", container(stable), "id", "-u"], capture_output=True, text=True
    )
    assert uid.stdout.strip() == "1034"
    root = subprocess.run(
        ["podman", "exec", container(stable), "touch", "/app/x"], capture_output=True, text=True
    )
    assert root.returncode != 0
    assert "Read-only file system" in root.stderr
    scratch = subprocess.run(
        ["podman", "exec", container(stable), "touch", "/tmp/x"], capture_output=True
    )
    assert scratch.returncode == 0

    # `make canary`: one pod with track: canary, found by its labels, waited for, then deleted.
    canary = stand_ins.kubectl("apply", "-f", "-", stdin=stand_ins.render("canary", service_image))
    assert canary.stdout == "deployment.apps/flight-delay-canary created\n", canary.stderr
    rollout = stand_ins.kubectl(
        "-n", NAMESPACE, "rollout", "status", "deployment/flight-delay-canary", "--timeout=180s"
    )
    assert rollout.returncode == 0, rollout.stderr
    found = stand_ins.kubectl(
        "-n",
        NAMESPACE,
        "get",
        "pods",
        "-l",
        "app.kubernetes.io/name=flight-delay,track=canary",
        "--field-selector=status.phase=Running",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    )
    canary_pod = next(
        p for p in stand_ins.played_pods() if p["deployment"] == "flight-delay-canary"
    )
    assert found.stdout == canary_pod["name"] != stable["name"]
    assert found.stdout.startswith("flight-delay-canary-")
    waited = stand_ins.kubectl(
        "-n", NAMESPACE, "wait", "--for=condition=Ready", f"pod/{found.stdout}", "--timeout=10s"
    )
    assert waited.stdout == f"pod/{found.stdout} condition met\n"
    for _ in range(2):  # `make canary-delete` twice: the second finds nothing and succeeds
        deleted = stand_ins.kubectl(
            "-n",
            NAMESPACE,
            "delete",
            "deployment/flight-delay-canary",
            "--ignore-not-found",
            "--wait=true",
        )
        assert deleted.returncode == 0, deleted.stderr
    assert not podman_pod_exists(canary_pod)

    # `make deploy` of an image no node can pull: the rollout fails, `rollout undo` restores.
    missing = f"127.0.0.1:{free_port()}/nothing/flight-delay@{DIGEST}"
    bad = stand_ins.kubectl("apply", "-f", "-", stdin=stand_ins.render("production", missing))
    assert "deployment.apps/flight-delay configured" in bad.stdout.splitlines()
    assert "service/flight-delay unchanged" in bad.stdout.splitlines()
    failed = stand_ins.kubectl(
        "-n", NAMESPACE, "rollout", "status", "deployment/flight-delay", "--timeout=60s"
    )
    assert failed.returncode == 1
    assert "ErrImagePull" in failed.stderr
    undo = stand_ins.kubectl("-n", NAMESPACE, "rollout", "undo", "deployment/flight-delay")
    assert undo.stdout == "deployment.apps/flight-delay rolled back\n"
    rollout = stand_ins.kubectl(
        "-n", NAMESPACE, "rollout", "status", "deployment/flight-delay", "--timeout=180s"
    )
    assert rollout.returncode == 0, rollout.stderr
    (restored,) = stand_ins.played_pods()
    assert restored["images"] == {"flight-delay": service_image}

    deleted = stand_ins.kubectl("-n", NAMESPACE, "delete", "deployment/flight-delay")
    assert deleted.stdout == 'deployment.apps "flight-delay" deleted\n'
    assert not podman_pod_exists(restored)
    assert stand_ins.played_pods() == []

    records = stand_ins.records()
    assert [
        r["exit"] for r in records if r["tool"] == "kubectl" and r["argv"][:1] == ["kustomize"]
    ] == [0, 0, 0]
    applies = [r for r in records if "apply" in r["argv"]]
    assert [len(r["manifests"]) for r in applies] == [6, 1, 6]
    assert applies[0]["context"] == "production"
    assert [r["exit"] for r in records if "status" in r["argv"]] == [0, 0, 1, 0]
    assert all(r["namespace"] == NAMESPACE for r in records if "-n" in r["argv"])
    forward = next(r for r in records if "port-forward" in r["argv"])
    assert forward["exit"] is None  # written when it started serving; killed afterwards
    assert forward["details"]["pod"] == stable["name"]


def test_an_invalid_manifest_is_refused_and_recorded(stand_ins: StandIns) -> None:
    rendered = stand_ins.render("staging")
    invalid = rendered.replace(
        "  revisionHistoryLimit: 5\n", "  revisionHistoryLimit: 5\n  bogusField: 1\n"
    )
    assert invalid != rendered
    applied = stand_ins.kubectl("apply", "-f", "-", stdin=invalid)
    assert applied.returncode == 1
    assert "'bogusField' was unexpected" in applied.stderr
    assert "deployment.apps/flight-delay" not in applied.stdout
    assert "service/flight-delay created" in applied.stdout  # the valid objects go through
    rollout = stand_ins.kubectl(
        "-n", STAGING, "rollout", "status", "deployment/flight-delay", "--timeout=5s"
    )
    assert rollout.returncode == 1
    assert 'deployments.apps "flight-delay" not found' in rollout.stderr

    unknown = (
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: contrail\n"
    )
    refused = stand_ins.kubectl("apply", "-f", "-", stdin=unknown)
    assert refused.returncode == 1
    assert 'no matches for kind "Widget" in version "example.com/v1"' in refused.stderr
    elsewhere = rendered.replace(f"namespace: {STAGING}", "namespace: nowhere")
    refused = stand_ins.kubectl("apply", "-f", "-", stdin=elsewhere)
    assert refused.returncode == 1
    assert 'namespaces "nowhere" not found' in refused.stderr

    applies = [r for r in stand_ins.records() if r["argv"][:1] == ["apply"]]
    assert [r["exit"] for r in applies] == [1, 1, 1]
    first = applies[0]
    deployment = next(m for m in first["manifests"] if m["kind"] == "Deployment")
    assert deployment["spec"]["bogusField"] == 1
    assert stand_ins.played_pods() == []


def test_without_a_cluster_only_offline_calls_work(stand_ins: StandIns) -> None:
    del stand_ins.env["KUBECONFIG"]
    unreachable = stand_ins.kubectl("get", "pods")
    assert unreachable.returncode == 1
    assert "The connection to the server localhost:8080 was refused" in unreachable.stderr
    namespace = stand_ins.kubectl("create", "namespace", STAGING, "--dry-run=client", "-o", "yaml")
    assert namespace.returncode == 0
    assert f"name: {STAGING}" in namespace.stdout
    unknown = stand_ins.kubectl("exec", "pod/x", "--", "true")
    assert unknown.returncode == 1
    assert "not modelled" in unknown.stderr
    assert [(r["argv"][0], r["exit"]) for r in stand_ins.records()] == [
        ("get", 1),
        ("create", 0),
        ("exec", 1),
    ]


def test_kind_runs_only_what_was_loaded(
    stand_ins: StandIns, service_image: str, tmp_path: Path
) -> None:
    """deploy.yml's kind path: a fresh cluster, `kind load image-archive`, the staging overlay
    with the loaded tag. An image on this machine but not loaded is not on the node."""
    del stand_ins.env["KUBECONFIG"]  # kind writes its own (the stand-in's ~/.kube/config)
    created = stand_ins.run("kind", "create", "cluster", "--name", "contrail", "--wait", "60s")
    assert created.returncode == 0, created.stderr
    namespace = stand_ins.kubectl("create", "namespace", STAGING, "--dry-run=client", "-o", "yaml")
    assert (
        stand_ins.kubectl("apply", "-f", "-", stdin=namespace.stdout).stdout
        == f"namespace/{STAGING} created\n"
    )

    not_loaded = stand_ins.kubectl(
        "apply", "-f", "-", stdin=stand_ins.render("staging", service_image)
    )
    assert not_loaded.returncode == 0, not_loaded.stderr
    failed = stand_ins.kubectl(
        "-n", STAGING, "rollout", "status", "deployment/flight-delay", "--timeout=30s"
    )
    assert failed.returncode == 1
    assert f"ErrImagePull: {service_image}" in failed.stderr

    local = "localhost/contrail/flight-delay:kind-standin-test"
    archive = tmp_path / "image.tar"
    subprocess.run(["podman", "tag", service_image, local], check=True)
    try:
        subprocess.run(["podman", "save", "--quiet", "-o", str(archive), local], check=True)
        loaded = stand_ins.run("kind", "load", "image-archive", str(archive), "--name", "contrail")
    finally:
        subprocess.run(["podman", "untag", local, local], check=True)  # this name only
    assert loaded.returncode == 0, loaded.stderr
    applied = stand_ins.kubectl("apply", "-f", "-", stdin=stand_ins.render("staging", local))
    assert applied.returncode == 0, applied.stderr
    rollout = stand_ins.kubectl(
        "-n", STAGING, "rollout", "status", "deployment/flight-delay", "--timeout=180s"
    )
    assert rollout.returncode == 0, rollout.stderr
    (pod,) = stand_ins.played_pods()
    assert pod["pulled"] == []  # the node's own copy: the tag was removed from this machine

    assert stand_ins.run("kind", "delete", "cluster", "--name", "contrail").returncode == 0
    assert not podman_pod_exists(pod)
    assert stand_ins.kubectl("get", "pods").returncode == 1  # its context went with it


def test_a_digest_pinned_image_is_pulled_from_the_registry(
    stand_ins: StandIns,
    service_image: str,
    oci_registry: OciRegistry,  # noqa: F811
    tmp_path: Path,
) -> None:
    """`make deploy`'s reference, `<repo>@sha256:...`, as the registry stored it, pulled by the
    node. The pushed image is the service image with a label of this test's own: podman finds
    a `repo@digest` locally whenever any local image has that manifest digest, and the service
    image's own push gives the same digest every time."""
    stand_ins.env["CONTAINERS_REGISTRIES_CONF"] = str(oci_registry.registries_conf)
    unique = f"localhost/contrail-standin-test/flight-delay:{uuid.uuid4().hex[:12]}"
    (tmp_path / "Containerfile").write_text(
        f"FROM {service_image}\nLABEL io.contrail.standin-test={unique}\n"
    )
    subprocess.run(
        ["podman", "build", "--pull=never", "--quiet", "-t", unique, str(tmp_path)],
        check=True,
        capture_output=True,
    )
    repository = f"{oci_registry.host}/octo/flights/flight-delay"
    digest_file = tmp_path / "digest"
    try:
        subprocess.run(
            ["podman", "push", "--quiet", "--digestfile", str(digest_file), unique, f"{repository}:standin"],
            check=True,
            env=stand_ins.env,
        )  # fmt: skip
    finally:
        subprocess.run(["podman", "rmi", unique], capture_output=True)  # its only name: gone
    digest = oci_registry.digest("octo/flights/flight-delay", "standin")
    assert digest_file.read_text().strip() == digest
    reference = f"{repository}@{digest}"

    rendered = stand_ins.render("staging", repository=repository, digest=digest)
    assert f"image: {reference}\n" in rendered
    applied = stand_ins.kubectl("apply", "-f", "-", stdin=rendered)
    assert applied.returncode == 0, applied.stderr
    try:
        rollout = stand_ins.kubectl(
            "-n", STAGING, "rollout", "status", "deployment/flight-delay", "--timeout=180s"
        )
        assert rollout.returncode == 0, rollout.stderr
        (pod,) = stand_ins.played_pods()
        assert pod["pulled"] == [reference]
        assert "smoke passed" in smoke_through_port_forward(
            stand_ins, STAGING, "deployment/flight-delay"
        )
    finally:
        stand_ins.kubectl("-n", STAGING, "delete", "deployment/flight-delay")
        subprocess.run(["podman", "rmi", reference], capture_output=True)
