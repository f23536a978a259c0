"""monitor.yml on its schedule, and the report it dispatches on the retraining branch."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.act import Act, Run
from support.fake_github import FakeGitHub
from support.workflow_repo import OWNER_REPO, git, merge_change

# The default window ends 2013-06: the simulated clock's "now" is July, and its AUC drop
# retrains (README, "The retraining loop").
BRANCH = "retrain/flight-delay-2013-07"
SCHEDULE = {
    "schedule": "17 6 * * 1",
    "repository": {"full_name": OWNER_REPO, "default_branch": "main"},
}


def origin_branches(origin: Path) -> dict[str, str]:
    heads = git(origin, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads")
    return dict(line.split() for line in heads.splitlines())


def test_the_schedule_opens_a_retraining_pr_whose_dispatched_report_passes_the_gate(
    act: Act, project: Path, github: FakeGitHub, origin: Path, main_cache: Run
) -> None:
    git(project, "checkout", "--quiet", "main")
    run = act(project, "monitor.yml", "schedule", SCHEDULE)
    assert run.job("monitor").outputs.get("retrain") == "true", run.text()[-5000:]
    assert run.job("history").result == "success", run.text()[-5000:]
    assert run.job("retrain").result == "success", run.text()[-5000:]

    history = git(origin, "show", "monitor-history:history.csv")
    assert "2013-07" in history
    (pull,) = [p for p in github.open_pulls() if p.head == BRANCH]
    assert pull.labels == ["retrain"] and pull.base == "main"
    assert [(d["workflow"], d["ref"]) for d in github.dispatches] == [("pr-report.yml", BRANCH)]

    # The dispatched report, on the branch as the monitor pushed it.
    git(project, "fetch", "--quiet", "origin", BRANCH)
    git(project, "checkout", "--quiet", "-B", BRANCH, "FETCH_HEAD")
    report = act(
        project,
        "pr-report.yml",
        "workflow_dispatch",
        {
            "inputs": {"base": ""},
            "ref": f"refs/heads/{BRANCH}",
            "repository": {"full_name": OWNER_REPO, "default_branch": "main"},
        },
    )
    gate = report.job("gate")
    assert gate.steps["Promotion gate"] == "success", report.text()[-5000:]
    assert gate.outputs.get("pr") == str(pull.number)
    (comment,) = pull.thread
    assert "contrail model report" in comment.body and "promote" in comment.body.lower()

    # The same schedule again, with no new data: nothing is pushed, opened or dispatched.
    git(project, "checkout", "--quiet", "main")
    branches, writes = origin_branches(origin), len(github.writes())
    again = act(project, "monitor.yml", "schedule", SCHEDULE)
    assert again.job("retrain").result == "success", again.text()[-5000:]
    assert origin_branches(origin) == branches
    assert len(github.writes()) == writes


@pytest.mark.full_set
def test_a_month_later_the_new_retraining_pr_supersedes_the_old_one_with_a_link(
    act: Act, project: Path, github: FakeGitHub, origin: Path, main_cache: Run
) -> None:
    (old,) = [p for p in github.open_pulls() if p.head == BRANCH]
    # Main moves on by a month (a person's merge), so July is history and August is "now".
    git(project, "checkout", "--quiet", "main")
    params = project / "params.yaml"
    params.write_text(
        params.read_text()
        .replace('start: "2013-01"', 'start: "2013-02"')
        .replace('end: "2013-06"', 'end: "2013-07"')
    )
    merge_change(project, "Train on 2013-02..2013-07")

    run = act(project, "monitor.yml", "schedule", SCHEDULE)
    assert run.job("retrain").result == "success", run.text()[-5000:]
    (new,) = [p for p in github.open_pulls() if p.head == "retrain/flight-delay-2013-08"]
    assert old.state == "closed"
    assert any(
        github.html_url(new.number) in body or f"#{new.number}" in body for body in old.comments
    )
    assert github.dispatches[-1]["ref"] == new.head
