"""Contract of the running service: good requests, metadata, probes, parity, prediction log."""

from __future__ import annotations

import hashlib

import httpx
import numpy as np
import pandas as pd
import pytest
from support.serving import as_flights, predict_body

from contrail.features import build_features
from contrail.serving.api_contract import MAX_BATCH_SIZE, PredictResponse
from contrail.serving.prediction_log.reader import read_predictions


def test_a_flight_gets_probability_label_and_model_version(
    server, flight, raw_test, packaged_model, trained_model
):
    response = server.post(predict_body(flight, {**flight, "dest": "ZZZ"}))
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


def test_service_probabilities_equal_the_pipelines_on_the_test_split(
    server, raw_test, feature_tables, trained_model
):
    expected = trained_model.predict_proba(feature_tables["test"])
    flights = as_flights(raw_test, trained_model.card.features)
    got = []
    for start in range(0, len(flights), MAX_BATCH_SIZE):
        response = server.post(predict_body(*flights[start : start + MAX_BATCH_SIZE]))
        assert response.status_code == 200
        got += [p["probability"] for p in response.json()["predictions"]]
    # One-flight requests take the small-batch path: check a few of those too.
    singles = [
        server.post(predict_body(f)).json()["predictions"][0]["probability"] for f in flights[:5]
    ]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(singles, expected[:5], rtol=0, atol=1e-9)


def test_served_flights_read_back_from_the_prediction_log(server, raw_test, trained_model):
    features = trained_model.card.features
    before = len(read_predictions(server.log_dir, features))
    sent = raw_test.iloc[100:107]
    response = server.post(predict_body(*as_flights(sent, features)))
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
