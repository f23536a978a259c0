"""`contrail package`, `contrail serve` and `contrail smoke`: the pipeline's model into BentoML,
out on a port, and checked where it is deployed."""

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


GoldensOption = typer.Option(
    None, help="Goldens JSON to replay (default: the service's GET /goldens)."
)


@serving_app.command()
def smoke(
    url: str = typer.Option(..., help="Base URL of the service, e.g. http://127.0.0.1:3000."),
    expect_version: str | None = typer.Option(
        None, help="model_version (or model tag) /metadata must name."
    ),
    goldens: Path | None = GoldensOption,
    p95_budget_ms: float = typer.Option(250.0, min=0, help="Budget for the burst's p95 latency."),
    burst: int = typer.Option(50, min=1, help="One-flight requests timed for the p95."),
    ready_timeout: float = typer.Option(
        30.0, min=0, help="Seconds to wait for /readyz to answer 200."
    ),
    timeout: float = typer.Option(10.0, min=0.1, help="Seconds allowed for each request."),
) -> None:
    """Check a running service (local, staging, production): probes, version, goldens, 4xx for
    malformed requests, metrics, p95 latency. One line per check; exit 1 at the first failure."""
    from contrail.serving import smoke as checks

    try:
        loaded = checks.read_goldens(goldens) if goldens is not None else None
        client = checks.client_for(url, timeout)
    except checks.UsageError as exc:
        typer.echo(f"contrail smoke: {exc}", err=True)
        raise typer.Exit(2) from None
    run = checks.Smoke(
        client,
        expect_version=expect_version,
        goldens=loaded,
        p95_budget_ms=p95_budget_ms,
        burst=burst,
        ready_timeout_s=ready_timeout,
    )
    passed = 0
    with client:
        for result in checks.run_checks(run):
            if not result.ok:
                typer.echo(f"smoke failed at {result.name}: {result.detail}")
                raise typer.Exit(1)
            typer.echo(result.line())
            passed += 1
    typer.echo(f"smoke passed: {passed} checks against {client.base_url}")
