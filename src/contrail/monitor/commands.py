"""What `contrail monitor`, `contrail history ...` and `contrail retrain ...` do: run a step
of the scheduled loop, say what happened in lines for the log, and write the step's outputs.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from pathlib import Path

import typer

from contrail.github_output import append_outputs
from contrail.monitor import MONITOR_MD


def monitor(
    params_path: Path, history: Path, github_output: Path | None, summary: Path | None
) -> bool:
    """Check the newest production month and decide on retraining; True when the production
    data broke its contract (the command then exits 1, after writing everything)."""
    from contrail.monitor.run import monitor as run_monitor
    from contrail.params import load_params

    logging.basicConfig(format="%(message)s", level=logging.INFO, stream=sys.stderr)
    outcome = run_monitor(load_params(params_path), history)
    if summary is not None:
        with summary.open("a") as handle:
            handle.write(MONITOR_MD.read_text() + "\n")
    decision = outcome.decision
    append_outputs(
        github_output, {"retrain": str(decision.retrain).lower(), "month": outcome.check.month}
    )
    if decision.drift_note:
        typer.echo(decision.drift_note)
    typer.echo(decision.line())
    return bool(outcome.check.problems)


def history_pull(history: Path, remote: str, branch: str) -> str:
    """Copy the history branch's CSV to `history`."""
    from contrail.monitor import branch as branch_io

    rows = branch_io.pull(Path.cwd(), remote, branch, history)
    return f"{history}: {rows} row(s) from {remote}/{branch}"


def history_push(history: Path, remote: str, branch: str) -> str:
    """Commit `history` (with its README charts and dvc.yaml) to the branch and push it."""
    from contrail.monitor import branch as branch_io

    commit = branch_io.push(Path.cwd(), remote, branch, history, f"monitor: {history.name}")
    return f"pushed {commit[:12]} to {remote}/{branch}" if commit else f"{branch}: unchanged"


def retrain_prepare(remote: str, github_output: Path | None) -> list[str]:
    """On the monitor's "retrain: yes", the retraining branch with the moved window; the last
    lines say that the checkout is now on that branch, and how to go back (run locally, with
    `make retrain`, it is easy to miss that the workspace changed branch)."""
    from contrail.monitor.retrain import prepare

    prepared = prepare(Path.cwd(), remote)
    if prepared is None:
        append_outputs(github_output, {"prepared": "false", "changed": "false"})
        return ["the monitor did not ask for retraining: nothing prepared"]
    append_outputs(github_output, {"prepared": "true", "changed": str(prepared.changed).lower()})
    change = "changed" if prepared.changed else "same tree as the remote branch"
    return [
        f"{prepared.branch}: {prepared.title} ({change})",
        f"you are now on branch {prepared.branch}, with the retrained model and its outputs",
        f"to go back: git checkout {prepared.came_from} && dvc checkout",
    ]


def retrain_publish(base: str, remote: str, dispatch: bool, env: Mapping[str, str]) -> list[str]:
    """Push the prepared branch, open or update its PR, close superseded ones, dispatch."""
    from contrail.monitor.retrain import RetrainError, publish
    from contrail.transports.github import GitHub

    github = GitHub.from_env(env)
    if github is None:
        raise RetrainError("GITHUB_TOKEN and GITHUB_REPOSITORY unset")
    return publish(Path.cwd(), github, base, remote, dispatch)
