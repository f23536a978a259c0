"""release.yml (build, smoke, push, register, staging through deploy.yml), then deploy.yml
to production (canary) and rollback.yml, executed under act with the loopback registry and
the cluster stand-in (tests/workflows/stand_ins)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import git, push_event
from support.act import Act, Run
from support.oci_registry import OciRegistry

IMAGE = "octo/flights/flight-delay"


def tag_message(origin: Path, tag: str) -> str:
    return git(origin, "tag", "-l", "--format=%(contents)", tag)


def kubectl_calls(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


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
    assert digest == served

    assert run.job("register").result == "success", run.text()[-6000:]
    version = run.job("register").outputs["version"]
    tag = f"flight-delay@{version}"
    assert digest in tag_message(origin, tag)

    calls = kubectl_calls(session_dir / "kubectl.jsonl")
    applied = [c for c in calls if c["argv"][:1] == ["apply"] or "apply" in c["argv"]]
    assert applied, calls
    assert any(recorded in json.dumps(c) or digest in json.dumps(c) for c in applied)
    assert git(origin, "tag", "-l", "flight-delay#staging#*")


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
    return {"inputs": {"stage": stage, "version": version, "soak-seconds": soak},
            "ref": "refs/heads/main",
            "repository": {"full_name": "octo/flights", "default_branch": "main"}}


def stable(session_dir: Path) -> dict[str, object]:
    """The production Deployment as the stand-in cluster holds it."""
    state = session_dir / "cluster" / "clusters" / "production" / "objects" / "contrail"
    record: dict[str, object] = json.loads(
        (state / "Deployment" / "flight-delay.json").read_text()
    )
    return record


def kill_the_canary_during_its_soak(log: Path, stop: threading.Event) -> None:
    """Once the canary's port-forward serves (its smoke test is next), wait for the soak to
    start, then kill the canary pod: the soak's next scrape fails, as for a crashed canary."""
    while not stop.is_set():
        forwards = [c for c in kubectl_calls(log)
                    if "port-forward" in c["argv"] and "canary" in json.dumps(c["argv"])]
        if forwards:
            time.sleep(12)
            pods = subprocess.run(["podman", "pod", "ps", "--format", "{{.Name}}"],
                                  capture_output=True, text=True).stdout.split()
            for pod in (p for p in pods if "canary" in p):
                subprocess.run(["podman", "pod", "kill", pod], capture_output=True)
            return
        time.sleep(1)


def test_a_failing_canary_soak_changes_nothing_and_a_passing_one_rolls_out_production(
    act: Act, project: Path, origin: Path, release: Run, session_dir: Path
) -> None:
    version = release.job("register").outputs["version"]
    image = release.job("build").outputs["image"]
    secrets = {"KUBECONFIG": PRODUCTION_KUBECONFIG}
    log = session_dir / "kubectl.jsonl"
    tags = git(origin, "tag", "-l", "flight-delay#production#*")

    start = len(kubectl_calls(log))
    stop = threading.Event()
    killer = threading.Thread(target=kill_the_canary_during_its_soak, args=(log, stop))
    killer.start()
    try:
        failed = act(project, "deploy.yml", "workflow_dispatch",
                     dispatch("production", version, soak=40), secrets=secrets, fetch=True)
    finally:
        stop.set()
        killer.join()
    deploy = failed.job("deploy")
    assert deploy.steps["Production canary (one pod, smoke test, soak)"] == "failure", \
        failed.text()[-6000:]
    assert "Deploy to the cluster (rollout undo on failure)" not in deploy.steps
    assert deploy.steps["Delete the production canary"] == "success"
    assert "record" not in failed.jobs or failed.jobs["record"].result != "success"
    calls = kubectl_calls(log)[start:]
    applied = [c for c in calls if "apply" in c["argv"]]
    assert all("canary" in json.dumps(c["manifests"]) for c in applied), applied
    assert git(origin, "tag", "-l", "flight-delay#production#*") == tags

    passed = act(project, "deploy.yml", "workflow_dispatch",
                 dispatch("production", version, soak=10), secrets=secrets, fetch=True)
    assert passed.job("record").result == "success", passed.text()[-6000:]
    assert image in json.dumps(stable(session_dir))
    new_tags = set(git(origin, "tag", "-l", "flight-delay#production#*").split()) - set(tags.split())
    (tag,) = new_tags
    assert version in tag_message(origin, tag) or version in git(origin, "show", "-s", tag)
