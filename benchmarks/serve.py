"""bench-serve: the BentoML service against a naive FastAPI + uvicorn app, same model, loopback.

    python benchmarks/serve.py [--seconds 10] [--workers 2]

Reports, in one table: the in-process floor (pipeline and fast path), then for each server
req/s and p50/p95/p99 latency and errors for one-flight requests at concurrency 1 and 16, and
rows/s for 1,000-flight batches. Both servers run the model in models/ (imported into a
throwaway BentoML home) with the same number of worker processes, on 127.0.0.1 only, and
every load phase is bounded by --seconds. The load generator is a minimal asyncio HTTP/1.1
keep-alive client, so it takes as little of the shared CPU as possible.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel

REPO = Path(__file__).resolve().parent.parent
BATCH_ROWS = 1000
STARTUP_SECONDS = 90


WEATHER = ("temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib")  # fmt: skip


class NaiveFlight(BaseModel):
    carrier: str
    origin: str
    dest: str
    sched_dep_time: int
    sched_arr_time: int
    year: int
    month: int
    day: int
    distance: float
    temp: float | None
    dewp: float | None
    humid: float | None
    wind_dir: float | None
    wind_speed: float | None
    wind_gust: float | None
    precip: float | None
    pressure: float | None
    visib: float | None


class NaiveRequest(BaseModel):
    flights: list[NaiveFlight]


def naive_app():
    """What a first version looks like: lax pydantic, a DataFrame per request, the pipeline."""
    from fastapi import FastAPI

    from contrail.features import build_features
    from contrail.model import TrainedModel

    model = TrainedModel.load(Path(os.environ["BENCH_MODEL_DIR"]))
    app = FastAPI()

    @app.post("/predict")
    def predict(request: NaiveRequest) -> dict:
        raw = pd.DataFrame([f.model_dump() for f in request.flights])
        raw = raw.astype(dict.fromkeys(WEATHER, "float64"))
        probability = model.predict_proba(build_features(raw, model.card.features))
        return {
            "predictions": [
                {"probability": float(p), "delayed": bool(p >= model.card.threshold)}
                for p in probability
            ]
        }

    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(process: subprocess.Popen, port: int, path: str) -> None:
    import httpx

    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server on port {port} not ready after {STARTUP_SECONDS}s")


@dataclass
class Result:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    def row(self, server: str, scenario: str, rows_per_request: int) -> str:
        q = np.percentile(self.latencies_ms, [50, 95, 99]) if self.latencies_ms else [np.nan] * 3
        rate = self.requests / self.seconds
        return (
            f"| {server} | {scenario} | {rate:,.0f} | {rate * rows_per_request:,.0f} | "
            f"{q[0]:.1f} | {q[1]:.1f} | {q[2]:.1f} | {self.errors} |"
        )


async def _client(port: int, bodies: list[bytes], deadline: float, index: int, out: Result) -> None:
    # Connections opened at the same instant are all accepted by whichever worker wakes first
    # (asyncio accepts the whole backlog at once); independent clients arrive spread out.
    await asyncio.sleep(0.01 * index)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = index * 997  # each connection walks the request bodies from its own offset
    try:
        while time.perf_counter() < deadline:
            body = bodies[i % len(bodies)]
            i += 1
            request = (
                b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            sent = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            out.latencies_ms.append((time.perf_counter() - sent) * 1000)
            out.requests += 1
            if not head.startswith(b"HTTP/1.1 200"):
                out.errors += 1
    except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
        out.errors += 1
    finally:
        writer.close()


async def _load(port: int, bodies: list[bytes], concurrency: int, seconds: float) -> Result:
    result = Result(0, 0, seconds, [])
    deadline = time.perf_counter() + seconds
    await asyncio.gather(*(_client(port, bodies, deadline, k, result) for k in range(concurrency)))
    return result


def run_load(port: int, bodies: list[bytes], concurrency: int, seconds: float) -> Result:
    asyncio.run(_load(port, bodies, concurrency, min(2.0, seconds / 4)))  # warm-up, discarded
    return asyncio.run(_load(port, bodies, concurrency, seconds))


def _timed(call, repeat: int) -> float:
    call()
    started = time.perf_counter()
    for _ in range(repeat):
        call()
    return (time.perf_counter() - started) / repeat * 1000


def in_process_floor(model_dir: Path, raw: pd.DataFrame) -> list[str]:
    from contrail.features import build_features
    from contrail.model import TrainedModel
    from contrail.serving.fast import CompiledModel

    model = TrainedModel.load(model_dir)
    fast = CompiledModel(model)
    one, batch = raw.head(1), raw.head(BATCH_ROWS)

    def columns(frame: pd.DataFrame) -> dict:
        return {name: frame[name].to_numpy() for name in fast.inputs}

    one_columns, batch_columns = columns(one), columns(batch)
    cases = [
        (
            "pipeline: build_features + predict_proba",
            1,
            lambda: model.predict_proba(build_features(one, fast.features)),
            50,
        ),
        (
            "pipeline: build_features + predict_proba",
            BATCH_ROWS,
            lambda: model.predict_proba(build_features(batch, fast.features)),
            5,
        ),
        (
            "fast path (contrail.serving.fast)",
            1,
            lambda: fast.predict(fast.features_for(one_columns)),
            300,
        ),
        (
            "fast path (contrail.serving.fast)",
            BATCH_ROWS,
            lambda: fast.predict(fast.features_for(batch_columns)),
            10,
        ),
    ]
    lines = ["| in-process | rows | ms per call | rows/s |", "|---|---:|---:|---:|"]
    for name, rows, call, repeat in cases:
        ms = _timed(call, repeat)
        lines.append(f"| {name} | {rows:,} | {ms:.2f} | {rows / ms * 1000:,.0f} |")
    return lines


def _bodies(raw: pd.DataFrame, rows: int, count: int) -> list[bytes]:
    from contrail.features import required_inputs
    from contrail.model import TrainedModel

    columns = required_inputs(TrainedModel.load(REPO / "models").card.features)
    records = json.loads(raw[columns].to_json(orient="records"))
    return [
        json.dumps(
            {"flights": [records[(k * rows + j) % len(records)] for j in range(rows)]}
        ).encode()
        for k in range(count)
    ]


def start_bentoml(home: Path, workers: int, port: int) -> subprocess.Popen:
    from contrail.serving.package import import_model

    os.environ["BENTOML_HOME"] = str(home / "bentoml")
    tag = import_model(
        REPO / "models",
        lock_path=REPO / "dvc.lock",
        metrics_path=REPO / "reports/evaluation/metrics.json",
        read_raw_sample=lambda: pd.read_parquet(REPO / "data/raw/window.parquet"),
        repo=REPO,
    )
    env = {
        **os.environ,
        "CONTRAIL_MODEL_TAG": tag,
        "CONTRAIL_PREDICTION_LOG_DIR": str(home / "predictions"),
        "BENTOML_CONFIG_OPTIONS": f"services.flight_delay.workers={workers} "
        "api_server.logging.access.enabled=false",
    }
    command = [sys.executable, "-m", "bentoml", "serve", "contrail.serving.service:FlightDelay"]
    return subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_naive(workers: int, port: int) -> subprocess.Popen:
    env = {**os.environ, "BENCH_MODEL_DIR": str(REPO / "models"), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "serve:naive_app",
        "--app-dir",
        str(REPO / "benchmarks"),
    ]
    return subprocess.Popen(
        [
            *command,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def bench_server(
    name: str, process: subprocess.Popen, port: int, ready: str, singles, batches, args
) -> list[str]:
    try:
        _wait_ready(process, port, ready)
        # Two connections per worker: keep-alive pins a connection to the worker that took it.
        batch_concurrency = 2 * args.workers
        return [
            run_load(port, singles, 1, args.seconds).row(name, "1 flight, c=1", 1),
            run_load(port, singles, 16, args.seconds).row(name, "1 flight, c=16", 1),
            run_load(port, batches, batch_concurrency, args.seconds).row(
                name, f"{BATCH_ROWS:,} flights, c={batch_concurrency}", BATCH_ROWS
            ),
        ]
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load phase")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per server")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.chdir(REPO)

    raw = pd.read_parquet(REPO / "data/raw/current.parquet")  # the month after training
    print(
        f"bench-serve: {os.cpu_count()} CPUs, {args.workers} workers per server, {args.seconds:.0f}s per phase\n"
    )
    print("\n".join(in_process_floor(REPO / "models", raw)), "\n", flush=True)
    singles, batches = _bodies(raw, 1, 2000), _bodies(raw, BATCH_ROWS, 8)
    lines = [
        "| server | load | req/s | rows/s | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as home:
        port = _free_port()
        lines += bench_server(
            "BentoML (contrail)", start_bentoml(Path(home), args.workers, port), port, "/readyz",
            singles, batches, args,
        )  # fmt: skip
        port = _free_port()
        lines += bench_server(
            "FastAPI + uvicorn (naive)", start_naive(args.workers, port), port, "/docs",
            singles, batches, args,
        )  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    main()
