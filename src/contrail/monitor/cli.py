"""`contrail monitor`, `contrail history` and `contrail retrain`: the scheduled loop's steps.

Exit codes: 0 done (whatever the decision), 1 bad input named (params, production data, a
broken feed, a git state that forbids the step), 2 an unexpected error or a GitHub failure.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import typer

from contrail.errors import unexpected
from contrail.monitor import HISTORY, MONITOR_MD

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

ParamsOption = typer.Option(Path("params.yaml"), "--params", help="Parameters file.")
HistoryOption = typer.Option(HISTORY, "--history", help="Local copy of the history CSV.")
GitHubOutputOption = typer.Option(
    None, "--github-output", envvar="GITHUB_OUTPUT", help="Append key=value outputs here."
)
SummaryOption = typer.Option(
    None, "--summary", envvar="GITHUB_STEP_SUMMARY", help="Append the report here."
)
RemoteOption = typer.Option("origin", "--remote", help="The git remote.")
BranchOption = typer.Option("monitor-history", "--branch", help="The history branch.")


def _fail(command: str, exc: BaseException, code: int = 1) -> typer.Exit:
    typer.echo(f"contrail {command} failed: {exc}", err=True)
    return typer.Exit(code)


def _outputs(path: Path | None, **values: str) -> None:
    if path is not None:
        with path.open("a") as handle:
            handle.writelines(f"{key}={value}\n" for key, value in values.items())


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
    from contrail.data.sources import SourceError
    from contrail.io import UnreadableFile
    from contrail.metrics import MetricsFormatError
    from contrail.monitor.production import ProductionDataError
    from contrail.monitor.run import monitor as run_monitor
    from contrail.params import ParamsError, load_params

    logging.basicConfig(format="%(message)s", level=logging.INFO, stream=sys.stderr)
    try:
        outcome = run_monitor(load_params(params), history)
    except (
        ParamsError, SourceError, ProductionDataError, UnreadableFile, FileNotFoundError,
        MetricsFormatError, ValueError,
    ) as exc:  # fmt: skip
        raise _fail("monitor", exc) from None
    except Exception as exc:
        typer.echo(unexpected("contrail monitor", exc), err=True)
        raise typer.Exit(2) from None
    if summary is not None:
        with summary.open("a") as handle:
            handle.write(MONITOR_MD.read_text() + "\n")
    decision = outcome.decision
    _outputs(github_output, retrain=str(decision.retrain).lower(), month=outcome.check.month)
    if decision.drift_note:
        typer.echo(decision.drift_note)
    typer.echo(decision.line())
    if outcome.check.problems:
        raise typer.Exit(1)


@history_app.command("pull")
def history_pull(
    history: Path = HistoryOption, remote: str = RemoteOption, branch: str = BranchOption
) -> None:
    """Copy the history branch's CSV to --history (empty when the branch does not exist)."""
    from contrail.monitor import branch as branch_io
    from contrail.transports.git import GitError

    try:
        rows = branch_io.pull(Path.cwd(), remote, branch, history)
    except (GitError, ValueError) as exc:
        raise _fail("history pull", exc) from None
    typer.echo(f"{history}: {rows} row(s) from {remote}/{branch}")


@history_app.command("push")
def history_push(
    history: Path = HistoryOption, remote: str = RemoteOption, branch: str = BranchOption
) -> None:
    """Commit --history (with its README charts and dvc.yaml) to the branch and push it."""
    from contrail.monitor import branch as branch_io
    from contrail.transports.git import GitError

    try:
        commit = branch_io.push(Path.cwd(), remote, branch, history, f"monitor: {history.name}")
    except (GitError, ValueError, FileNotFoundError) as exc:
        raise _fail("history push", exc) from None
    typer.echo(f"pushed {commit[:12]} to {remote}/{branch}" if commit else f"{branch}: unchanged")


@retrain_app.command("prepare")
def retrain_prepare(
    remote: str = RemoteOption, github_output: Path | None = GitHubOutputOption
) -> None:
    """On the monitor's "retrain: yes", commit the moved window and `dvc repro` on its branch."""
    from contrail.metrics import MetricsFormatError
    from contrail.monitor.retrain import RetrainError, prepare
    from contrail.transports.git import GitError

    try:
        prepared = prepare(Path.cwd(), remote)
    except (RetrainError, GitError, FileNotFoundError, MetricsFormatError) as exc:
        raise _fail("retrain prepare", exc) from None
    if prepared is None:
        typer.echo("the monitor did not ask for retraining: nothing prepared")
        _outputs(github_output, prepared="false", changed="false")
        return
    typer.echo(
        f"{prepared.branch}: {prepared.title} ("
        + ("changed" if prepared.changed else "same tree as the remote branch")
        + ")"
    )
    _outputs(github_output, prepared="true", changed=str(prepared.changed).lower())


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
    from contrail.monitor.retrain import RetrainError, publish
    from contrail.transports.git import GitError
    from contrail.transports.github import GitHub, GitHubError

    github = GitHub.from_env(os.environ)
    if github is None:
        raise _fail("retrain publish", RuntimeError("GITHUB_TOKEN and GITHUB_REPOSITORY unset"))
    try:
        done = publish(Path.cwd(), github, base, remote, dispatch)
    except (RetrainError, GitError, FileNotFoundError) as exc:
        raise _fail("retrain publish", exc) from None
    except GitHubError as exc:
        raise _fail("retrain publish", exc, 2) from None
    for line in done:
        typer.echo(line)
