"""`contrail package` and `contrail serve`: the pipeline's model into BentoML, and out on a port."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from contrail import paths

serving_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

REPO = Path(".")
SERVICE = "contrail.serving.service:FlightDelay"


def _import_pipeline_model() -> str:
    from contrail.io import read_parquet
    from contrail.serving.package import PackagingError, import_model

    try:
        tag = import_model(
            paths.MODEL_DIR,
            lock_path=REPO / "dvc.lock",
            metrics_path=paths.METRICS,
            read_raw_sample=lambda: read_parquet(paths.RAW_WINDOW),
            repo=REPO,
        )
    except (PackagingError, FileNotFoundError, RuntimeError) as exc:
        typer.echo(f"contrail: cannot package the model: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"model {tag} is in the BentoML store")
    return tag


@serving_app.command()
def package() -> None:
    """Import models/ into the BentoML store (labels, metadata) and run `bentoml build`."""
    from contrail.serving.package import PackagingError, build_bento

    tag = _import_pipeline_model()
    try:
        bento = build_bento(REPO.resolve(), tag)
    except PackagingError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"built Bento {bento}")


@serving_app.command()
def serve(
    port: int = typer.Option(3000, help="Port on 127.0.0.1 (use --host to expose it)."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
) -> None:
    """Serve the pipeline's current model locally (imports it into the store first)."""
    tag = _import_pipeline_model()
    os.environ["CONTRAIL_MODEL_TAG"] = tag
    command = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        SERVICE,
        "--host",
        host,
        "--port",
        str(port),
    ]
    os.execvp(command[0], command)
