"""`contrail.transports.git` against a real temporary git repository, with the gto and dvc of
this environment: helpers return what git itself says, failures name the command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from contrail.transports import git
from contrail.transports.git import GitError

BIN = Path(sys.executable).parent


def run(cwd: Path, *command: str) -> subprocess.CompletedProcess[str]:
    """The command as a person would run it: the expected values come from here."""
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository with one commit of `a.txt`, and a bare `origin`."""
    for key, value in {
        "GIT_AUTHOR_NAME": "transport test",
        "GIT_AUTHOR_EMAIL": "transport@example.com",
        "GIT_COMMITTER_NAME": "transport test",
        "GIT_COMMITTER_EMAIL": "transport@example.com",
        "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
    }.items():
        monkeypatch.setenv(key, value)
    work, origin = tmp_path / "work", tmp_path / "origin.git"
    run(tmp_path, "git", "init", "--quiet", "--bare", str(origin))
    run(tmp_path, "git", "init", "--quiet", "-b", "main", str(work))
    run(work, "git", "remote", "add", "origin", str(origin))
    (work / "a.txt").write_text("first\n")
    run(work, "git", "add", "a.txt")
    run(work, "git", "commit", "--quiet", "-m", "first")
    return work


def test_helpers_return_what_git_says(repo: Path) -> None:
    head = run(repo, "git", "rev-parse", "HEAD").stdout.strip()
    assert git.commit_of(repo, "HEAD") == head
    assert git.commit_of(repo, "main") == head
    assert git.commit_of(repo, "no-such-branch") is None
    assert git.tree_of(repo, "HEAD") == run(repo, "git", "rev-parse", "HEAD^{tree}").stdout.strip()

    # A committed file is read at its commit, whatever the workspace holds now.
    (repo / "a.txt").write_text("edited\n")
    (repo / "untracked.txt").write_text("new\n")
    assert git.show(repo, head, "a.txt") == "first\n"
    assert git.show(repo, head, "missing.txt") is None
    assert git.modified(repo) == ["a.txt"]

    # Raw git gets stdin and returns stdout: the blob's id is git's own.
    blob = git.git(repo, "hash-object", "-w", "--stdin", input="edited\n").strip()
    assert blob == run(repo, "git", "hash-object", "a.txt").stdout.strip()


def test_push_puts_the_ref_on_the_remote(repo: Path) -> None:
    head = run(repo, "git", "rev-parse", "HEAD").stdout.strip()
    run(repo, "git", "tag", "-a", "v1", "-m", "one")
    git.push(repo, "origin", "refs/tags/v1")
    git.push(repo, "origin", "HEAD:refs/heads/published")

    listed = run(repo, "git", "ls-remote", "origin").stdout.split()
    assert "refs/tags/v1^{}" in listed
    assert listed[listed.index("refs/heads/published") - 1] == head


def test_a_failed_git_command_is_named_with_its_last_line(repo: Path) -> None:
    by_hand = run(repo, "git", "show", "HEAD:missing.txt")
    last = by_hand.stderr.strip().splitlines()[-1]

    with pytest.raises(GitError) as failed:
        git.git(repo, "show", "HEAD:missing.txt")

    assert str(failed.value) == f"git show failed: {last}"
    assert failed.value.returncode == by_hand.returncode != 0


def test_a_command_that_cannot_start_is_a_git_error(tmp_path: Path) -> None:
    with pytest.raises(GitError, match=r"^git status failed: cannot start git: "):
        git.git(tmp_path / "no-such-directory", "status")


def test_gto_runs_from_this_environment_and_its_refusal_is_one_line(repo: Path) -> None:
    (repo / ".gto").write_text("stages: [staging, production]\n")
    (repo / "dvc.yaml").write_text("artifacts:\n  model:\n    path: model.joblib\n")
    run(repo, "git", "add", ".gto", "dvc.yaml")
    run(repo, "git", "commit", "--quiet", "-m", "registry")

    git.gto(repo, "register", "model", "HEAD", "--version", "v1.0.0")
    assert run(repo, "git", "cat-file", "-t", "model@v1.0.0").stdout.strip() == "tag"

    refusal = ["assign", "model", "--version", "v1.0.0", "--stage", "prod"]
    by_hand = run(repo, str(BIN / "gto"), *refusal).stderr.strip().splitlines()[-1]
    with pytest.raises(GitError) as failed:
        git.gto(repo, *refusal)
    # GTO's "❌ " marker is dropped: the line reads as the reason.
    assert str(failed.value) == f"gto assign failed: {by_hand.removeprefix('❌ ')}"
    assert "Allowed stages are" in str(failed.value)


def test_dvc_runs_from_this_environment_and_its_failure_is_named(repo: Path) -> None:
    # Not a DVC project: DVC says so and exits non-zero.
    by_hand = run(repo, sys.executable, "-m", "dvc", "status")

    with pytest.raises(GitError) as failed:
        git.dvc(repo, "status")

    assert str(failed.value) == f"dvc status failed: {by_hand.stderr.strip().splitlines()[-1]}"
    assert failed.value.returncode == by_hand.returncode != 0


def test_tail_gives_callers_the_last_lines_on_one_line(repo: Path) -> None:
    # git's refusal to push to a missing remote spans several lines; the reason comes first.
    by_hand = run(repo, "git", "push", "--quiet", "nowhere", "HEAD")
    lines = [" ".join(line.split()) for line in by_hand.stderr.splitlines() if line.strip()]
    assert len(lines) > 3

    with pytest.raises(GitError) as failed:
        git.push(repo, "nowhere", "HEAD")

    assert str(failed.value) == f"git push failed: {lines[-1]}"
    assert failed.value.tail(3) == " / ".join(lines[-3:])
