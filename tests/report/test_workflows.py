"""The PR loop's workflows as data, and the loop's local stand-ins for what GitHub does.

The workflows run for real in tests/workflows (`make test-workflows`, under act). What act
cannot show is checked here on the YAML: GitHub's side of the shape that makes the promotion
gate trustworthy (which events start what, what can be skipped or cancelled, which job
carries the required check's name) and the hardening of every workflow; and `contrail gate
--record/--verdict` and the restored-DVC-cache path run in throwaway repositories.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.pr_repos import (
    METRICS,
    PROJECT,
    ci_checkout,
    commit,
    init_repo,
    invoke,
    metric_cells,
    quiet_environment,
    run,
    scaffold,
    set_params,
)

from contrail.gate.events import GATE_JOB, GATE_WORKFLOW
from contrail.report.pr_comment import metric_label

WORKFLOWS = PROJECT / ".github" / "workflows"
REQUIRED_CHECK = GATE_JOB
PINS = PROJECT.parent / "shared" / "pins" / "github-actions.txt"
CACHE_SHA = "27d5ce7f107fe9357f9df03efb73ab90386fccae"
PUSH_TYPES = {"opened", "synchronize", "reopened"}


def load(name: str) -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def all_workflows() -> dict[str, dict[str, Any]]:
    return {path.name: load(path.name) for path in sorted(WORKFLOWS.glob("*.yml"))}


def override_label() -> str:
    label: str = yaml.safe_load((PROJECT / "params.yaml").read_text())["gate"]["override_label"]
    return label


def pr_types(workflow: dict[str, Any]) -> set[str] | None:
    """The `pull_request` activity types that start the workflow (None: not at all)."""
    on = workflow["on"]
    if "pull_request" not in on:
        return None
    config = on["pull_request"] or {}
    return set(config.get("types", PUSH_TYPES))


def test_the_required_check_is_one_job_that_is_never_skipped_nor_filtered_away():
    named = [
        (file, job_id, job)
        for file, workflow in all_workflows().items()
        for job_id, job in workflow["jobs"].items()
        if job.get("name", job_id) == REQUIRED_CHECK
    ]

    assert [(file, job_id) for file, job_id, _ in named] == [(GATE_WORKFLOW, "gate")]
    job = named[0][2]
    # A skipped job reports success: the gate runs even when training failed or was cancelled.
    assert job["if"].replace(" ", "") == "${{always()}}"
    assert "concurrency" not in job  # nothing can cancel or replace it from a queue
    workflow = load(GATE_WORKFLOW)
    # Started by pushes to the PR (and dispatch) only, never by a label change, and with no
    # path or branch filter: a required check whose workflow did not start stays "expected".
    assert pr_types(workflow) == PUSH_TYPES
    assert set(workflow["on"]) == {"pull_request", "workflow_dispatch"}
    assert not set(workflow["on"]["pull_request"]) - {"types"}
    assert "concurrency" not in workflow
    # Its verdict comes from `contrail gate` itself (exit 1 = blocked, 2 = error), not make.
    gate_steps = [s for s in job["steps"] if s.get("id") == "gate"]
    assert gate_steps[0]["run"].startswith("contrail gate --verdict ")
    assert "if" not in gate_steps[0]


def test_label_events_start_only_the_override_job_which_cannot_cancel_training():
    label_workflows = {
        file: workflow
        for file, workflow in all_workflows().items()
        if (pr_types(workflow) or set()) & {"labeled", "unlabeled"}
    }

    assert list(label_workflows) == ["pr-gate-label.yml"]
    workflow = label_workflows["pr-gate-label.yml"]
    assert pr_types(workflow) == {"labeled", "unlabeled"}
    assert "concurrency" not in workflow  # a workflow-level group would let any label cancel
    (job,) = workflow["jobs"].values()
    assert job["if"] == f"github.event.label.name == '{override_label()}'"
    assert job["name"] != REQUIRED_CHECK
    assert job["steps"][-1]["run"] == "contrail gate --on-label"
    assert set(job["permissions"]) == {"contents", "actions", "pull-requests"}
    assert job["permissions"]["actions"] == "write"
    # Its group is its own and queues: it never shares a cancel-in-progress group with training.
    train = load(GATE_WORKFLOW)["jobs"]["train"]["concurrency"]
    assert train["cancel-in-progress"] is True
    assert job["concurrency"]["cancel-in-progress"] is False
    prefix = re.compile(r"^([a-z-]+)-\$\{\{")
    groups = [prefix.match(c["group"]).group(1) for c in (train, job["concurrency"])]
    assert groups[0] != groups[1] and not groups[0].startswith(groups[1])


def test_only_training_jobs_share_a_cancel_in_progress_group_and_it_is_keyed_by_the_pr():
    train = load(GATE_WORKFLOW)["jobs"]["train"]

    assert train["concurrency"]["group"].startswith(
        "pr-report-train-${{ github.event.pull_request.number"
    )
    for file, workflow in all_workflows().items():
        groups = [workflow.get("concurrency")] + [
            job.get("concurrency") for job in workflow["jobs"].values()
        ]
        for group in filter(None, groups):
            if group["group"].startswith("pr-report-train-"):
                assert group is train["concurrency"] or file == GATE_WORKFLOW


def steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    # A job that calls a reusable workflow has no steps of its own.
    return [(job_id, s) for job_id, job in workflow["jobs"].items() for s in job.get("steps", [])]


def local_action_steps() -> list[tuple[str, dict[str, Any]]]:
    """The steps of the repository's own composite actions (.github/actions/*/action.yml)."""
    return [
        (path.parent.name, step)
        for path in sorted((PROJECT / ".github" / "actions").glob("*/action.yml"))
        for step in yaml.safe_load(path.read_text())["runs"]["steps"]
    ]


def test_every_workflow_is_hardened():
    # "owner/action  <40-hex sha>  # vX.Y.Z ..." lines of the shared pin list.
    pin_lines = PINS.read_text().splitlines() if PINS.exists() else []
    pins = {
        m[1]: m[2] for m in map(re.compile(r"(\S+)\s+([0-9a-f]{40})\s+#").match, pin_lines) if m
    }
    for file, workflow in all_workflows().items():
        assert workflow["permissions"] == {}, file
        for job_id, job in workflow["jobs"].items():
            assert "permissions" in job, (file, job_id)
        for job_id, step in steps(workflow) + local_action_steps():
            if step.get("uses", "").startswith("./"):
                assert (PROJECT / step["uses"] / "action.yml").exists(), (file, step["uses"])
            elif "uses" in step:
                action, _, ref = step["uses"].partition("@")
                assert re.fullmatch(r"[0-9a-f]{40}", ref), (file, step["uses"])
                if action.startswith("actions/cache"):
                    assert ref == CACHE_SHA, (file, action)
                elif pins:
                    assert pins.get(action) == ref, (file, action)
            else:
                command = step["run"]
                # Expressions reach commands through env: only.
                assert "${{" not in command, (file, job_id, command)
                first = command.split("#")[0].strip() or command.splitlines()[1].strip()
                assert first.split()[0] in {"make", "contrail", "npm"}, (file, command)
            if "checkout" in step.get("uses", ""):
                assert step["with"]["persist-credentials"] is False


def test_secrets_reach_only_the_steps_that_need_them():
    for file, workflow in all_workflows().items():
        for job_id, job in workflow["jobs"].items():
            assert "secrets." not in json.dumps(job.get("env", {})), (file, job_id)
        for job_id, step in steps(workflow):
            secrets = re.findall(r"secrets\.(\w+)", json.dumps(step.get("env", {})))
            if step.get("run") in ("make repro", "make push", "make monitor", "make retrain"):
                assert set(secrets) <= {
                    "DVC_REMOTE_URL",
                    "AWS_ACCESS_KEY_ID",
                    "AWS_SECRET_ACCESS_KEY",
                }
            elif step.get("run") == "make ci-cluster":
                assert secrets == ["KUBECONFIG"]
            elif "cml comment update" in step.get("run", "") or step.get("run", "").startswith(
                "contrail retrain publish"
            ):
                assert set(secrets) == {"REPO_TOKEN"}
            else:
                assert secrets == [], (file, job_id, step)


# --- `contrail gate --record` then `--verdict`, as the two jobs run them -------------------


@pytest.fixture
def blocked_repo(origin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """CI's checkout of the real pipeline's branch `worse`, whose model is clearly worse than
    `main`'s on the same rows (a blocked verdict), `main`'s DVC cache restored."""
    quiet_environment(monkeypatch)
    root = ci_checkout(origin[0], tmp_path / "checkout", "worse")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def label_event_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with the project's params.yaml: all a label event reads."""
    quiet_environment(monkeypatch)
    shutil.copy(PROJECT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.e2e
def test_the_gate_job_judges_the_recorded_verdict_with_the_current_labels(blocked_repo):
    verdict = Path("reports/gate.json")
    Path("reports/pr_report.md").write_text("## ❌ Model report: blocked\n")

    recorded = invoke("gate", "--base", "main", "--record", str(verdict), labels=override_label())
    blocked = invoke("gate", "--verdict", str(verdict), "--comment", "reports/c.md")
    accepted = invoke("gate", "--verdict", str(verdict), labels=override_label())

    # Recording never fails on a verdict, and ignores the labels it was given.
    assert recorded.exit_code == 0, recorded.output
    payload = json.loads(verdict.read_text())
    assert payload["promote"] is False
    assert payload["sha"] == run(blocked_repo, "git", "rev-parse", "HEAD")
    assert (blocked.exit_code, accepted.exit_code) == (1, 0)
    assert "contrail gate: blocked: ROC AUC fell by " in blocked.stderr
    assert "promote (override): label `allow-regression` accepts ROC AUC fell" in accepted.output
    text = Path("reports/c.md").read_text()
    assert text.startswith("> ❌ **Promotion gate:** blocked: ROC AUC fell by ")
    assert text.endswith("## ❌ Model report: blocked\n")


@pytest.mark.e2e
def test_the_gate_job_exits_2_without_a_verdict_or_for_another_commit(blocked_repo):
    verdict = Path("reports/gate.json")
    failures = Path("reports/failed/validation.md")  # what a training run stopped on bad data left
    failures.parent.mkdir(parents=True)
    failures.write_text("# Data validation failed\n\n- window temp: outside -40..130\n")

    missing = invoke(
        "gate", "--verdict", str(verdict), "--comment", "reports/c.md", labels=override_label()
    )
    invoke("gate", "--base", "main", "--record", str(verdict))
    commit(blocked_repo, "pr: a newer push")
    stale = invoke("gate", "--verdict", str(verdict), labels=override_label())
    broken = invoke("gate", "--base", "no-such-branch", "--record", str(verdict))

    assert missing.exit_code == 2
    assert "no recorded verdict" in missing.stderr
    assert Path("reports/c.md").read_text().endswith(failures.read_text())
    assert stale.exit_code == 2
    assert "the recorded verdict is for" in stale.stderr
    assert broken.exit_code == 2


@pytest.mark.e2e
def test_a_dispatch_without_a_pull_request_passes_with_a_notice(
    blocked_repo, tmp_path, monkeypatch
):
    """`workflow_dispatch` on a bare branch: no PR to gate or comment on, the run ends green
    (even for a blocked model, which it reports)."""
    from contrail.transports.github import GitHub

    verdict = Path("reports/gate.json")
    invoke("gate", "--base", "main", "--record", str(verdict))
    output, summary = tmp_path / "output", tmp_path / "summary"
    for name, value in {
        "GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "o/r", "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary),
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(GitHub, "current_pull", lambda github, number, sha: None)

    result = invoke("gate", "--verdict", str(verdict))

    assert result.exit_code == 0, result.output
    assert "::notice::No open pull request has" in result.output
    assert output.read_text() == "pr=\n"
    assert "::warning::Promotion gate: no pull request to gate; the model would be blocked" in (
        result.output
    )
    assert "**Promotion gate:** no pull request to gate" in summary.read_text()


def test_a_label_event_for_another_label_does_nothing(label_event_cwd, monkeypatch):
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request")
    monkeypatch.setenv("CONTRAIL_EVENT_ACTION", "labeled")
    monkeypatch.setenv("CONTRAIL_EVENT_LABEL", "documentation")

    result = invoke("gate", "--on-label")

    assert result.exit_code == 0
    assert "not `allow-regression`, the gate stands" in result.output


# --- The zero-setup cache: main's `.dvc/cache` restored into a PR's fresh checkout ---------


@pytest.fixture(scope="module")
def main_with_outputs(tmp_path_factory, raw_sample) -> Path:
    """`main` reproduced (what dvc-cache.yml saves) and a pushed branch `pr` that changes one
    hyperparameter, not reproduced (what a contributor pushes)."""
    root = tmp_path_factory.mktemp("cache") / "origin"
    root.mkdir()
    with pytest.MonkeyPatch.context() as monkeypatch:
        init_repo(root, monkeypatch)
        scaffold(root, raw_sample, start="2013-01", end="2013-02")
        commit(root, "pipeline")
        run(root, "dvc", "repro")
        commit(root, "main: first model")
        run(root, "git", "checkout", "-q", "-b", "pr")
        set_params(root, train={"learning_rate": 0.05})
        commit(root, "pr: lower learning rate")
        run(root, "git", "checkout", "-q", "main")
    return root


def ci_run(origin: Path, workdir: Path, *, restored_cache: bool) -> str:
    """What the training job does before the report: a fresh clone of the PR, main's cache
    restored or not, `dvc repro`; returns `dvc repro`'s log."""
    run(origin.parent, "git", "clone", "-q", str(origin), str(workdir))
    run(workdir, "git", "checkout", "-q", "pr")
    if restored_cache:
        shutil.copytree(origin / ".dvc" / "cache", workdir / ".dvc" / "cache")
        # `make restore-outputs`: what the restored cache has is checked out.
        run(workdir, "dvc", "checkout")
    return run(workdir, "dvc", "repro")


@pytest.mark.e2e
@pytest.mark.parametrize("restored_cache", [True, False], ids=["restored-cache", "no-cache"])
def test_the_report_is_paired_with_or_without_a_restored_cache_which_skips_unchanged_stages(
    main_with_outputs, tmp_path, monkeypatch, restored_cache
):
    quiet_environment(monkeypatch)
    workdir = tmp_path / "checkout"
    log = ci_run(main_with_outputs, workdir, restored_cache=restored_cache)
    monkeypatch.chdir(workdir)

    report = invoke("report", "--base", "main")
    recorded = invoke("gate", "--base", "main", "--record", "reports/gate.json")

    assert report.exit_code == 0, report.output
    assert recorded.exit_code == 0, recorded.output
    comment = Path("reports/pr_report.md").read_text()
    rows = json.loads((workdir / METRICS).read_text())["test"]["rows"]
    row = " | ".join(metric_cells(comment, metric_label("model.roc_auc")))
    verdict = json.loads(Path("reports/gate.json").read_text())
    judged = " ".join(verdict["failures"] + verdict["checks"])
    # Both models on the same test rows either way: main's model came from the restored
    # cache, or without it was rebuilt from main's commit.
    assert f"(paired, {rows:,} rows)" in row, row
    assert "on the same test rows" in judged
    source = "from the DVC cache or remote" if restored_cache else "rebuilt from "
    assert f"`main`'s model: {source}" in comment
    if restored_cache:
        # The stages the hyperparameter does not reach were checked out, not rerun.
        for stage in ("ingest", "features"):
            assert f"Stage '{stage}' didn't change, skipping" in log, log
        assert "Running stage 'train'" in log
    else:
        assert "Running stage 'ingest'" in log and "Running stage 'features'" in log


def test_the_override_label_re_runs_the_gate_job_or_asks_a_maintainer_on_a_fork(
    label_event_cwd, monkeypatch
):
    from contrail.transports.github import GitHub, PullRequest

    pulls = []
    reruns = []
    monkeypatch.setattr(
        GitHub,
        "current_pull",
        lambda github, number, sha: pulls.append(number) or PullRequest(int(number), "c" * 40),
    )
    monkeypatch.setattr(
        GitHub,
        "rerun_job",
        lambda github, sha, **kw: reruns.append((sha, kw["workflow"], kw["job_name"])) or "ok",
    )
    for name, value in {
        "GITHUB_EVENT_NAME": "pull_request", "CONTRAIL_EVENT_ACTION": "unlabeled",
        "CONTRAIL_EVENT_LABEL": override_label(), "GITHUB_TOKEN": "t",
        "GITHUB_REPOSITORY": "o/r", "CONTRAIL_PR_NUMBER": "5",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)

    same_repo = invoke("gate", "--on-label")
    monkeypatch.setenv("CONTRAIL_PR_HEAD_REPO", "someone/fork")
    fork = invoke("gate", "--on-label")

    assert same_repo.exit_code == 0, same_repo.output
    assert reruns == [("c" * 40, GATE_WORKFLOW, REQUIRED_CHECK)]
    assert "::notice::ok" in same_repo.output
    assert fork.exit_code == 0
    assert "::warning::Pull request from a fork: re-run the 'Promotion gate' job" in fork.output
    assert pulls == ["5"]  # the fork asked nothing of the API
