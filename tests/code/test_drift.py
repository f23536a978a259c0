"""The drift stage's outputs: the summary (one row per compared feature, calendar excluded;
`test_drift_scores.py` checks it against Evidently's) and the sampled, stable HTML report."""

import numpy as np
import pytest
from support.drift_reference import drift_score

from contrail.drift import drift_scores, report_html, run_drift, stable_html


def test_summary_covers_compared_features_and_excludes_calendar(feature_tables, params):
    summary = drift_scores(
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
    summary = drift_scores(reference, current, params.features, params.drift)
    assert summary["features"]["distance"]["drifted"]
    assert summary["features"]["distance"]["score"] > params.drift.threshold
    assert not summary["features"]["carrier"]["drifted"]
    assert np.isclose(summary["features"]["temp"]["score"], 0, atol=1e-9)


def test_html_report_is_byte_identical_for_the_same_data(feature_tables, params):
    """Evidently draws new widget ids on every run; the tracked HTML must not change."""
    reference, current = (feature_tables[name].head(500) for name in ("train", "current"))
    runs = [run_drift(reference, current, params.features, params.drift)[0] for _ in range(2)]
    raw = [snapshot.get_html_str(as_iframe=False) for snapshot in runs]
    assert raw[0] != raw[1]  # the randomness this guards against is real
    stable = [stable_html(snapshot) for snapshot in runs]
    assert stable[0] == stable[1]
    assert len(stable[0]) == len(raw[0]) and "wind_speed" in stable[0]


def test_html_report_shows_a_bounded_seeded_sample_and_says_so(feature_tables, params, monkeypatch):
    monkeypatch.setattr("contrail.drift.REPORT_ROWS", 400)
    reference, current = feature_tables["train"], feature_tables["current"].head(300)
    pages = [report_html(reference, current, params.features, params.drift) for _ in range(2)]
    assert pages[0] == pages[1]
    title = (
        f"<title>Data drift (Evidently) on a seeded sample: 400 of {len(reference):,} reference "
        "rows, 300 of 300 current rows; reports/drift.json scores every row</title>"
    )
    assert pages[0].count(title) == 1 and pages[0].index(title) < pages[0].index("<body>")
