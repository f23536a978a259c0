"""`contrail.monitor.branch`: the history CSV on its own branch, written with git plumbing.

Each test has a small repository with one commit on `main` and a bare `origin`; what the
branch holds is read back from `origin` with plain git commands.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from contrail.monitor import branch, history

BRANCH = "monitor-history"
IDENTITY = {
    "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
}  # fmt: skip


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=check,
        env={**os.environ, **IDENTITY},
    )  # fmt: skip


def row(month: str, roc_auc: float = 0.71, retrain: bool = False) -> history.Row:
    return history.Row(
        month=month, model_version="0123456789abcdef", rows=29_425, labelled_rows=28_889,
        roc_auc=roc_auc, roc_auc_low=roc_auc - 0.01, roc_auc_high=roc_auc + 0.01,
        test_roc_auc=0.743, brier=0.19, test_brier=0.18, delay_rate=0.23, drifted_share=0.4,
        prediction_drift=None, retrain=retrain, reason="no rule fired",
    )  # fmt: skip


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clone-like checkout of `main` with a bare `origin`; the commit identity in env."""
    for key, value in IDENTITY.items():
        monkeypatch.setenv(key, value)
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    (work / "params.yaml").write_text("seed: 2013\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "main")
    git(work, "remote", "add", "origin", str(origin))
    git(work, "push", "-q", "origin", "main")
    return work


def origin_ref(repo: Path) -> str | None:
    done = git(repo, "ls-remote", "--heads", "origin", BRANCH)
    return done.stdout.split()[0] if done.stdout.strip() else None


def write_history(path: Path, rows: list[history.Row]) -> Path:
    path.write_text(history.render(rows))
    return path


def test_pull_without_the_branch_gives_an_empty_file_and_zero_rows(repo, tmp_path):
    local = tmp_path / "reports/monitor-history.csv"  # its folder does not exist yet
    assert branch.pull(repo, "origin", BRANCH, local) == 0
    assert local.read_text() == ""
    assert origin_ref(repo) is None


def test_push_creates_an_orphan_branch_with_the_csv_readme_and_dvc_yaml(repo, tmp_path):
    head, status = git(repo, "rev-parse", "HEAD").stdout, git(repo, "status", "--porcelain").stdout
    local = write_history(tmp_path / "history.csv", [row("2013-07", retrain=True)])

    commit = branch.push(repo, "origin", BRANCH, local, "monitor: history.csv")

    assert commit is not None and origin_ref(repo) == commit
    ref = f"origin/{BRANCH}"
    git(repo, "fetch", "-q", "origin")
    files = git(repo, "ls-tree", "-r", "--name-only", ref).stdout.split()
    # The CSV, its README and dvc.yaml, and an empty DVC project (.dvc/) for `dvc plots show`.
    assert {f for f in files if not f.startswith(".dvc/")} == {
        "history.csv", "README.md", "dvc.yaml"
    }  # fmt: skip
    assert ".dvc/config" in files
    assert git(repo, "show", f"{ref}:history.csv").stdout == local.read_text()
    assert "| 2013-07 |" in git(repo, "show", f"{ref}:README.md").stdout
    assert "history.csv" in git(repo, "show", f"{ref}:dvc.yaml").stdout
    assert git(repo, "log", "--format=%s", ref).stdout == "monitor: history.csv\n"
    # An orphan: one commit, no parent, nothing in common with main.
    assert git(repo, "rev-list", "--parents", ref).stdout.split() == [commit]
    assert git(repo, "merge-base", "main", ref, check=False).returncode == 1
    # Plumbing only: the checkout of main is as it was.
    assert git(repo, "rev-parse", "HEAD").stdout == head
    assert git(repo, "branch", "--show-current").stdout == "main\n"
    assert git(repo, "status", "--porcelain").stdout == status


def test_a_second_push_of_the_same_file_is_a_noop(repo, tmp_path):
    local = write_history(tmp_path / "history.csv", [row("2013-07")])
    first = branch.push(repo, "origin", BRANCH, local, "monitor: history.csv")
    assert branch.push(repo, "origin", BRANCH, local, "monitor: history.csv") is None
    assert origin_ref(repo) == first
    assert git(repo, "rev-list", "--count", first).stdout.strip() == "1"


def test_a_changed_file_adds_a_commit_on_top_and_pull_reads_it_back(repo, tmp_path):
    local = write_history(tmp_path / "history.csv", [row("2013-07")])
    first = branch.push(repo, "origin", BRANCH, local, "monitor: history.csv")
    rows = history.upsert(history.parse(local.read_text()), row("2013-08", 0.69, True))
    write_history(local, rows)

    second = branch.push(repo, "origin", BRANCH, local, "monitor: history.csv")

    assert second is not None and origin_ref(repo) == second
    assert git(repo, "rev-parse", f"{second}^").stdout.strip() == first
    assert git(repo, "rev-list", "--max-parents=0", second).stdout.split() == [first]
    assert git(repo, "merge-base", "main", second, check=False).returncode == 1
    copy = tmp_path / "pulled/monitor-history.csv"
    assert branch.pull(repo, "origin", BRANCH, copy) == 2
    assert copy.read_text() == local.read_text()
    assert [r.month for r in history.parse(copy.read_text())] == ["2013-07", "2013-08"]


def test_pull_in_another_clone_sees_what_was_pushed(repo, tmp_path):
    local = write_history(tmp_path / "history.csv", [row("2013-07"), row("2013-08")])
    branch.push(repo, "origin", BRANCH, local, "monitor: history.csv")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--branch", "main", str(tmp_path / "origin.git"), str(clone))
    copy = clone / "reports/monitor-history.csv"
    assert branch.pull(clone, "origin", BRANCH, copy) == 2
    assert copy.read_text() == local.read_text()
    # Only the remote-tracking ref was fetched: no local branch, main still checked out.
    assert git(clone, "branch", "--list", BRANCH).stdout == ""
    assert git(clone, "branch", "--show-current").stdout == "main\n"


def test_a_checkout_of_the_branch_draws_its_plots_with_dvc(repo, tmp_path):
    local = write_history(tmp_path / "history.csv", [row("2013-07"), row("2013-08", 0.69)])
    branch.push(repo, "origin", BRANCH, local, "monitor: history.csv")
    clone = tmp_path / "plots"
    git(tmp_path, "clone", "-q", "--branch", BRANCH, str(tmp_path / "origin.git"), str(clone))
    env = {
        **os.environ, "DVC_NO_ANALYTICS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }  # fmt: skip
    done = subprocess.run(
        ["dvc", "plots", "show", "-o", "out"], cwd=clone, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    page = (clone / "out/index.html").read_text()
    assert "2013-07" in page and "2013-08" in page
