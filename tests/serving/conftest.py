"""Serving fixtures: a throwaway BentoML store, the small trained model packaged into it, and one
`bentoml serve` process on a free loopback port shared by the contract tests; also a model with
another estimator and fewer features, for the seam that serves any classifier."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from support.loopback import free_port
from support.serving import as_flights, git_repo_with_one_commit, write_model

from contrail import months
from contrail.features import LABEL
from contrail.model import TrainedModel, build_pipeline
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
def flight(raw_test, trained_model) -> dict:
    """The test month's first flight, as the served model's API takes it."""
    (row,) = as_flights(raw_test.head(1), trained_model.card.features)
    return row


@pytest.fixture(scope="session")
def git_repo(tmp_path_factory) -> tuple[Path, str]:
    """A repository nobody else commits to (unlike the working copy): its path and HEAD sha."""
    directory = tmp_path_factory.mktemp("repo")
    return directory, git_repo_with_one_commit(directory)


@pytest.fixture(scope="session")
def pipeline_dir(trained_model, tmp_path_factory) -> Path:
    """The session's trained model saved as the pipeline does, with its dvc.lock and metrics."""
    return write_model(trained_model, tmp_path_factory.mktemp("pipeline"))


def package(directory: Path, raw_sample: pd.DataFrame, repo: Path) -> str:
    from contrail.serving.package import import_model

    return import_model(
        directory / "models",
        lock_path=directory / "dvc.lock",
        metrics_path=directory / "metrics.json",
        read_raw_sample=lambda: raw_sample,
        repo=repo,
    )


@pytest.fixture(scope="session")
def packaged_model(pipeline_dir, raw_test, git_repo) -> str:
    """The session's trained model in the BentoML store; its tag."""
    return package(pipeline_dir, raw_test, git_repo[0])


# Dropped from the forest model: `day_of_week` takes year, month and day out of the API with it.
DROPPED_FEATURES = ("wind_gust", "day_of_week")


@pytest.fixture(scope="session")
def forest_model(trained_model, feature_tables, params: Params) -> TrainedModel:
    """Another estimator on fewer features: the project's ColumnTransformer + a random forest."""
    kept = [name for name in params.features.columns if name not in DROPPED_FEATURES]
    features = params.features.model_copy(
        update={"numeric": tuple(n for n in params.features.numeric if n in kept)}
    )
    encode = build_pipeline(features, params.train, params.seed)[0]
    forest = RandomForestClassifier(n_estimators=25, min_samples_leaf=20, random_state=0)
    pipeline = Pipeline([("encode", encode), ("classify", forest)])
    train = feature_tables["train"]
    pipeline.fit(train[kept], train[LABEL].to_numpy(dtype=int))
    return TrainedModel(pipeline, replace(trained_model.card, features=kept, threshold=0.3))


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


@contextmanager
def running_service(tag: str, workdir: Path) -> Iterator[Server]:
    """`bentoml serve` of the stored model `tag`, once /readyz answers; stopped on exit."""
    process, port, output = start_service(tag, workdir)
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


@pytest.fixture(scope="session")
def server(packaged_model: str, tmp_path_factory) -> Iterator[Server]:
    with running_service(packaged_model, tmp_path_factory.mktemp("serve")) as running:
        yield running


@pytest.fixture(scope="module")
def forest_server(forest_model, raw_test, git_repo, tmp_path_factory) -> Iterator[Server]:
    """The forest model packaged and served like the pipeline's own."""
    tag = package(
        write_model(forest_model, tmp_path_factory.mktemp("forest")), raw_test, git_repo[0]
    )
    with running_service(tag, tmp_path_factory.mktemp("serve-forest")) as running:
        yield running
