"""The predictor seam: the compiled path exactly when it is proven right, else the pipeline."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from contrail.features import LABEL, build_features, required_inputs
from contrail.model import TrainedModel, fit
from contrail.serving import fast
from contrail.serving.fast import CompiledModel
from contrail.serving.predictor import PipelinePredictor, choose_predictor

CATEGORICAL = ("carrier", "origin", "dest")


@pytest.fixture(scope="module")
def sample(raw_test) -> pd.DataFrame:
    """Test rows, the first with a destination no model saw (as the stored sample has)."""
    rows = raw_test.head(64).copy()
    rows.loc[0, "dest"] = "ZZZ"
    return rows


def _columns(raw: pd.DataFrame, features: list[str]) -> dict[str, np.ndarray]:
    return {name: raw[name].to_numpy() for name in required_inputs(features)}


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_the_projects_model_takes_the_compiled_path_silently(trained_model, sample, caplog):
    assert isinstance(choose_predictor(trained_model, sample), CompiledModel)
    assert _warnings(caplog) == []


def test_a_model_without_some_features_still_takes_the_compiled_path(
    feature_tables, params, sample, caplog
):
    kept = [n for n in params.features.numeric if n not in ("wind_gust", "day_of_week")]
    features = params.features.model_copy(update={"numeric": tuple(kept)})
    model = fit(feature_tables["train"], params.model_copy(update={"features": features}))
    predictor = choose_predictor(model, sample)
    assert isinstance(predictor, CompiledModel)
    assert _warnings(caplog) == []
    columns = _columns(sample, model.card.features)
    assert not {"wind_gust", "year", "month", "day"} & set(columns)
    got, _ = predictor.predict(predictor.features_for(columns))
    expected = model.pipeline.predict_proba(build_features(sample, model.card.features))[:, 1]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_another_estimator_is_predicted_by_its_own_pipeline(
    forest_model, feature_tables, sample, caplog
):
    predictor = choose_predictor(forest_model, sample)
    assert isinstance(predictor, PipelinePredictor)
    (warning,) = _warnings(caplog)
    assert "Pipeline ending in RandomForestClassifier" in warning
    features = forest_model.card.features
    probability, unseen = predictor.predict(predictor.features_for(_columns(sample, features)))
    expected = forest_model.pipeline.predict_proba(build_features(sample, features))[:, 1]
    np.testing.assert_allclose(probability, expected, rtol=0, atol=1e-12)
    train = feature_tables["train"]
    never_seen = [
        [c for c in CATEGORICAL if row[c] not in set(train[c])]
        for row in sample.to_dict(orient="records")
    ]
    assert never_seen[0] == ["dest"]
    assert [predictor.unseen_names(row) for row in unseen] == never_seen


def test_a_fast_path_that_drifts_falls_back_to_the_pipeline(
    trained_model, sample, caplog, monkeypatch
):
    walk = fast._Forest.raw_predict
    monkeypatch.setattr(fast._Forest, "raw_predict", lambda self, x: walk(self, x) + 1e-3)
    assert isinstance(choose_predictor(trained_model, sample), PipelinePredictor)
    (warning,) = _warnings(caplog)
    assert "differs from the pipeline" in warning and "on 1 row(s)" in warning


@pytest.mark.parametrize("wrapped", [True, False], ids=["pipeline", "bare estimator"])
def test_a_model_without_an_ordinal_encoder_flags_nothing_unseen(
    trained_model, feature_tables, sample, caplog, wrapped
):
    features = ["dep_hour", "distance"]
    estimator = LogisticRegression()
    model = Pipeline([("classify", estimator)]) if wrapped else estimator
    train = feature_tables["train"]
    model.fit(train[features], train[LABEL].to_numpy(dtype=int))
    predictor = choose_predictor(
        TrainedModel(model, replace(trained_model.card, features=features)), sample
    )
    (warning,) = _warnings(caplog)
    assert ("Pipeline ending in LogisticRegression" in warning) == wrapped
    columns = _columns(sample, features)
    assert list(columns) == ["sched_dep_time", "distance"]
    probability, unseen = predictor.predict(predictor.features_for(columns))
    hours = sample["sched_dep_time"] // 100 + sample["sched_dep_time"] % 100 / 60
    by_hand = pd.DataFrame({"dep_hour": hours, "distance": sample["distance"].astype(float)})
    np.testing.assert_allclose(probability, model.predict_proba(by_hand)[:, 1], rtol=0, atol=1e-12)
    assert unseen.shape == (len(sample), 0)
