"""The GitHub transport: the gate's calls against a scripted API, the client against the
fake GitHub server, and GitHub's pull-request payloads read into records."""

from __future__ import annotations

import subprocess

import pytest
from support.fake_github import FakeGitHub as FakeGitHubServer

from contrail.transports.github import GitHub, GitHubError, PullRequest

SHA = "c" * 40
OVERRIDE = "allow-regression"
URL = "https://github.com/octo/flights/pull/5"


class ScriptedGitHub(GitHub):
    """The REST calls `rerun_job` and `current_pull` make, answered from a script."""

    def __init__(self, answers: dict[tuple[str, str], list[object]]) -> None:
        super().__init__("https://api.example", "owner/repo", "token")
        object.__setattr__(self, "answers", answers)
        object.__setattr__(self, "calls", [])

    def call(self, method, path, query=None):
        self.calls.append((method, path))
        replies = self.answers[(method, path)]
        return replies.pop(0) if len(replies) > 1 else replies[0]


def test_the_override_label_re_runs_only_the_gate_job_after_the_run_finished():
    runs = "actions/workflows/pr-report.yml/runs"
    github = ScriptedGitHub({
        ("GET", runs): [{"workflow_runs": [{"id": 7, "status": "completed"},
                                           {"id": 9, "status": "in_progress"}]}],
        ("GET", "actions/runs/9"): [{"id": 9, "status": "in_progress"},
                                    {"id": 9, "status": "completed"}],
        ("GET", "actions/runs/9/jobs"): [{"jobs": [{"id": 1, "name": "Train and report"},
                                                   {"id": 2, "name": "Promotion gate"}]}],
        ("POST", "actions/jobs/2/rerun"): [None],
    })  # fmt: skip
    slept: list[float] = []

    done = github.rerun_job(
        SHA, workflow="pr-report.yml", job_name="Promotion gate",
        wait_seconds=100, poll_seconds=10, sleep=slept.append,
    )  # fmt: skip

    assert done.startswith("re-running 'Promotion gate' of run 9")
    assert slept == [10, 10]
    assert ("POST", "actions/jobs/2/rerun") in github.calls
    assert not any("jobs/1" in path for _, path in github.calls)  # never the training job


def test_re_running_the_gate_gives_up_on_a_run_that_does_not_finish():
    github = ScriptedGitHub({
        ("GET", "actions/workflows/pr-report.yml/runs"): [
            {"workflow_runs": [{"id": 9, "status": "queued"}]}],
        ("GET", "actions/runs/9"): [{"id": 9, "status": "in_progress"}],
    })  # fmt: skip

    with pytest.raises(GitHubError, match="still in_progress"):
        github.rerun_job(
            SHA, workflow="pr-report.yml", job_name="Promotion gate",
            wait_seconds=30, poll_seconds=10, sleep=lambda _: None,
        )  # fmt: skip


def test_the_current_labels_come_from_the_pull_request_or_the_open_pr_of_a_commit():
    pull = {
        "number": 5, "state": "open", "head": {"sha": SHA, "ref": "feature"},
        "base": {"ref": "main"}, "labels": [{"name": OVERRIDE}], "html_url": URL,
    }  # fmt: skip
    closed = {**pull, "number": 4, "state": "closed"}
    github = ScriptedGitHub({
        ("GET", "pulls/5"): [pull],
        ("GET", f"commits/{SHA}/pulls"): [[closed, pull]],
        ("GET", f"commits/{'d' * 40}/pulls"): [[]],
    })  # fmt: skip

    expected = PullRequest(5, SHA, (OVERRIDE,), base="main", branch="feature", url=URL)
    assert github.current_pull("5", SHA) == expected
    assert github.current_pull("", SHA) == expected
    assert github.current_pull("", "d" * 40) is None


def test_a_pull_request_payload_reads_number_head_branch_and_url():
    payload = {
        "number": 12,
        "head": {"ref": "retrain/flight-delay-2013-07", "sha": "abc"},
        "html_url": "https://github.com/octo/flights/pull/12",
        "labels": [{"name": "retrain"}],
    }
    pull = PullRequest.from_api(payload)
    assert (pull.number, pull.branch, pull.url) == (
        12,
        "retrain/flight-delay-2013-07",
        "https://github.com/octo/flights/pull/12",
    )
    assert (pull.head_sha, pull.labels) == ("abc", ("retrain",))


def test_the_fake_refuses_what_github_refuses(tmp_path):
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    with FakeGitHubServer(origin=origin) as fake:
        github = GitHub(fake.url, fake.repository, fake.token)
        with pytest.raises(GitHubError, match="HTTP 401"):
            GitHub(fake.url, fake.repository, "wrong").call("GET", "pulls")
        with pytest.raises(GitHubError, match="HTTP 404"):
            github.call("PATCH", "pulls/7", body={"state": "closed"})
        pr = {"title": "t", "head": "retrain/flight-delay-2013-07", "base": "main", "body": "b"}
        with pytest.raises(GitHubError, match="POST pulls: HTTP 422"):
            github.call("POST", "pulls", body=pr)  # the branch is not on origin
        assert github.call("GET", "pulls", {"state": "open"}) == []
        assert [(c.method, c.path, c.status) for c in fake.calls] == [
            ("GET", "pulls", 401), ("PATCH", "pulls/7", 404), ("POST", "pulls", 422),
            ("GET", "pulls", 200),
        ]  # fmt: skip
