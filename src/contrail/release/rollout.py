"""Putting a version on a stage's cluster: deploy, deploy to kind, smoke through the Service,
the production canary and its soak, the rollback's redeploy.

Each step takes its transports as parameters (the cluster, the container engine, the smoke
test, the /metrics scrape), so the order of calls and what happens on a failure are tested
with fakes; `contrail release ...` passes the real ones. Decisions stay pure elsewhere: the
soak verdict in `contrail.release.deploy`, the image's digest in `contrail.release.versions`.

A step that refuses the version (rollout failed and undone, smoke test failed, canary
unhealthy) raises `DeployFailed`; a tool that fails raises its transport's error.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import yaml

from contrail.release.deploy import DeployTarget, SoakPolicy, soak_verdict
from contrail.release.versions import ReleaseError, check_image, check_stage
from contrail.transports.cluster import ClusterError

DEPLOY = Path("deploy")
RENDER = DEPLOY / "render.sh"
# Names from deploy/base and deploy/canary.
STABLE = "deployment/flight-delay"
CANARY = "deployment/flight-delay-canary"
CANARY_PODS = "app.kubernetes.io/name=flight-delay,track=canary"
SERVICE = "service/flight-delay"
SERVICE_PORT = 3000
# The canary is rendered from deploy/canary, into production's namespace.
CANARY_STAGE = "canary"
CANARY_HOME = "production"
KIND_STAGE = "staging"
KIND_IMAGE = "localhost/contrail/flight-delay:kind-"
KIND_IMAGE_LENGTH = 60
STAGE_READY_TIMEOUT_S = 60.0
CANARY_READY_TIMEOUT = "10s"

Smoke = Callable[[str, str | None, float], None]
"""Smoke-test the service at a base URL (expected model version, seconds to get ready)."""
Scrape = Callable[[str], str]
"""The Prometheus text of the service's /metrics at a base URL."""


@dataclass(frozen=True)
class RolloutSettings:
    """How a rollout runs: SMOKE_PORT (local end of the port-forwards), ROLLOUT_TIMEOUT (a
    kubectl duration), SOAK_SECONDS and SOAK_INTERVAL (the canary's soak)."""

    smoke_port: int
    rollout_timeout: str
    soak_seconds: int
    soak_interval: int


class DeployFailed(Exception):
    """The version was refused: its rollout failed (and was undone), its smoke test failed,
    or its canary was unhealthy (and was deleted)."""


class Cluster(Protocol):
    """What a rollout needs of the cluster (`contrail.transports.cluster`)."""

    def render(self, script: Path, stage: str, digest: str, repository: str) -> str: ...
    def apply(self, manifests: str) -> None: ...
    def create_namespace(self, namespace: str) -> None: ...
    def rollout_status(self, namespace: str, deployment: str, timeout: str) -> None: ...
    def rollout_undo(self, namespace: str, deployment: str) -> None: ...
    def running_pod(self, namespace: str, selector: str) -> str: ...
    def wait_ready(self, namespace: str, pod: str, timeout: str) -> None: ...
    def delete(self, namespace: str, resource: str) -> None: ...
    def describe_pods(self, namespace: str) -> str: ...
    def kind_load_archive(self, archive: Path, cluster: str) -> None: ...
    def port_forward(
        self, namespace: str, target: str, local_port: int, remote_port: int
    ) -> AbstractContextManager[None]: ...


class Containers(Protocol):
    """What getting an image onto kind needs of the engine (`contrail.transports.containers`)."""

    def pull(self, engine: str, image: str) -> None: ...
    def tag(self, engine: str, source: str, target: str) -> None: ...
    def save(self, engine: str, image: str, archive: Path) -> None: ...


def overlay_namespace(stage: str) -> str:
    """The namespace `stage`'s overlay deploys to, as its kustomization.yaml says."""
    path = DEPLOY / "overlays" / check_stage(stage) / "kustomization.yaml"
    try:
        kustomization = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ReleaseError(f"cannot read {path}: {exc}") from None
    namespace = kustomization.get("namespace") if isinstance(kustomization, dict) else None
    if not isinstance(namespace, str) or not namespace:
        raise ReleaseError(f"{path} names no namespace")
    return namespace


def checked_image(image: str) -> tuple[str, str]:
    """(repository, digest) of IMAGE, which must name the image by digest."""
    try:
        check_image(image)
    except ReleaseError:
        raise ReleaseError(
            f"IMAGE must name the image by digest, like ghcr.io/owner/repo/flight-delay"
            f"@sha256:<64 hex>; got {image!r}"
        ) from None
    repository, digest = image.rsplit("@", 1)
    return repository, digest


def kind_image(image: str) -> str:
    """The local tag kind's nodes know `image` by: fully qualified (podman's and docker's
    archives then name it as the pod spec does), from the digest, at most 60 characters."""
    return (KIND_IMAGE + image.rsplit("sha256:", 1)[-1])[:KIND_IMAGE_LENGTH]


def pointed_at(manifests: str, image: str, local: str) -> str:
    """The rendered manifests with each `image: <image>` line naming `local` instead."""
    return re.sub(rf"(image: ){re.escape(image)}$", rf"\g<1>{local}", manifests, flags=re.M)


def local_url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _render(cluster: Cluster, stage: str, image: str) -> str:
    repository, digest = checked_image(image)
    return cluster.render(RENDER, stage, digest, repository)


def deploy(cluster: Cluster, stage: str, image: str, timeout: str) -> None:
    """Apply `stage`'s overlay with `image` and wait for the rollout; a rollout that fails is
    undone, so the stage keeps serving what it served."""
    namespace = overlay_namespace(stage)
    cluster.apply(_render(cluster, stage, image))
    try:
        cluster.rollout_status(namespace, STABLE, timeout)
    except ClusterError as exc:
        print(f"the rollout of {image} to {stage} failed: undoing it", file=sys.stderr)
        with contextlib.suppress(ClusterError):  # its stderr is shown; the failure is told
            cluster.rollout_undo(namespace, STABLE)
        raise DeployFailed(f"the rollout of {image} to {stage} failed: {exc}") from None


def deploy_kind(
    cluster: Cluster,
    containers: Containers,
    engine: str,
    image: str,
    kind_cluster: str,
    timeout: str,
) -> None:
    """Staging on a local kind cluster, which has no registry credentials: the image is pulled
    here by digest (the engine checks the content), loaded onto the nodes under a local tag,
    and the staging overlay, as rendered for a real cluster, points at that tag."""
    namespace = overlay_namespace(KIND_STAGE)
    manifests = _render(cluster, KIND_STAGE, image)
    local = kind_image(image)
    # `kind load docker-image` always calls docker: an archive works with either engine.
    with tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / "image.tar"
        containers.pull(engine, image)
        containers.tag(engine, image, local)
        containers.save(engine, local, archive)
        cluster.kind_load_archive(archive, kind_cluster)
    cluster.create_namespace(namespace)
    cluster.apply(pointed_at(manifests, image, local))
    try:
        cluster.rollout_status(namespace, STABLE, timeout)
    except ClusterError as exc:
        with contextlib.suppress(ClusterError):
            print(cluster.describe_pods(namespace), file=sys.stderr)
        raise DeployFailed(
            f"the rollout of {image} to kind cluster {kind_cluster} failed: {exc}"
        ) from None


def smoke_stage(
    cluster: Cluster, smoke: Smoke, stage: str, port: int, expect_version: str | None
) -> None:
    """Smoke-test `stage`'s Service through a port-forward on 127.0.0.1:`port`."""
    with cluster.port_forward(overlay_namespace(stage), SERVICE, port, SERVICE_PORT):
        smoke(local_url(port), expect_version, STAGE_READY_TIMEOUT_S)


def canary(
    cluster: Cluster,
    smoke: Smoke,
    scrape: Scrape,
    image: str,
    expect_version: str | None,
    settings: RolloutSettings,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Production's canary of `image`: one pod beside stable, smoke-tested through a
    port-forward to the pod itself (the Service also reaches stable pods), then its /metrics
    judged every SOAK_INTERVAL for SOAK_SECONDS. Any failure deletes the canary; stable is
    never touched."""
    namespace = overlay_namespace(CANARY_HOME)
    checked_image(image)  # bad input is refused before there is a canary to delete
    try:
        cluster.apply(_render(cluster, CANARY_STAGE, image))
        cluster.rollout_status(namespace, CANARY, settings.rollout_timeout)
        pod = f"pod/{cluster.running_pod(namespace, CANARY_PODS)}"
        with cluster.port_forward(namespace, pod, settings.smoke_port, SERVICE_PORT):
            url = local_url(settings.smoke_port)
            smoke(url, expect_version, STAGE_READY_TIMEOUT_S)
            soak_canary(scrape, url, settings.soak_seconds, settings.soak_interval, sleep)
            cluster.wait_ready(namespace, pod, CANARY_READY_TIMEOUT)
    except BaseException:
        print("the canary failed: deleting it", file=sys.stderr)
        with contextlib.suppress(ClusterError):  # its stderr is shown; the first failure is told
            delete_canary(cluster)
        raise


def soak_canary(
    scrape: Scrape, url: str, seconds: int, interval: int, sleep: Callable[[float], None]
) -> None:
    """Scrape at the start and every `interval` s until `seconds` have passed, each time
    judging the requests served since the start (`contrail.release.deploy.soak_verdict`)."""
    before = scrape(url)
    for _ in range(0, seconds, interval):
        sleep(interval)
        verdict = soak_verdict(before, scrape(url), SoakPolicy())
        print(verdict.line(), flush=True)
        if not verdict.ok:
            raise DeployFailed(verdict.line())


def delete_canary(cluster: Cluster) -> None:
    """Delete production's canary, if any; stable is untouched."""
    cluster.delete(overlay_namespace(CANARY_HOME), CANARY)


def redeploy(
    cluster: Cluster,
    smoke: Smoke,
    scrape: Scrape,
    stage: str,
    target: DeployTarget,
    settings: RolloutSettings,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """A rollback's deploy of `target`, as deploy.yml deploys a version: production through a
    canary first (deleted once stable is deployed and smoke-tested, or has failed), then stable,
    then the smoke test through the Service."""
    version = target.model_version
    if stage == CANARY_HOME:
        canary(cluster, smoke, scrape, target.image, version, settings, sleep)
    try:
        deploy(cluster, stage, target.image, settings.rollout_timeout)
        smoke_stage(cluster, smoke, stage, settings.smoke_port, version)
    finally:
        if stage == CANARY_HOME:
            delete_canary(cluster)


def cluster_mode(has_kubeconfig: bool, stage: str | None) -> str:
    """Where deploy.yml deploys: the environment's cluster (its KUBECONFIG secret), else an
    ephemeral kind cluster for staging, else nowhere (production needs a real cluster)."""
    if has_kubeconfig:
        return "cluster"
    return "kind" if stage == KIND_STAGE else "none"


def write_kubeconfig(folder: Path, content: str) -> Path:
    """`content` in `folder`/kubeconfig, readable by this user only (it holds credentials)."""
    path = folder / "kubeconfig"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through os.open
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(f"{content}\n")
    return path


def no_cluster(stage: str | None, version: str | None) -> tuple[str, str]:
    """The workflow error line and the job summary for a stage with no cluster."""
    message = (
        f"{stage or 'this stage'} has no cluster: set the KUBECONFIG secret of its GitHub "
        "environment. Nothing was deployed and no stage tag was made."
    )
    error = f"::error title=No cluster for {stage or '?'}::{message}"
    summary = f"### Deploy of {version or '?'} to {stage or '?'} stopped\n\n{message}\n"
    return error, summary
