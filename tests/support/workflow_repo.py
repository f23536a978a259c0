"""The repository a workflow run sees, from the tests' side: git with the session's global
config, and the event payloads GitHub would send."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from support.fake_github import FakeGitHub

OWNER_REPO = "octo/flights"
BOT = {
    "GIT_AUTHOR_NAME": "Ada",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
}


# The session's global git config (`gitconfig`), for the tests' own git as for the runner's:
# not in the clone's config, from which act reads the repository's name.
GIT_ENV: dict[str, str] = {}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **BOT, **GIT_ENV},
    )
    return done.stdout.strip()


def merge_change(repo: Path, message: str) -> None:
    """Commit the edits in `repo` with the pipeline they reproduce (dvc.lock and the tracked
    outputs), as a merged pull request carries them, and push main."""
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [str(bin_dir / "dvc"), "repro", "--quiet"],
        cwd=repo,
        check=True,
        capture_output=True,
        # dvc.yaml's stages call `contrail`, from the suite's own environment.
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )
    git(repo, "commit", "--quiet", "-am", message)
    git(repo, "push", "--quiet", "origin", "main")


def note(session_dir: Path, text: str) -> None:
    """Add a line to the session's summary.md, next to the run it is about."""
    with (session_dir / "runs" / "summary.md").open("a") as summary:
        summary.write(f"- {text}\n\n")


def push_event(repo: Path, branch: str = "main") -> dict[str, Any]:
    return {
        "ref": f"refs/heads/{branch}",
        "after": git(repo, "rev-parse", "HEAD"),
        "repository": {"full_name": OWNER_REPO, "default_branch": "main"},
    }


def pull_request_event(
    github: FakeGitHub, number: int, action: str, **extra: Any
) -> dict[str, Any]:
    """A `pull_request` payload as GitHub sends it, for the stand-in's PR `number`."""
    pull = github.pulls[number]
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"sha": pull.head_sha, "ref": pull.head, "repo": {"full_name": OWNER_REPO}},
            "base": {"ref": pull.base, "repo": {"full_name": OWNER_REPO}},
            "labels": [{"name": label} for label in pull.labels],
        },
        "repository": {"full_name": OWNER_REPO, "default_branch": "main"},
        **extra,
    }
