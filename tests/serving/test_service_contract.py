"""Contract of the running service: good requests, every kind of bad one, parity, prediction log."""

from __future__ import annotations

import hashlib
import json
import time

import httpx
import numpy as np
import pandas as pd
import pytest
from support.serving import as_flights

from contrail.features import build_features
from contrail.serving.api_contract import MAX_BATCH_SIZE, PredictResponse
from contrail.serving.prediction_log.reader import read_predictions


@pytest.fixture(scope="module")
def flight(raw_test, trained_model) -> dict:
    (row,) = as_flights(raw_test.head(1), trained_model.card.features)
    return row


def body(*flights: dict, **top_level) -> str:
    return json.dumps({"flights": list(flights), **top_level})


def test_a_flight_gets_probability_label_and_model_version(
    server, flight, raw_test, packaged_model, trained_model
):
    response = server.post(body(flight, {**flight, "dest": "ZZZ"}))
    assert response.status_code == 200
    first, unseen = PredictResponse.model_validate_json(response.content).predictions
    expected = trained_model.predict_proba(
        build_features(raw_test.head(1), trained_model.card.features)
    )
    assert first.probability == pytest.approx(expected[0], rel=0, abs=1e-9)
    assert first.delayed == (first.probability >= trained_model.card.threshold)
    assert first.model_version == packaged_model.split(":")[1]
    assert (first.unseen, unseen.unseen) == ([], ["dest"])


def test_metadata_describes_the_served_model(
    server, packaged_model, pipeline_dir, git_repo, params
):
    md5 = hashlib.md5((pipeline_dir / "models/model.joblib").read_bytes()).hexdigest()
    metadata = httpx.get(f"{server.url}/metadata", timeout=10).json()
    assert (metadata["model_tag"], metadata["model_version"]) == (packaged_model, md5[:16])
    assert (metadata["dvc_model_md5"], metadata["git_commit"]) == (md5, git_repo[1])
    assert (metadata["train_start"], metadata["train_end"]) == ("2013-01", "2013-02")
    assert metadata["features"] == params.features.columns
    assert metadata["metrics"] == {"roc_auc": 0.7, "f1": 0.5}
    assert metadata["max_batch_size"] == 1000


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/metrics"])
def test_probes_and_metrics_answer(server, path):
    response = httpx.get(f"{server.url}{path}", timeout=10)
    assert response.status_code == 200
    if path == "/metrics":
        assert "bentoml_service_request_total" in response.text


BAD_FLIGHTS = {
    "missing field": (lambda f: {k: v for k, v in f.items() if k != "origin"}, "flights[0].origin"),
    "extra field": (lambda f: {**f, "arr_delay": 12.0}, "flights[0].arr_delay"),
    "wrong type": (lambda f: {**f, "carrier": 7}, "flights[0].carrier"),
    "numeric string": (lambda f: {**f, "distance": "40"}, "flights[0].distance"),
    "float for an int": (lambda f: {**f, "month": 3.0}, "flights[0].month"),
    "null where not allowed": (lambda f: {**f, "distance": None}, "flights[0].distance"),
    "out of range": (lambda f: {**f, "humid": 140.0}, "flights[0].humid"),
    "not an HHMM time": (lambda f: {**f, "sched_dep_time": 1275}, "flights[0].sched_dep_time"),
    "no such date": (lambda f: {**f, "month": 2, "day": 30}, "flights[0].day"),
    "unknown carrier": (lambda f: {**f, "carrier": "ZZ"}, "flights[0].carrier"),
    "unknown origin": (lambda f: {**f, "origin": "BOS"}, "flights[0].origin"),
    "malformed destination": (lambda f: {**f, "dest": "iah"}, "flights[0].dest"),
}


@pytest.mark.parametrize("case", BAD_FLIGHTS, ids=list(BAD_FLIGHTS))
def test_a_bad_flight_is_a_422_naming_its_field(server, flight, case):
    mutate, field = BAD_FLIGHTS[case]
    response = server.post(body(mutate(flight)))
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_rejected(server, flight, token):
    response = server.post(body(flight).replace(json.dumps(flight["dewp"]), token, 1))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["flights[0].dewp"]


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ('{"flights": []}', 422, "flights"),
        (None, 422, "flights"),  # one flight over the maximum batch size
        ('{"flights": [], "debug": true}', 422, "debug"),
        ("{}", 422, "flights"),
        ("[]", 422, "<body>"),
        ('{"flights": [', 400, "<body>"),
        ("", 400, "<body>"),
    ],
    ids=[
        "empty batch",
        "oversized batch",
        "extra top-level key",
        "no flights",
        "not an object",
        "invalid JSON",
        "empty body",
    ],
)
def test_a_bad_body_is_rejected_naming_where(server, flight, payload, status, field):
    if payload is None:
        payload = body(*[flight] * (MAX_BATCH_SIZE + 1))
    response = server.post(payload)
    assert response.status_code == status
    assert field in [e["field"] for e in response.json()["errors"]]


def test_wrong_content_type_is_415(server, flight):
    response = server.post(body(flight), content_type="text/plain")
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]


def test_an_oversized_body_is_413(server):
    assert server.post(b" " * (3 * 1024 * 1024)).status_code == 413


def test_rejections_are_logged_as_one_warning_line_without_traceback(server, flight):
    server.post(body({**flight, "carrier": "ZZ"}, x9q_marker=1))
    deadline = time.monotonic() + 10
    while not (
        lines := [line for line in server.output.read_text().splitlines() if "x9q_marker" in line]
    ):
        assert time.monotonic() < deadline, "no log line for the rejected request"
        time.sleep(0.1)
    assert len(lines) == 1
    assert "[WARNING]" in lines[0]
    assert "flights[0].carrier" in lines[0] and "x9q_marker: Extra inputs" in lines[0]
    assert "Traceback" not in server.output.read_text()


def test_service_probabilities_equal_the_pipelines_on_the_test_split(
    server, raw_test, feature_tables, trained_model
):
    expected = trained_model.predict_proba(feature_tables["test"])
    flights = as_flights(raw_test, trained_model.card.features)
    got = []
    for start in range(0, len(flights), MAX_BATCH_SIZE):
        response = server.post(body(*flights[start : start + MAX_BATCH_SIZE]))
        assert response.status_code == 200
        got += [p["probability"] for p in response.json()["predictions"]]
    # One-flight requests take the small-batch path: check a few of those too.
    singles = [server.post(body(f)).json()["predictions"][0]["probability"] for f in flights[:5]]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(singles, expected[:5], rtol=0, atol=1e-9)


def test_served_flights_read_back_from_the_prediction_log(server, raw_test, trained_model):
    features = trained_model.card.features
    before = len(read_predictions(server.log_dir, features))
    sent = raw_test.iloc[100:107]
    response = server.post(body(*as_flights(sent, features)))
    logged = read_predictions(server.log_dir, features).iloc[before:].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        logged[features], build_features(sent.reset_index(drop=True), features)
    )
    assert logged["probability"].tolist() == [
        p["probability"] for p in response.json()["predictions"]
    ]
    assert (logged["model_version"] == response.json()["predictions"][0]["model_version"]).all()
    assert str(logged["timestamp"].dt.tz) == "UTC"


def test_the_verified_model_is_served_by_the_compiled_path(server):
    # The worker logs its start here, and would log falling back to the pipeline before it
    # (as the forest model's service does, tests/serving/test_service_any_estimator.py).
    log = server.output.read_text()
    assert "Service flight_delay initialized" in log
    assert "not the compiled fast path" not in log
