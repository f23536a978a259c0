"""`contrail`: one command per DVC stage and CI step, so dvc.yaml and workflows stay thin.

Commands import what they need when they run: `contrail --help` starts in a fraction of a
second, and a stage pays only for its own libraries.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from pathlib import Path

import typer

from contrail.errors import unexpected

app = typer.Typer(
    help="GitOps ML pipeline for the flight-delay model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
log = logging.getLogger("contrail")

ParamsOption = typer.Option(Path("params.yaml"), "--params", help="Parameters file.")


def _run_stage(name: str, params_path: Path) -> None:
    """Run `contrail.stages.<name>.run`, turning every failure into readable lines.

    Failures caused by data or params raise errors whose message names the file, key or
    column; anything else is reported in one line too (with a hint to get the traceback),
    because a stage must never greet a user with a raw traceback.
    """
    from contrail.data.sources import SourceError
    from contrail.io import UnreadableFile
    from contrail.params import ParamsError, load_params
    from contrail.stages import StageFailed

    logging.basicConfig(format="%(message)s", level=logging.INFO, stream=sys.stderr)
    started = time.perf_counter()
    log.info("contrail %s", name)
    try:
        params = load_params(params_path)
        importlib.import_module(f"contrail.stages.{name}").run(params)
    except (ParamsError, SourceError, StageFailed, FileNotFoundError, UnreadableFile) as exc:
        log.error("contrail %s failed: %s", name, exc)
        raise typer.Exit(1) from None
    except Exception as exc:  # a bug or an input no check foresaw: still one line
        log.error("%s", unexpected(f"contrail {name}", exc))
        raise typer.Exit(2) from None
    log.info("contrail %s done in %.1fs", name, time.perf_counter() - started)


def _stage_command(name: str, help_text: str) -> None:
    def command(params: Path = ParamsOption) -> None:
        _run_stage(name, params)

    app.command(name, help=help_text)(command)


_stage_command("ingest", "Read the data source and cut the window and the current month.")
_stage_command("validate", "Check raw data against the pandera contract; report problems.")
_stage_command("features", "Build leakage-free features and the time-based train/test split.")
_stage_command("train", "Fit the scikit-learn pipeline and choose the decision threshold.")
_stage_command("evaluate", "Score the test month with intervals, baseline and plots.")
_stage_command("drift", "Evidently data-drift report: training data vs the current month.")


@app.command()
def summary(params: Path = ParamsOption) -> None:
    """Print headline metrics, baseline, drift verdict and where the reports are."""
    from contrail import paths
    from contrail.io import read_json
    from contrail.metrics import Evaluation, MetricsFormatError
    from contrail.params import ParamsError, load_params
    from contrail.summary import render

    try:
        confidence = load_params(params).evaluate.confidence
        evaluation = Evaluation.from_json(read_json(paths.METRICS), str(paths.METRICS))
        stats = read_json(paths.FEATURE_STATS)
        text = render(evaluation, read_json(paths.DRIFT_JSON), stats, confidence)
    except FileNotFoundError as exc:
        typer.echo(f"no results yet ({exc.filename}): run `dvc repro` first", err=True)
        raise typer.Exit(1) from None
    except ParamsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    except MetricsFormatError as exc:
        typer.echo(f"{exc} (rerun `dvc repro`)", err=True)
        raise typer.Exit(1) from None
    typer.echo(text)


@app.command("check-params")
def check_params(params: Path = ParamsOption) -> None:
    """Validate the whole params file and exit non-zero naming every bad key.

    Also the pipeline's first DVC stage, which depends on all of params.yaml: a misspelt
    section that no other stage reads still stops `dvc repro`."""
    from contrail.params import ParamsError, load_params

    try:
        load_params(params)
    except ParamsError as exc:
        typer.echo(f"contrail check-params failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{params}: ok")


@app.command("remote-plugin")
def remote_plugin(url: str = typer.Argument(..., help="The DVC remote URL or path.")) -> None:
    """Print the dependency group with the DVC plugin that URL needs; nothing for a local path.

    `make repro`/`make push` install that group (`uv sync --frozen --group ...`). An
    unsupported scheme exits 2 naming it and the supported ones (never the URL itself)."""
    from contrail.remote import UnsupportedRemote, plugin_group

    try:
        group = plugin_group(url)
    except UnsupportedRemote as exc:
        typer.echo(f"contrail remote-plugin failed: {exc}", err=True)
        raise typer.Exit(2) from None
    if group:
        typer.echo(group)


def _add_subapps() -> None:
    from contrail.monitor.cli import monitor_app
    from contrail.report.cli import report_app
    from contrail.serving.cli import serving_app

    app.add_typer(monitor_app)
    app.add_typer(report_app)
    app.add_typer(serving_app)
    app.add_typer(importlib.import_module("contrail.release.cli").release_app)


_add_subapps()
