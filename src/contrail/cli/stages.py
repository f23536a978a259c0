"""The DVC pipeline's commands: one per stage (dvc.yaml runs `contrail <stage>`), the params
check that is the pipeline's first stage, the summary, and the remote plugin `make repro`
installs."""

from __future__ import annotations

import importlib
import logging
import sys
import time
from pathlib import Path

import typer

from contrail.cli.common import ParamsOption, guard
from contrail.startup import loading

stages_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
log = logging.getLogger("contrail")


def run_stage(name: str, params_path: Path, module: str = "", function: str = "run") -> None:
    """`contrail.stages.<module or name>.<function>` with the params file, timed in the log."""
    logging.basicConfig(format="%(message)s", level=logging.INFO, stream=sys.stderr)
    started = time.perf_counter()
    log.info("contrail %s", name)
    with loading():
        from contrail.params import load_params

        stage = importlib.import_module(f"contrail.stages.{module or name}")
    getattr(stage, function)(load_params(params_path))
    log.info("contrail %s done in %.1fs", name, time.perf_counter() - started)


def _stage_command(name: str, help_text: str) -> None:
    def command(params: Path = ParamsOption) -> None:
        guard(name, lambda: run_stage(name, params))

    stages_app.command(name, help=help_text)(command)


_stage_command(
    "ingest", "Read the data source, cut the window and the current month, check the contract."
)
_stage_command("features", "Build leakage-free features and the time-based train/test split.")
_stage_command("train", "Fit the scikit-learn pipeline and choose the decision threshold.")
_stage_command("evaluate", "Score the test month with intervals, baseline and plots.")
_stage_command("drift", "Per-feature drift scores: training data vs the current month.")


@stages_app.command("drift-report")
def drift_report(params: Path = ParamsOption) -> None:
    """Render Evidently's HTML drift report (reports/drift.html) from the drift stage's inputs.

    Outside `dvc repro`, for people: `make run`, `make drift-report` and the PR workflow."""
    guard("drift-report", lambda: run_stage("drift-report", params, "drift", "render_html"))


@stages_app.command()
def summary(params: Path = ParamsOption) -> None:
    """Print headline metrics, baseline, drift verdict and where the reports are."""
    from contrail.summary import summarise

    typer.echo(guard("summary", lambda: summarise(params)))


@stages_app.command("check-params")
def check_params(params: Path = ParamsOption) -> None:
    """Validate the whole params file and exit non-zero naming every bad key.

    Also the pipeline's first DVC stage, which depends on all of params.yaml: a misspelt
    section that no other stage reads still stops `dvc repro`."""
    from contrail.params import load_params

    guard("check-params", lambda: load_params(params))
    typer.echo(f"{params}: ok")


@stages_app.command("remote-plugin")
def remote_plugin(url: str = typer.Argument(..., help="The DVC remote URL or path.")) -> None:
    """Print the dependency group with the DVC plugin that URL needs; nothing for a local path.

    `make repro`/`make push` install that group (`uv sync --frozen --group ...`). An
    unsupported scheme exits 1 naming it and the supported ones (never the URL itself)."""
    from contrail.remote import plugin_group

    group = guard("remote-plugin", lambda: plugin_group(url))
    if group:
        typer.echo(group)
