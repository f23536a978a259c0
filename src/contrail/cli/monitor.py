"""`contrail monitor`, `contrail history ...` and `contrail retrain ...`: the scheduled loop's
steps (`contrail.monitor.commands`)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from contrail.cli.common import ExitCode, GitHubOutputOption, ParamsOption, guard
from contrail.monitor import HISTORY

monitor_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
history_app = typer.Typer(
    name="history", help="The monitor's history branch.", add_completion=False,
    pretty_exceptions_enable=False, no_args_is_help=True,
)  # fmt: skip
retrain_app = typer.Typer(
    name="retrain", help="The retraining pull request.", add_completion=False,
    pretty_exceptions_enable=False, no_args_is_help=True,
)  # fmt: skip
monitor_app.add_typer(history_app)
monitor_app.add_typer(retrain_app)

HistoryOption = typer.Option(HISTORY, "--history", help="Local copy of the history CSV.")
RemoteOption = typer.Option("origin", "--remote", help="The git remote.")
BranchOption = typer.Option("monitor-history", "--branch", help="The history branch.")
SummaryOption = typer.Option(
    None, "--summary", envvar="GITHUB_STEP_SUMMARY", help="Append the report here."
)
# A history CSV that is not the monitor's, or a malformed production feed, raises ValueError.
BROKEN_FILE = (ValueError,)


@monitor_app.command()
def monitor(
    params: Path = ParamsOption,
    history: Path = HistoryOption,
    github_output: Path | None = GitHubOutputOption,
    summary: Path | None = SummaryOption,
) -> None:
    """Check the newest production month: validation, drift, performance; decide on retraining.

    Writes reports/monitor.md, reports/monitor.json and a row of the history CSV; prints the
    decision as its last line. A production feed that fails the data contract exits 1."""
    from contrail.monitor import commands

    broken = guard(
        "monitor",
        lambda: commands.monitor(params, history, github_output, summary),
        input_errors=BROKEN_FILE,
    )
    if broken:
        raise typer.Exit(ExitCode.FIX)


@history_app.command("pull")
def history_pull(
    history: Path = HistoryOption, remote: str = RemoteOption, branch: str = BranchOption
) -> None:
    """Copy the history branch's CSV to --history (empty when the branch does not exist)."""
    from contrail.monitor import commands

    line = guard(
        "history pull",
        lambda: commands.history_pull(history, remote, branch),
        input_errors=BROKEN_FILE,
    )
    typer.echo(line)


@history_app.command("push")
def history_push(
    history: Path = HistoryOption, remote: str = RemoteOption, branch: str = BranchOption
) -> None:
    """Commit --history (with its README charts and dvc.yaml) to the branch and push it."""
    from contrail.monitor import commands

    line = guard(
        "history push",
        lambda: commands.history_push(history, remote, branch),
        input_errors=BROKEN_FILE,
    )
    typer.echo(line)


@retrain_app.command("prepare")
def retrain_prepare(
    remote: str = RemoteOption, github_output: Path | None = GitHubOutputOption
) -> None:
    """On the monitor's "retrain: yes", commit the moved window and `dvc repro` on its branch."""
    from contrail.monitor import commands

    for line in guard("retrain prepare", lambda: commands.retrain_prepare(remote, github_output)):
        typer.echo(line)


@retrain_app.command("publish")
def retrain_publish(
    base: str = typer.Option("main", "--base", help="The branch the PR targets."),
    remote: str = RemoteOption,
    dispatch: bool = typer.Option(
        True,
        "--dispatch/--no-dispatch",
        envvar="CONTRAIL_DISPATCH_REPORT",
        help="Dispatch the PR-report workflow on the branch (needed with GITHUB_TOKEN).",
    ),
) -> None:
    """Push the prepared branch, open or update its PR, close superseded ones, dispatch."""
    from contrail.monitor import commands

    done = guard(
        "retrain publish", lambda: commands.retrain_publish(base, remote, dispatch, os.environ)
    )
    for line in done:
        typer.echo(line)
