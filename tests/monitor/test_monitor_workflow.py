"""The scheduled monitor workflow's shape: triggers, no races, least privilege per job, and
every step a `make` target or `contrail` command that exists. (Pins, `permissions: {}` and
expression-free `run:` lines are checked for every workflow in tests/report/test_workflows.py.)"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parents[2]
WORKFLOW = PROJECT / ".github" / "workflows" / "monitor.yml"
CREDENTIAL_HELPER = "credential.https://github.com.helper"


def workflow() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    loaded["on"] = loaded.pop(True)  # YAML 1.1 reads `on` as True
    return loaded


def commands(job: dict[str, Any]) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_it_runs_weekly_and_on_demand_and_two_runs_never_race() -> None:
    loaded = workflow()
    (schedule,) = loaded["on"]["schedule"]
    _minute, _hour, day, month, weekday = schedule["cron"].split()
    assert (day, month) == ("*", "*") and weekday.isdigit()  # once a week
    assert "workflow_dispatch" in loaded["on"]
    assert loaded["concurrency"] == {"group": "monitor", "cancel-in-progress": False}


def test_write_permissions_only_where_something_is_written() -> None:
    jobs = workflow()["jobs"]
    assert jobs["monitor"]["permissions"] == {"contents": "read"}
    assert jobs["history"]["permissions"] == {"contents": "write"}
    assert jobs["retrain"]["permissions"] == {
        "contents": "write",
        "pull-requests": "write",
        "actions": "write",
    }
    # The job that runs the pipeline on production data holds no write token.
    assert "make monitor" in commands(jobs["monitor"])
    assert "make monitor" not in commands(jobs["history"]) + commands(jobs["retrain"])


def test_tokens_reach_git_only_in_the_steps_that_push_or_read_a_branch() -> None:
    for job_id, job in workflow()["jobs"].items():
        assert CREDENTIAL_HELPER not in str(job.get("env", {})), job_id
        for step in job["steps"]:
            env = step.get("env", {})
            if env.get("GIT_CONFIG_KEY_0") == CREDENTIAL_HELPER:
                assert step["run"].startswith(("contrail history", "contrail retrain publish"))
            elif "run" in step:
                assert "GITHUB_TOKEN" not in env, (job_id, step["run"])
    publish = next(
        s for s in workflow()["jobs"]["retrain"]["steps"] if "publish" in s.get("run", "")
    )
    # REPO_TOKEN, when set, replaces GITHUB_TOKEN and makes the dispatch unnecessary.
    assert publish["env"]["GITHUB_TOKEN"] == "${{ secrets.REPO_TOKEN || github.token }}"
    assert publish["env"]["CONTRAIL_DISPATCH_REPORT"] == "${{ secrets.REPO_TOKEN == '' }}"


def test_refreshing_imports_succeeds_when_there_is_no_production_folder(tmp_path) -> None:
    # A fresh fork has no data/production/: `make monitor`'s first step must not fail there.
    (tmp_path / "Makefile").write_text((PROJECT / "Makefile").read_text())
    done = subprocess.run(
        ["make", "--no-print-directory", "--old-file=setup", "update-imports"],
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("update-imports: no DVC imports")
