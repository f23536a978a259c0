"""The prediction-log path of the monitor, end to end: serve, log, join outcomes, monitor.

The real service (`bentoml serve` of the session's packaged model, trained on Jan-Feb 2013 and
tested on Mar) answers April flights and logs them to data/production/predictions of a
directory laid out like the repository. An outcomes file holds the arrivals of most of them
(some never arrived, some have no outcome yet) and of flights that were never asked about.
`contrail monitor`, run there as the scheduled job runs it, must check April, count every
logged flight, label exactly the flights with an outcome, and measure the ROC AUC scikit-learn
gives on the probabilities the service returned. Without outcomes it must say performance was
not judged.

It lives under tests/serving/ for that folder's conftest: the BentoML store, the packaged
model and `running_service`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from support import monitor_project
from support.serving import as_flights

from contrail import months
from contrail.serving.prediction_log.format import ROTATE_BYTES_ENV
from contrail.serving.prediction_log.reader import FLIGHT_KEY, read_log

APRIL = "2013-04"
POSTED = 400
BATCH = 100
# Posted flights left out of the outcomes file (no outcome yet), and flights in it that were
# never posted.
NO_OUTCOME = 40
NOT_POSTED = 150
LOG_DIR = "data/production/predictions"
OUTCOMES = "data/production/outcomes.parquet"
MIN_ROWS = 100


@pytest.fixture
def running_service(pytestconfig) -> Callable:
    """conftest.py's `running_service`: conftest modules are plugins, not importable."""
    conftest = pytestconfig.pluginmanager.get_plugin(str(Path(__file__).with_name("conftest.py")))
    return conftest.running_service


def april_flights(window_and_current) -> pd.DataFrame:
    """The session's April sample, shuffled, without flights that share a FLIGHT_KEY: each
    posted flight then has exactly one outcome row or none (ambiguity is join_outcomes's own
    test's business)."""
    _, current = window_and_current
    assert set(months.of(current)) == {months.index(APRIL)}
    unique = current[~current.duplicated(list(FLIGHT_KEY), keep=False)]
    return unique.sample(frac=1, random_state=7).reset_index(drop=True)


def write_params(root: Path, outcomes: str | None) -> None:
    """The prediction log as the monitor's source, the newest logged month checked, minimums a
    few hundred flights meet."""
    monitor_project.write_params(root, *monitor_settings(outcomes))


def monitor_settings(outcomes: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    monitor = {"source": LOG_DIR, "outcomes": outcomes, "clock": "latest", "bootstrap_samples": 50}
    return monitor, {"min_rows": MIN_ROWS, "min_labelled_rows": MIN_ROWS}


@dataclass(frozen=True)
class Run:
    stdout: str
    stderr: str
    report: dict[str, Any]


def contrail_monitor(root: Path) -> Run:
    """`contrail monitor` as the scheduled job runs it: the installed command, cwd the project."""
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "OMP_NUM_THREADS": "1",
    }
    (root / "reports/monitor.json").unlink(missing_ok=True)
    done = subprocess.run(
        ["contrail", "monitor"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    report = json.loads((root / "reports/monitor.json").read_text())
    return Run(done.stdout, done.stderr, report)


def decision_line(decision: dict[str, Any]) -> str:
    return f"retrain: {'yes' if decision['retrain'] else 'no'} — {decision['reason']}"


def test_monitor_measures_the_flights_the_service_logged_against_their_outcomes(
    running_service,
    packaged_model,
    trained_model,
    feature_tables,
    window_and_current,
    tmp_path,
    monkeypatch,
):
    root = tmp_path / "repo"
    flights = april_flights(window_and_current)
    posted = flights.head(POSTED)

    # 1. Serve April's flights in batches; each request's line rotates the previous file, so
    # the monitor reads several closed files.
    monkeypatch.setenv(ROTATE_BYTES_ENV, "1")
    (root / "data/production").mkdir(parents=True)
    features = trained_model.card.features
    returned: list[float] = []
    with running_service(packaged_model, root / "data/production") as server:
        assert server.log_dir == root / LOG_DIR
        for start in range(0, POSTED, BATCH):
            batch = as_flights(posted.iloc[start : start + BATCH], features)
            response = server.post(json.dumps({"flights": batch}))
            assert response.status_code == 200, response.text
            returned += [p["probability"] for p in response.json()["predictions"]]
    # Stopped: the on-shutdown hook closed the file being written (no store: it stays).
    assert len(list((root / LOG_DIR).glob("predictions-*.jsonl"))) == POSTED // BATCH
    assert list((root / LOG_DIR).glob("predictions-*.open")) == []
    logged = read_log(root / LOG_DIR)
    assert len(logged) == POSTED and logged.attrs["skipped_lines"] == 0
    assert logged["probability"].tolist() == returned

    # 2. Outcomes: the posted flights but the last NO_OUTCOME, and flights never posted.
    has_outcome = posted.head(POSTED - NO_OUTCOME)
    never_posted = flights.iloc[POSTED : POSTED + NOT_POSTED]
    outcomes = pd.concat([never_posted, has_outcome]).sample(frac=1, random_state=3)
    (root / OUTCOMES).parent.mkdir(parents=True, exist_ok=True)
    outcomes.to_parquet(root / OUTCOMES, index=False)

    # 3. The repository's layout around them.
    monitor_project.write_project(root, trained_model, feature_tables, *monitor_settings(OUTCOMES))

    # What the monitor must find, from the flights and the answers alone.
    probability = np.asarray(returned)
    arrival = posted["arr_delay"].to_numpy(dtype=float)
    labelled = np.arange(POSTED) < POSTED - NO_OUTCOME
    labelled &= ~np.isnan(arrival)
    # Some flights with an outcome never arrived: matched, yet unlabelled.
    assert MIN_ROWS <= labelled.sum() < POSTED - NO_OUTCOME
    y = (arrival[labelled] > 15).astype(int)
    expected_auc = roc_auc_score(y, probability[labelled])

    # 4. The monitor on the log joined to the outcomes.
    run = contrail_monitor(root)
    report = run.report
    assert report["month"] == APRIL
    assert report["source"] == LOG_DIR
    assert report["rows"] == POSTED
    assert report["problems"] == []
    performance = report["performance"]
    assert performance is not None, report
    assert performance["labelled_rows"] == labelled.sum()
    assert performance["delay_rate"] == pytest.approx(y.mean(), abs=1e-6)
    assert performance["roc_auc"] == pytest.approx(expected_auc, abs=1e-6)
    assert run.stdout.strip().splitlines()[-1] == decision_line(report["decision"])
    assert "performance not judged" not in report["decision"]["reason"]

    # Without outcomes the same log is checked, but performance is not judged.
    write_params(root, None)
    (root / "reports/monitor-history.csv").unlink()
    run = contrail_monitor(root)
    report = run.report
    assert report["month"] == APRIL and report["rows"] == POSTED
    assert report["performance"] is None
    reason = report["decision"]["reason"]
    assert report["decision"]["retrain"] is False
    assert f"only 0 flights with an outcome (minimum {MIN_ROWS})" in reason
    assert "performance not judged" in reason
    assert run.stdout.strip().splitlines()[-1] == decision_line(report["decision"])
