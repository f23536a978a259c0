"""`contrail`: one command per DVC stage and CI step, so dvc.yaml and workflows stay thin."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import typer

from contrail.params import DEFAULT_PARAMS_PATH, Params, ParamsError, load_params
from contrail.report.cli import report_app
from contrail.serving.cli import serving_app

app = typer.Typer(
    help="GitOps ML pipeline for the flight-delay model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
log = logging.getLogger("contrail")

ParamsOption = typer.Option(DEFAULT_PARAMS_PATH, "--params", help="Parameters file.")


def _run_stage(name: str, body: Callable[[Params], None], params_path: Path) -> None:
    """Run a stage with timing, turning expected failures into one readable error."""
    from contrail.data.sources import SourceError
    from contrail.stages import ValidationFailed

    logging.basicConfig(format="%(message)s", level=logging.INFO, stream=sys.stderr)
    started = time.perf_counter()
    log.info("contrail %s", name)
    try:
        body(load_params(params_path))
    except (ParamsError, SourceError, ValidationFailed, FileNotFoundError) as exc:
        log.error("contrail %s failed: %s", name, exc)
        raise typer.Exit(1) from None
    log.info("contrail %s done in %.1fs", name, time.perf_counter() - started)


def _stage_command(name: str, help_text: str) -> None:
    def command(params: Path = ParamsOption) -> None:
        from contrail import stages

        _run_stage(name, getattr(stages, name), params)

    app.command(name, help=help_text)(command)


_stage_command("ingest", "Read the data source and cut the window and the current month.")
_stage_command("validate", "Check raw data against the pandera contract; report problems.")
_stage_command("features", "Build leakage-free features and the time-based train/test split.")
_stage_command("train", "Fit the scikit-learn pipeline and choose the decision threshold.")
_stage_command("evaluate", "Score the test month with intervals, baseline and plots.")
_stage_command("drift", "Evidently data-drift report: training data vs the current month.")


@app.command()
def summary() -> None:
    """Print headline metrics, baseline, drift verdict and where the reports are."""
    from contrail.stages import summary as build_summary

    try:
        typer.echo(build_summary())
    except FileNotFoundError as exc:
        typer.echo(f"no results yet ({exc.filename}): run `dvc repro` first", err=True)
        raise typer.Exit(1) from None


@app.command("check-params")
def check_params(params: Path = ParamsOption) -> None:
    """Validate params.yaml and exit non-zero naming every bad key."""
    try:
        load_params(params)
    except ParamsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{params}: ok")


app.add_typer(report_app)
app.add_typer(serving_app)
