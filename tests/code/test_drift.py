"""Drift summary: one row per compared feature, Evidently's verdict, calendar excluded."""

import numpy as np
import pytest
from support.drift_reference import drift_score

from contrail.drift import run_drift


def test_summary_covers_compared_features_and_excludes_calendar(feature_tables, params):
    _, summary = run_drift(
        feature_tables["train"], feature_tables["current"], params.features, params.drift
    )
    expected = [c for c in params.features.columns if c not in params.drift.exclude]
    assert list(summary["features"]) == expected
    assert "day_of_week" not in summary["features"]
    assert (params.drift.num_method, params.drift.cat_method) == ("wasserstein", "jensenshannon")
    scores = {
        name: drift_score(
            feature_tables["train"][name],
            feature_tables["current"][name],
            numeric=name in params.features.numeric,
        )
        for name in expected
    }
    for name, score in scores.items():
        assert summary["features"][name]["score"] == pytest.approx(score, abs=1e-5), name
    # Evidently calls a feature drifted at a score of at least the threshold.
    drifted = sorted(name for name, score in scores.items() if score >= params.drift.threshold)
    assert 0 < len(drifted) < len(expected)  # the months differ in weather, not in everything
    assert sorted(n for n, f in summary["features"].items() if f["drifted"]) == drifted
    assert summary["drifted_features"] == len(drifted)
    share = len(drifted) / len(expected)
    assert summary["drifted_share"] == pytest.approx(share, abs=1e-6)
    assert summary["dataset_drift"] == (share >= params.drift.drift_share)


def test_shifted_feature_drifts_and_identical_one_does_not(feature_tables, params):
    reference = feature_tables["train"]
    current = reference.sample(frac=1.0, random_state=0).reset_index(drop=True)
    current["distance"] = current["distance"] * 3
    _, summary = run_drift(reference, current, params.features, params.drift)
    assert summary["features"]["distance"]["drifted"]
    assert summary["features"]["distance"]["score"] > params.drift.threshold
    assert not summary["features"]["carrier"]["drifted"]
    assert np.isclose(summary["features"]["temp"]["score"], 0, atol=1e-9)


def test_html_report_is_byte_identical_for_the_same_data(feature_tables, params):
    """Evidently draws new widget ids on every run; the tracked HTML must not change."""
    from contrail.drift import stable_html

    runs = [
        run_drift(
            feature_tables["train"], feature_tables["current"], params.features, params.drift
        )[0]
        for _ in range(2)
    ]
    raw = [snapshot.get_html_str(as_iframe=False) for snapshot in runs]
    assert raw[0] != raw[1]  # the randomness this guards against is real
    stable = [stable_html(snapshot) for snapshot in runs]
    assert stable[0] == stable[1]
    assert len(stable[0]) == len(raw[0]) and "wind_speed" in stable[0]
