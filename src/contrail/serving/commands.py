"""What `contrail package`, `contrail serve` and `contrail smoke` do: the pipeline's model into
the BentoML store and a Bento, out on a port, and checked where it is deployed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from contrail import paths

REPO = Path(".")
SERVICE = "contrail.serving.service:FlightDelay"


def import_pipeline_model() -> str:
    """The checkout's model in the BentoML store (imported once); its tag."""
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
    except (PackagingError, FileNotFoundError) as exc:
        raise PackagingError(f"cannot package the model: {exc}") from None
    typer.echo(f"model {tag} is in the BentoML store")
    return tag


def package() -> str:
    """Import the model, then `bentoml build`; the line naming the Bento (`make image` reads it)."""
    from contrail.serving.package import build_bento

    return f"built Bento {build_bento(REPO.resolve(), import_pipeline_model())}"


def serve(host: str, port: int) -> None:
    """Replace this process with `bentoml serve` of the checkout's model."""
    os.environ["CONTRAIL_MODEL_TAG"] = import_pipeline_model()
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


def smoke(
    url: str,
    expect_version: str | None,
    goldens: Path | None,
    p95_budget_ms: float,
    burst: int,
    ready_timeout: float,
    timeout: float,
) -> bool:
    """Run the smoke checks against `url`, one line each; False at the first failure."""
    from contrail.serving import smoke as checks

    loaded = checks.read_goldens(goldens) if goldens is not None else None
    client = checks.client_for(url, timeout)
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
                return False
            typer.echo(result.line())
            passed += 1
    typer.echo(f"smoke passed: {passed} checks against {client.base_url}")
    return True
