"""ci.yml: its lint job, executed under act. Its test job is `make test`, the command
`.ci/run` itself runs first; running the whole suite again inside act would only double it."""

from __future__ import annotations

from pathlib import Path

from support.act import Act
from support.workflow_repo import git, push_event


def test_the_lint_job_passes_on_a_push_to_main(act: Act, project: Path) -> None:
    git(project, "checkout", "--quiet", "main")
    run = act(project, "ci.yml", "push", push_event(project), job="lint")
    lint = run.job("lint")
    assert lint.result == "success", run.text()[-6000:]
    assert lint.steps["make lint"] == "success"
