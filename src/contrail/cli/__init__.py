"""`contrail`: one command per DVC stage and CI step, so dvc.yaml and workflows stay thin.

One file per command group parses options and dispatches to the area's module; `common`
declares the shared options, the exit codes and the guard every command runs in. Commands
import what they need when they run: `contrail --help` starts in a fraction of a second, and
a stage pays only for its own libraries. That leaves this module, imported before any of
them, to size the OpenMP and BLAS thread pools to the CPUs the process may use
(`contrail.cpus`), for every command and the `dvc repro` a command runs.
"""

from __future__ import annotations

import os

import typer

from contrail import cpus

os.environ.update(cpus.thread_environment(cpus.usable_cpus(), os.environ))

from contrail.cli import monitor, release, report, serving, stages

app = typer.Typer(
    help="GitOps ML pipeline for the flight-delay model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(stages.stages_app)
app.add_typer(monitor.monitor_app)
app.add_typer(report.report_app)
app.add_typer(serving.serving_app)
app.add_typer(release.release_app)
