"""release.yml (build, smoke, push, register, staging through deploy.yml), then deploy.yml
to production (canary) and rollback.yml, executed under act with the loopback registry and
the cluster stand-in (tests/workflows/stand_ins)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support.act import Act, Run
from support.oci_registry import OciRegistry
from support.workflow_repo import BOT, GIT_ENV, OWNER_REPO, git, merge_change, note, push_event

IMAGE = "octo/flights/flight-delay"


def tag_message(origin: Path, tag: str) -> str:
    return git(origin, "tag", "-l", "--format=%(contents)", tag)


def kubectl_calls(log: Path) -> list[dict[str, Any]]:
    """The cluster stand-in's record: one call of kubectl, kind or a stand-in action a line."""
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def applied(log: Path, since: int = 0) -> list[dict[str, Any]]:
    return [
        c
        for c in kubectl_calls(log)[since:]
        if c["tool"] == "kubectl" and "apply" in c["argv"] and c["exit"] == 0
    ]


def deployments(calls: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    return [
        m
        for c in calls
        for m in c["manifests"]
        if m.get("kind") == "Deployment" and m["metadata"].get("namespace") == namespace
    ]


@pytest.fixture(scope="module")
def release(act: Act, project: Path, main_cache: Run) -> Run:
    git(project, "checkout", "--quiet", "main")
    return act(project, "release.yml", "push", push_event(project), fetch=True)


def test_a_push_to_main_releases_the_image_the_registry_serves_and_deploys_it_to_staging(
    release: Run, project: Path, origin: Path, registry: OciRegistry, session_dir: Path
) -> None:
    run = release
    build = run.job("build")
    assert build.result == "success", run.text()[-6000:]
    recorded = build.outputs["image"]
    repository, _, digest = recorded.partition("@")
    assert repository == f"{registry.host}/{IMAGE}"
    served = registry.digest(IMAGE, git(project, "rev-parse", "--short=12", "HEAD"))
    note(session_dir, f"recorded `{recorded}`; the registry serves `{served}`")
    assert digest == served

    assert run.job("register").result == "success", run.text()[-6000:]
    version = run.job("register").outputs["version"]
    tag = f"flight-delay@{version}"
    assert digest in tag_message(origin, tag)

    # Staging without a cluster: the kind stand-in got the image pulled by that digest, under
    # the local tag the applied Deployment names, and the smoke test passed against its pod.
    (deployment,) = deployments(applied(session_dir / "kubectl.jsonl"), "contrail-staging")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert f"kind-{digest.removeprefix('sha256:')[:20]}" in container["image"]
    deploy = run.job("deploy")
    assert deploy.steps["Smoke-test the stage through its Service"] == "success"
    assert run.job("record").result == "success"
    assert version in tag_message(origin, "flight-delay#staging#1")


PRODUCTION_KUBECONFIG = """apiVersion: v1
kind: Config
current-context: production
contexts:
  - name: production
    context: {cluster: production, user: deployer}
clusters:
  - name: production
    cluster: {server: "https://127.0.0.1:6443"}
users:
  - name: deployer
    user: {token: not-a-real-token}
"""


def dispatch(stage: str, version: str, soak: int = 10) -> dict[str, object]:
    return {
        "inputs": {"stage": stage, "version": version, "soak-seconds": soak},
        "ref": "refs/heads/main",
        "repository": {"full_name": "octo/flights", "default_branch": "main"},
    }


def stable(session_dir: Path) -> dict[str, object]:
    """The production Deployment as the stand-in cluster holds it."""
    state = session_dir / "cluster" / "clusters" / "production" / "objects" / "contrail"
    record: dict[str, object] = json.loads((state / "Deployment" / "flight-delay.json").read_text())
    return record


def kill_the_canary_during_its_soak(log: Path, stop: threading.Event) -> None:
    """Once the canary's port-forward serves (its smoke test is next), wait for the soak to
    start, then kill the canary pod: the soak's next scrape fails, as for a crashed canary."""
    while not stop.is_set():
        forwards = [
            c
            for c in kubectl_calls(log)
            if "port-forward" in c.get("argv", []) and "canary" in json.dumps(c["argv"])
        ]
        if forwards:
            time.sleep(12)
            pods = subprocess.run(
                ["podman", "pod", "ps", "--format", "{{.Name}}"], capture_output=True, text=True
            ).stdout.split()
            for pod in (p for p in pods if "canary" in p):
                subprocess.run(["podman", "pod", "kill", pod], capture_output=True)
            return
        time.sleep(1)


def test_a_failing_canary_soak_changes_nothing_and_a_passing_one_rolls_out_production(
    act: Act, project: Path, origin: Path, release: Run, session_dir: Path
) -> None:
    version = release.job("register").outputs["version"]
    secrets = {"KUBECONFIG": PRODUCTION_KUBECONFIG}
    log = session_dir / "kubectl.jsonl"
    tags = git(origin, "tag", "-l", "flight-delay#production#*")

    start = len(kubectl_calls(log))
    stop = threading.Event()
    killer = threading.Thread(target=kill_the_canary_during_its_soak, args=(log, stop))
    killer.start()
    try:
        failed = act(
            project,
            "deploy.yml",
            "workflow_dispatch",
            dispatch("production", version, soak=40),
            secrets=secrets,
            fetch=True,
        )
    finally:
        stop.set()
        killer.join()
    deploy = failed.job("deploy")
    assert deploy.steps["Production canary (one pod, smoke test, soak)"] == "failure", (
        failed.text()[-6000:]
    )
    assert "Deploy to the cluster (rollout undo on failure)" not in deploy.steps
    assert deploy.steps["Delete the production canary"] == "success"
    assert "record" not in failed.jobs or failed.jobs["record"].result != "success"
    names = [d["metadata"]["name"] for d in deployments(applied(log, start), "contrail")]
    assert names == ["flight-delay-canary"]  # stable was never applied
    assert git(origin, "tag", "-l", "flight-delay#production#*") == tags


def gto(repo: Path, *args: str) -> str:
    return subprocess.run(
        [str(Path(sys.executable).parent / "gto"), *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **BOT, **GIT_ENV},
    ).stdout


def test_a_persons_stage_tag_deploys_production_through_a_passing_canary(
    act: Act, project: Path, origin: Path, release: Run, session_dir: Path
) -> None:
    version = release.job("register").outputs["version"]
    image = release.job("build").outputs["image"]
    git(project, "checkout", "--quiet", "main")
    git(project, "fetch", "--quiet", "--tags", "origin")
    gto(project, "assign", "flight-delay", "--stage", "production", "--version", version)
    (tag,) = set(git(project, "tag", "-l", "flight-delay#production#*").split()) - set(
        git(origin, "tag", "-l", "flight-delay#production#*").split()
    )
    git(project, "push", "--quiet", "origin", tag)

    run = act(
        project,
        "deploy-stage-tag.yml",
        "push",
        {
            "ref": f"refs/tags/{tag}",
            "after": git(project, "rev-parse", "HEAD"),
            "repository": {"full_name": OWNER_REPO, "default_branch": "main"},
        },
        secrets={"KUBECONFIG": PRODUCTION_KUBECONFIG},
        fetch=True,
    )
    parsed = run.job("parse").outputs
    assert (parsed["stage"], parsed["version"]) == ("production", version)
    deploy = run.job("deploy")
    assert deploy.result == "success", run.text()[-6000:]
    assert deploy.steps["Production canary (one pod, smoke test, soak)"] == "success"
    assert image in json.dumps(stable(session_dir))
    # The tag already records the assignment: the record job adds none.
    assert git(origin, "tag", "-l", "flight-delay#production#*").split().count(tag) == 1
    assert len(git(origin, "tag", "-l", "flight-delay#production#*").split()) == 1


@pytest.mark.full_set
def test_rollback_redeploys_the_previous_versions_digest_and_records_it(
    act: Act,
    project: Path,
    origin: Path,
    release: Run,
    registry: OciRegistry,
    session_dir: Path,
) -> None:
    first = release.job("register").outputs["version"]
    first_image = release.job("build").outputs["image"]
    # A second version: a merged change that retrains the model.
    git(project, "checkout", "--quiet", "main")
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("min_samples_leaf: 40", "min_samples_leaf: 60"))
    merge_change(project, "Larger leaves")
    second = act(project, "release.yml", "push", push_event(project), fetch=True)
    assert second.job("register").outputs.get("version") not in (None, "", first), second.text()[
        -6000:
    ]
    assert second.job("record").result == "success", second.text()[-6000:]

    log = session_dir / "kubectl.jsonl"
    start = len(kubectl_calls(log))
    rollback = act(
        project,
        "rollback.yml",
        "workflow_dispatch",
        {
            "inputs": {"stage": "staging", "version": ""},
            "ref": "refs/heads/main",
            "repository": {"full_name": OWNER_REPO, "default_branch": "main"},
        },
        fetch=True,
    )
    assert rollback.job("target").outputs["version"] == first, rollback.text()[-6000:]
    assert rollback.job("record").result == "success", rollback.text()[-6000:]
    (deployment,) = deployments(applied(log, start), "contrail-staging")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert f"kind-{first_image.split(':')[-1][:20]}" in container["image"]
    newest = max(
        git(origin, "tag", "-l", "flight-delay#staging#*").split(),
        key=lambda t: int(t.rsplit("#", 1)[1]),
    )
    assert first in git(origin, "tag", "-l", "--format=%(contents)", newest) or first in newest
