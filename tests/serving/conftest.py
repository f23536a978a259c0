"""Serving fixtures: a throwaway BentoML store, the small trained model packaged into it, and one
`bentoml serve` process on a free loopback port shared by the contract tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
from serving_support import REPO, write_model

from contrail import months
from contrail.params import Params

# BentoML reads BENTOML_HOME when it first touches its store; set it before any test does, so
# the suite never reads or writes ~/bentoml.
BENTOML_HOME = Path(tempfile.mkdtemp(prefix="contrail-bentoml-"))
os.environ["BENTOML_HOME"] = str(BENTOML_HOME)

READY_TIMEOUT_S = 90


def pytest_sessionfinish(session, exitstatus) -> None:
    shutil.rmtree(BENTOML_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def raw_test(window_and_current, params: Params) -> pd.DataFrame:
    """Raw rows of the test month with an arrival: the rows of feature_tables["test"], in order."""
    window, _ = window_and_current
    is_test = months.of(window) == params.data.test_index
    return window[is_test & window["arr_delay"].notna()].reset_index(drop=True)


@pytest.fixture(scope="session")
def packaged_model(trained_model, raw_test, tmp_path_factory) -> str:
    """The session's trained model in the BentoML store; its tag."""
    from contrail.serving.package import import_model

    directory = write_model(trained_model, tmp_path_factory.mktemp("pipeline"))
    return import_model(
        directory / "models",
        lock_path=directory / "dvc.lock",
        metrics_path=directory / "metrics.json",
        raw_sample=raw_test,
        repo=REPO,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Server:
    url: str
    log_dir: Path
    output: Path

    def post(self, body: bytes | str, content_type: str = "application/json") -> httpx.Response:
        return httpx.post(
            f"{self.url}/predict", content=body, headers={"Content-Type": content_type}, timeout=30
        )


def start_service(tag: str, workdir: Path) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    output = workdir / "server.log"
    env = {
        **os.environ,
        "CONTRAIL_MODEL_TAG": tag,
        "CONTRAIL_PREDICTION_LOG_DIR": str(workdir / "predictions"),
        "BENTOML_CONFIG_OPTIONS": "services.flight_delay.workers=1",
        "BENTOML_DO_NOT_TRACK": "true",
    }
    command = [sys.executable, "-m", "bentoml", "serve", "contrail.serving.service:FlightDelay"]
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return process, port, output


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def server(packaged_model: str, tmp_path_factory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("serve")
    process, port, output = start_service(packaged_model, workdir)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"bentoml serve exited ({process.returncode}):\n{output.read_text()}")
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"not ready after {READY_TIMEOUT_S}s:\n{output.read_text()}")
            time.sleep(0.25)
        yield Server(url=url, log_dir=workdir / "predictions", output=output)
    finally:
        stop(process)
