"""The release, deploy and rollback workflows' GitHub-side facts, which act does not model
(tests/workflows runs them): triggers and paths filters, queuing instead of cancelling, each
job's permissions (each explained), the stage's environment, thin steps, the token only where a
tag is pushed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
WORKFLOWS = PROJECT / ".github" / "workflows"
MINE = ("release.yml", "deploy.yml", "rollback.yml", "deploy-stage-tag.yml")
DEPLOY_CALL = "./.github/workflows/deploy.yml"
# How a step that pushes a tag gives git the token: a credential helper for github.com in git's
# GIT_CONFIG_* environment, reading GITHUB_TOKEN. Nothing is written to .git/config.
PUSH_ENV = {
    "GITHUB_TOKEN": "${{ github.token }}",
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "credential.https://github.com.helper",
    "GIT_CONFIG_VALUE_0": (
        '!f() { test "$1" = get && echo username=x-access-token && '
        'echo "password=$GITHUB_TOKEN"; }; f'
    ),
}


def load(name: str) -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads `on` as True
    return workflow


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = job.get("steps", [])
    return found


def make_targets() -> set[str]:
    text = (PROJECT / "Makefile").read_text()
    return set(re.findall(r"^([a-zA-Z][a-zA-Z0-9_-]*):", text, flags=re.M))


def test_release_runs_on_merges_that_change_what_ships_and_never_races() -> None:
    workflow = load("release.yml")

    assert set(workflow["on"]) == {"push", "workflow_dispatch"}
    push = workflow["on"]["push"]
    assert push["branches"] == ["main"]
    assert set(push["paths"]) == {
        "dvc.lock",
        "src/**",
        "bentofile.yaml",
        "pyproject.toml",
        "uv.lock",
        "deploy/**",
    }
    # Two merges queue: a running release is never cancelled by the next one.
    assert workflow["concurrency"] == {"group": "release", "cancel-in-progress": False}


def test_deploy_is_callable_and_dispatchable_and_runs_in_the_stage_environment() -> None:
    workflow = load("deploy.yml")
    on = workflow["on"]

    assert set(on) == {"workflow_call", "workflow_dispatch"}
    for trigger in on.values():
        assert trigger["inputs"]["stage"]["required"] is True
        assert trigger["inputs"]["version"]["required"] is True
        assert trigger["inputs"]["soak-seconds"]["default"] == 300
    assert on["workflow_dispatch"]["inputs"]["stage"]["options"] == ["staging", "production"]

    deploy = workflow["jobs"]["deploy"]
    assert deploy["environment"] == "${{ inputs.stage }}"
    assert deploy["concurrency"] == {
        "group": "deploy-${{ inputs.stage }}",
        "cancel-in-progress": False,
    }
    assert "concurrency" not in workflow  # per stage, not one queue for both


EXPECTED_PERMISSIONS = {
    ("release.yml", "build"): {"contents": "read", "packages": "write"},
    ("release.yml", "register"): {"contents": "write"},
    ("release.yml", "staging"): {"contents": "write", "packages": "read"},
    ("deploy.yml", "deploy"): {"contents": "read", "packages": "read"},
    ("deploy.yml", "record"): {"contents": "write"},
    ("rollback.yml", "target"): {"contents": "read"},
    ("rollback.yml", "deploy"): {"contents": "write", "packages": "read"},
    ("deploy-stage-tag.yml", "parse"): {"contents": "read"},
    ("deploy-stage-tag.yml", "deploy"): {"contents": "write", "packages": "read"},
}


def test_least_privilege_per_job_each_permission_explained() -> None:
    found = {}
    for name in MINE:
        workflow = load(name)
        assert workflow["permissions"] == {}
        for job_id, job in workflow["jobs"].items():
            found[(name, job_id)] = job["permissions"]
            # Only jobs that push a tag (or call deploy.yml, which does) may write contents.
            if job["permissions"].get("contents") == "write" and "uses" not in job:
                assert any("--push" in s.get("run", "") for s in steps(job)), (name, job_id)
        # Every permission line says why (a comment on the line).
        text = (WORKFLOWS / name).read_text()
        for line in re.findall(r"^ {6}(?:contents|packages|actions|id-token).*$", text, re.M):
            assert " # " in line, (name, line)
    assert found == EXPECTED_PERMISSIONS


@pytest.mark.parametrize("name", MINE)
def test_each_step_is_one_make_target_or_contrail_command_and_only_pushers_see_the_token(
    name: str,
) -> None:
    # Pins and `${{ }}` in commands are checked for every workflow in
    # tests/report/test_workflows.py (test_every_workflow_is_hardened).
    workflow = load(name)
    targets = make_targets()
    for job_id, job in workflow["jobs"].items():
        for s in steps(job):
            if "run" not in s:
                continue
            run = s["run"]
            # Thin: one make target or one contrail command.
            assert "\n" not in run.strip(), (job_id, run)
            assert run.startswith(("make ", "contrail ")), run
            if run.startswith("make "):
                assert run.split()[1] in targets, run
            # Only the steps that push a tag see the token, and only through the helper.
            if "--push" in run:
                assert {k: s["env"][k] for k in PUSH_ENV} == PUSH_ENV, (job_id, run)
            else:
                assert "github.token" not in str(s.get("env", {})), (job_id, run)
        for s in steps(job):
            if s.get("uses", "").startswith("actions/checkout@"):
                assert s["with"]["persist-credentials"] is False
                # Jobs that read the registry get every tag.
                if any("contrail release" in t.get("run", "") for t in steps(job)):
                    assert s["with"]["fetch-depth"] == 0
