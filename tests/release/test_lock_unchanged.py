"""`make lock-unchanged`, release.yml's guard that the image ships the model the commit records."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

MAKEFILE = Path(__file__).resolve().parents[2] / "Makefile"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "--quiet")
    (tmp_path / "dvc.lock").write_text("train:\n  md5: 1\n")
    git(tmp_path, "add", "dvc.lock")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "lock")
    return tmp_path


def lock_unchanged(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-f", str(MAKEFILE), "-C", str(repo), "lock-unchanged"],
        capture_output=True,
        text=True,
    )


def test_passes_when_repro_left_the_commits_lock_as_it_was(repo: Path) -> None:
    assert lock_unchanged(repo).returncode == 0


@pytest.mark.parametrize("staged", [False, True], ids=["unstaged", "staged-by-dvc-autostage"])
def test_fails_when_repro_rewrote_the_lock_even_once_dvc_staged_it(
    repo: Path, staged: bool
) -> None:
    (repo / "dvc.lock").write_text("train:\n  md5: 2\n")
    if staged:  # what `dvc repro` does with core.autostage, as this project configures it
        git(repo, "add", "dvc.lock")
    done = lock_unchanged(repo)
    assert done.returncode != 0
    assert "commit the reproduced pipeline first" in done.stderr
