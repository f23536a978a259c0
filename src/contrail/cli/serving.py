"""`contrail package`, `contrail serve` and `contrail smoke` (`contrail.serving.commands`)."""

from __future__ import annotations

from pathlib import Path

import typer

from contrail.cli.common import ExitCode, guard

serving_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
GoldensOption = typer.Option(
    None, help="Goldens JSON to replay (default: the service's GET /goldens)."
)


@serving_app.command()
def package() -> None:
    """Import models/ into the BentoML store (labels, metadata) and run `bentoml build`."""
    from contrail.serving import commands

    typer.echo(guard("package", commands.package))


@serving_app.command()
def serve(
    port: int = typer.Option(3000, help="Port on 127.0.0.1 (use --host to expose it)."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
) -> None:
    """Serve the pipeline's current model locally (imports it into the store first)."""
    from contrail.serving import commands

    guard("serve", lambda: commands.serve(host, port))


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
    from contrail.serving import commands

    passed = guard(
        "smoke",
        lambda: commands.smoke(
            url, expect_version, goldens, p95_budget_ms, burst, ready_timeout, timeout
        ),
        prefix="contrail smoke",
    )
    if not passed:
        raise typer.Exit(ExitCode.FIX)
