"""A throwaway git + DVC repository with the project's pipeline, shared by the e2e tests."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path("data/source/flights.csv")


def run(
    repo: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`args` in `repo` with this environment's tools first on PATH and a git identity."""
    full_env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
    }  # fmt: skip
    full_env.pop("DVC_REMOTE_URL", None)  # never the developer's remote, only one given here
    full_env.update(env or {})
    result = subprocess.run(args, cwd=repo, env=full_env, capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def reproduced_repo(
    repo: Path, raw_sample: pd.DataFrame, extra_files: tuple[str, ...] = ()
) -> Path:
    """The pipeline on `raw_sample` (Jan-Mar window, small bootstrap), reproduced and committed."""
    for name in ("dvc.yaml", "params.yaml", ".dvcignore", *extra_files):
        shutil.copy(REPO_ROOT / name, repo / name)
    for folder in ("src", "data/source"):
        shutil.copytree(
            REPO_ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    raw_sample.to_csv(repo / SOURCE, index=False)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"].update(source=str(SOURCE), start="2013-01", end="2013-03")
    params["evaluate"].update(bootstrap_samples=100, importance_rows=1000)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(repo, "git", "init", "-q", "-b", "main")
    run(repo, "dvc", "init", "-q")
    shutil.copy(REPO_ROOT / ".dvc/config", repo / ".dvc/config")  # as a clone has it
    shutil.copytree(REPO_ROOT / ".dvc/plots", repo / ".dvc/plots")  # custom plot templates
    # dvclive (evaluate stage) needs a commit to exist, as any cloned project has.
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "pipeline")
    run(repo, "dvc", "repro")
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "baseline run")
    return repo


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tracked_outputs(repo: Path) -> dict[str, str]:
    """sha256 of dvc.lock and of every file it records as a stage output."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    outs = [o["path"] for stage in lock["stages"].values() for o in stage.get("outs", [])]
    files = [
        f
        for out in outs
        for f in ([repo / out] if (repo / out).is_file() else sorted((repo / out).rglob("*")))
    ]
    return {str(f.relative_to(repo)): digest(f) for f in [repo / "dvc.lock", *files]}
