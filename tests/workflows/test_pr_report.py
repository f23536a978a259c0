"""pr-report.yml, pr-gate-label.yml and dvc-cache.yml, executed under act."""

from __future__ import annotations

from pathlib import Path

import yaml
from support.act import Act, Run
from support.fake_github import FakeGitHub
from support.workflow_repo import git, pull_request_event


def test_a_push_to_main_saves_the_dvc_cache(main_cache: Run) -> None:
    assert main_cache.job("save").steps["Save the DVC cache"] == "success"


def commit_change(repo: Path, branch: str, path: str, old: str, new: str, message: str) -> str:
    """Commit one edit on `branch` (created from main if new), push it, return the head."""
    if branch not in git(repo, "branch", "--list", branch):
        git(repo, "checkout", "--quiet", "-b", branch, "main")
    else:
        git(repo, "checkout", "--quiet", branch)
    file = repo / path
    text = file.read_text()
    assert old in text, (path, old)
    file.write_text(text.replace(old, new, 1))
    git(repo, "commit", "--quiet", "-am", message)
    git(repo, "push", "--quiet", "origin", branch)
    return git(repo, "rev-parse", "HEAD")


def test_a_pull_request_gets_one_comment_updated_in_place_and_a_regression_fails_the_gate(
    act: Act, project: Path, github: FakeGitHub, main_cache: Run
) -> None:
    head = commit_change(project, "docs", "README.md", "# contrail", "# contrail\n", "Docs")
    pull = github.add_pull("docs", head_sha=head, title="Docs")
    opened = act(
        project, "pr-report.yml", "pull_request", pull_request_event(github, pull.number, "opened")
    )
    assert opened.job("train").result == "success", opened.text()[-5000:]
    assert opened.job("gate").result == "success", opened.text()[-5000:]
    (comment,) = pull.thread
    assert "contrail model report" in comment.body
    assert "promote" in comment.body.lower()
    # The reviewer's downloads: the report and Evidently's HTML, rendered outside dvc repro.
    report = opened.artifact("pr-report")
    assert b"<title>Data drift (Evidently)" in report["drift.html"]
    assert "pr_report.md" in report

    # A new head that breaks the model: the gate fails and says why, in the same comment.
    pull.head_sha = commit_change(
        project, "docs", "params.yaml", "max_iter: 300", "max_iter: 3", "Fewer trees"
    )
    pushed = act(
        project,
        "pr-report.yml",
        "pull_request",
        pull_request_event(github, pull.number, "synchronize"),
    )
    gate = pushed.job("gate")
    assert gate.steps["Promotion gate"] == "failure", pushed.text()[-5000:]
    assert gate.steps["Post or update the PR comment"] == "success"
    (updated,) = pull.thread
    assert updated.id == comment.id
    assert "ROC AUC" in updated.body and "blocked" in updated.body.lower()

    # Data the contract refuses: training stops at ingest, the comment lists the problems.
    pull.head_sha = commit_change(
        project, "docs", "params.yaml", "min_labelled_rows: 1000", "min_labelled_rows: 900000",
        "Stricter labels",
    )  # fmt: skip
    refused = act(
        project,
        "pr-report.yml",
        "pull_request",
        pull_request_event(github, pull.number, "synchronize"),
    )
    assert refused.job("train").steps["Reproduce the pipeline"] == "failure"
    assert refused.job("gate").steps["Promotion gate"] == "failure", refused.text()[-5000:]
    (stopped,) = pull.thread
    assert stopped.id == comment.id
    assert "no recorded verdict" in stopped.body
    # The window's first month: main's, which the full set's month-later monitor moves on.
    first_month = yaml.safe_load((project / "params.yaml").read_text())["data"]["start"]
    assert f"fewer than 900,000 flights with an arrival (a label) in {first_month}" in stopped.body
    git(project, "checkout", "--quiet", "main")


def test_only_the_override_label_re_runs_the_gate_job(
    act: Act, project: Path, github: FakeGitHub
) -> None:
    head = commit_change(project, "labels", "README.md", "# contrail", "# contrail\n", "Docs")
    pull = github.add_pull("labels", head_sha=head, title="Labels")
    git(project, "checkout", "--quiet", "main")  # label events run the base branch's files
    # act records no run on GitHub: the stand-in holds the report run the label refers to.
    report = github.add_run(
        "pr-report.yml", head, jobs=["Train and report", "Promotion gate"], head_branch="labels"
    )
    writes = len(github.writes())

    def label(name: str) -> Run:
        pull.labels.append(name)
        event = pull_request_event(github, pull.number, "labeled", label={"name": name})
        return act(project, "pr-gate-label.yml", "pull_request", event)

    unrelated = label("needs-review")
    assert unrelated.returncode == 0 and unrelated.jobs == {}, unrelated.text()[-3000:]
    assert len(github.writes()) == writes and github.reruns == []

    override = label("allow-regression")
    assert override.job("override").result == "success", override.text()[-5000:]
    gate_job = next(job for job in report.jobs if job.name == "Promotion gate")
    assert [job.id for job in github.reruns] == [gate_job.id]
