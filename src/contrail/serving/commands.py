"""What `contrail package`, `contrail serve` and `contrail smoke` do: the pipeline's model into
the BentoML store and a Bento, out on a port, and checked where it is deployed."""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path

import typer

from contrail import paths

REPO = Path(".")
SERVICE = "contrail.serving.service:FlightDelay"


class ServeError(RuntimeError):
    """`contrail serve` cannot listen where it was asked to; the message names the port."""


def check_port(host: str, port: int) -> None:
    """Bind `host:port` once and let it go, so a port in use is one line before BentoML starts
    (BentoML prints a 50-line traceback). SO_REUSEADDR as BentoML's own socket sets it: a port
    whose old connections linger in TIME_WAIT is free to it, so it is free here too."""
    again = "(choose another: make serve PORT=<port>, or contrail serve --port <port>)"
    if not 1 <= port <= 65535:
        raise ServeError(f"port {port} is not a TCP port, 1 to 65535 {again}")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ServeError(f"host {host!r} is not an address to listen on: {exc.strerror}") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServeError(f"port {port} on {host} is in use {again}") from None
            raise ServeError(f"cannot listen on port {port} on {host}: {exc.strerror}") from None


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
    """Replace this process with `bentoml serve` of the checkout's model, once the port and the
    prediction-log folder are known to work: BentoML would report either as a traceback."""
    from contrail.serving.prediction_log.format import log_directory
    from contrail.serving.prediction_log.writer import check_folder

    check_port(host, port)
    check_folder(log_directory())
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
