"""A fork's model served end to end: a random forest without `wind_gust` and `day_of_week`.

The API follows the stored model (no wind_gust, year, month or day fields) and the service
predicts with the model's own pipeline, saying once in its log that it does.
"""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from support.serving import as_flights

from contrail.features import build_features

GONE = ("wind_gust", "year", "month", "day")


def body(flights: list[dict]) -> str:
    return json.dumps({"flights": flights})


@pytest.fixture(scope="module")
def rows(raw_test):
    """Test rows, the first with a destination nobody flew to in training."""
    rows = raw_test.head(50).copy()
    rows.loc[0, "dest"] = "ZZZ"
    return rows


def test_another_classifier_answers_with_its_pipelines_probabilities(
    forest_server, forest_model, rows, feature_tables
):
    features = forest_model.card.features
    flights = as_flights(rows, features)
    assert not set(GONE) & set(flights[0])
    expected = forest_model.pipeline.predict_proba(build_features(rows, features))[:, 1]

    response = forest_server.post(body(flights))
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    singles = [forest_server.post(body([f])).json()["predictions"][0] for f in flights[:3]]
    got = [p["probability"] for p in predictions]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose([p["probability"] for p in singles], expected[:3], rtol=0, atol=1e-9)
    assert [p["delayed"] for p in predictions] == (expected >= 0.3).tolist()
    train = feature_tables["train"]
    never_seen = [
        [c for c in ("carrier", "origin", "dest") if row[c] not in set(train[c])]
        for row in rows.to_dict(orient="records")
    ]
    assert never_seen[0] == ["dest"]
    assert [p["unseen"] for p in predictions] == never_seen


def test_inputs_only_the_dropped_features_needed_are_unknown_fields(
    forest_server, raw_test, params
):
    (full,) = as_flights(raw_test.head(1), params.features.columns)
    response = forest_server.post(body([full]))
    assert response.status_code == 422
    assert {(e["field"], e["reason"]) for e in response.json()["errors"]} == {
        (f"flights[0].{name}", "Extra inputs are not permitted") for name in GONE
    }


def test_metadata_and_api_document_describe_the_forest(forest_server, forest_model):
    metadata = httpx.get(f"{forest_server.url}/metadata", timeout=10).json()
    assert metadata["features"] == forest_model.card.features
    document = httpx.get(f"{forest_server.url}/docs.json", timeout=10).json()
    fields = document["components"]["schemas"]["Flight"]["properties"]
    assert "carrier" in fields and not set(GONE) & set(fields)


def test_the_fallback_to_the_pipeline_is_one_warning_line(forest_server):
    lines = forest_server.output.read_text().splitlines()
    (line,) = [line for line in lines if "not the compiled fast path" in line]
    assert "[WARNING]" in line and "Pipeline ending in RandomForestClassifier" in line
