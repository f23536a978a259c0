"""What every `contrail` command shares: its options, the exit-code table, and the guard that
turns any failure into one line and a code from that table.

The error types are named by module and class, not imported: a command that never touched
pandas must not import it to classify an error, and an exception's module is always loaded
by the time the exception is raised.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path
from typing import TypeVar

import typer

from contrail.errors import unexpected

T = TypeVar("T")


class ExitCode(IntEnum):
    """The same for every command (the README's "Exit codes")."""

    DONE = 0
    FIX = 1  # a verdict (blocked, refused, failed check) or bad input, named
    UNDECIDED = 2  # could not decide, or an outside system (git, GitHub, cluster...) failed


# Input the user must fix, named in the message: exit 1.
INPUT_ERRORS = (
    ("builtins", "FileNotFoundError"),
    ("contrail.params", "ParamsError"),
    ("contrail.data.sources", "SourceError"),
    ("contrail.io", "UnreadableFile"),
    ("contrail.metrics", "MetricsFormatError"),
    ("contrail.model_card", "IncompatibleModel"),
    ("contrail.stages", "StageFailed"),
    ("contrail.remote", "UnsupportedRemote"),
    ("contrail.gate.recorded", "VerdictFileError"),
    ("contrail.release.versions", "ReleaseError"),
    ("contrail.release.rollout", "DeployFailed"),
    ("contrail.monitor.production", "ProductionDataError"),
    ("contrail.monitor.retrain", "RetrainError"),
    ("contrail.serving.package", "PackagingError"),
    ("contrail.serving.commands", "ServeError"),
    ("contrail.serving.prediction_log.writer", "UnwritableLogFolder"),
    ("contrail.serving.smoke", "UsageError"),
)
# An outside system failed, or a comparison could not be made: exit 2.
OUTSIDE_ERRORS = (
    ("contrail.transports.git", "GitError"),
    ("contrail.transports.github", "GitHubError"),
    ("contrail.transports.cluster", "ClusterError"),
    ("contrail.transports.containers", "ContainerError"),
    ("contrail.report.revision", "ReportError"),
)


def loaded(names: tuple[tuple[str, str], ...]) -> tuple[type[BaseException], ...]:
    """The classes among `names` whose module is imported (the others cannot have raised)."""
    found: list[type[BaseException]] = []
    for module, name in names:
        if module in sys.modules:
            found.append(getattr(sys.modules[module], name))
    return tuple(found)


def guard(
    command: str,
    body: Callable[[], T],
    *,
    prefix: str | None = None,
    input_errors: tuple[type[Exception], ...] = (),
) -> T:
    """Run a command's `body`: a known failure becomes `<prefix>: <message>` on stderr and
    exit 1 or 2 per `ExitCode`; anything else one line too (CONTRAIL_DEBUG for the traceback)
    and exit 2. `prefix` defaults to `contrail <command> failed`; `input_errors` are more
    types this command reads as bad input."""
    try:
        return body()
    except typer.Exit:
        raise
    except Exception as exc:
        if isinstance(exc, input_errors + loaded(INPUT_ERRORS)):
            code = ExitCode.FIX
        elif isinstance(exc, loaded(OUTSIDE_ERRORS)):
            code = ExitCode.UNDECIDED
        else:  # a bug or an input no check foresaw: still one line
            typer.echo(unexpected(f"contrail {command}", exc), err=True)
            raise typer.Exit(ExitCode.UNDECIDED) from None
        typer.echo(f"{prefix or f'contrail {command} failed'}: {exc}", err=True)
        raise typer.Exit(code) from None


ParamsOption = typer.Option(Path("params.yaml"), "--params", help="Parameters file.")
GitHubOutputOption = typer.Option(
    None,
    "--github-output",
    envvar="GITHUB_OUTPUT",
    help="Append the step's outputs here (a workflow's $GITHUB_OUTPUT).",
)
PushOption = typer.Option(False, "--push", help="Push the tag to origin.")
StageOption = typer.Option(..., "--stage", help="staging or production.")
StageFromEnvOption = typer.Option(None, "--stage", envvar="STAGE", help="staging or production.")
