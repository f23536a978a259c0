"""The release tests' repository: committed pipeline outputs, `.gto`, a bare origin."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from support.release_repo import DVC_YAML, GTO_CONFIG, PipelineRepo


@pytest.fixture(autouse=True)
def no_workflow_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--github-output` defaults to $GITHUB_OUTPUT: a test run inside a workflow job must not
    write that job's outputs."""
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PipelineRepo:
    for key, value in {
        "GIT_AUTHOR_NAME": "release test",
        "GIT_AUTHOR_EMAIL": "release@example.com",
        "GIT_COMMITTER_NAME": "release test",
        "GIT_COMMITTER_EMAIL": "release@example.com",
        "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
    }.items():
        monkeypatch.setenv(key, value)
    origin = tmp_path / "origin.git"
    work = tmp_path / "work"
    subprocess.run(["git", "init", "--quiet", "--bare", str(origin)], check=True)
    subprocess.run(["git", "init", "--quiet", "-b", "main", str(work)], check=True)
    pipeline = PipelineRepo(work, origin)
    pipeline.git("config", "user.name", "release test")
    pipeline.git("config", "user.email", "release@example.com")
    pipeline.git("remote", "add", "origin", str(origin))
    (work / ".gto").write_text(GTO_CONFIG)
    (work / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML))
    monkeypatch.chdir(work)
    return pipeline
