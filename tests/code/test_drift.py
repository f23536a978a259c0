"""Drift summary: one row per compared feature, Evidently's verdict, calendar excluded."""

import numpy as np

from contrail.drift import run_drift


def test_summary_covers_compared_features_and_excludes_calendar(feature_tables, params):
    _, summary = run_drift(
        feature_tables["train"], feature_tables["current"], params.features, params.drift
    )
    expected = [c for c in params.features.columns if c not in params.drift.exclude]
    assert list(summary["features"]) == expected
    assert "day_of_week" not in summary["features"]
    drifted = [f for f in summary["features"].values() if f["drifted"]]
    assert summary["drifted_features"] == len(drifted)
    assert summary["dataset_drift"] == (summary["drifted_share"] >= params.drift.drift_share)


def test_shifted_feature_drifts_and_identical_one_does_not(feature_tables, params):
    reference = feature_tables["train"]
    current = reference.sample(frac=1.0, random_state=0).reset_index(drop=True)
    current["distance"] = current["distance"] * 3
    _, summary = run_drift(reference, current, params.features, params.drift)
    assert summary["features"]["distance"]["drifted"]
    assert summary["features"]["distance"]["score"] > params.drift.threshold
    assert not summary["features"]["carrier"]["drifted"]
    assert np.isclose(summary["features"]["temp"]["score"], 0, atol=1e-9)
