"""The comparison's pure parts, on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from contrail.report.compare import (
    Change,
    changes_from_dvc,
    drift_rows,
    paired_bootstrap,
)


def test_dvc_diff_rows_follow_the_workspace_file_order_then_base_only_keys():
    diff = {
        "b": {"old": 1, "new": 2, "diff": 1},
        "gone": {"old": 3},
        "a": {"old": True, "new": False, "diff": -1},
    }

    rows = changes_from_dvc(diff, ["a", "b"])

    assert [r.name for r in rows] == ["a", "b", "gone"]
    assert rows[1].delta == 1
    assert rows[0].delta is None  # booleans and strings have no delta
    assert rows[2] == Change("gone", 3, None)


def test_drift_rows_put_drifted_features_first_and_keep_both_sides():
    diff = {
        "dataset_drift": {"old": False, "new": True},
        "features.temp.score": {"old": 0.05, "new": 0.4},
        "features.temp.drifted": {"old": False, "new": True},
        "features.temp.method": {"old": "wasserstein", "new": "wasserstein"},
        "features.dest.score": {"old": 0.2, "new": 0.02},
        "features.dest.drifted": {"old": True, "new": False},
        "features.origin.score": {"old": 0.01, "new": 0.03},
        "features.origin.drifted": {"old": False, "new": False},
    }

    rows, dataset = drift_rows(diff)

    assert [r.feature for r in rows] == ["temp", "dest", "origin"]
    assert (rows[1].base_score, rows[1].base_drifted, rows[1].pr_score) == (0.2, True, 0.02)
    assert dataset == [Change("dataset_drift", False, True)]


def test_paired_bootstrap_of_identical_models_is_exactly_zero():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = rng.random(500)

    result = paired_bootstrap(y, p, p, samples=50, confidence=0.9, seed=1)

    for interval in result.values():
        assert (interval.delta, interval.low, interval.high) == (0.0, 0.0, 0.0)


def loop_paired_bootstrap(y, p_base, p_pr, samples, confidence, seed):
    """The textbook paired bootstrap: draw row indices, score both models on them with
    scikit-learn, skip draws with one class; percentile intervals of the differences."""
    rng = np.random.default_rng(seed)
    aucs, briers = [], []
    for _ in range(samples):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() == y[idx].max():
            continue
        aucs.append(roc_auc_score(y[idx], p_pr[idx]) - roc_auc_score(y[idx], p_base[idx]))
        briers.append(np.mean((p_pr[idx] - y[idx]) ** 2) - np.mean((p_base[idx] - y[idx]) ** 2))
    tail = (1 - confidence) / 2
    return {
        "model.roc_auc": tuple(np.quantile(aucs, [tail, 1 - tail])),
        "model.brier": tuple(np.quantile(briers, [tail, 1 - tail])),
    }


@pytest.mark.parametrize(
    ("rows", "samples"),
    [
        (1500, 230),  # more than one chunk of resamples, a partial last one
        (12, 80),  # one positive row: many resamples have a single class and are skipped
    ],
)
def test_paired_bootstrap_equals_a_loop_over_resampled_rows_with_the_same_seed(rows, samples):
    rng = np.random.default_rng(3)
    y = (rng.random(rows) < 0.3).astype(int) if rows > 100 else np.eye(rows, dtype=int)[0]
    # Rounded scores: ties, which a rank-based ROC AUC must count half.
    p_base = np.round(0.3 * y + 0.7 * rng.random(rows), 2)
    p_pr = np.round(0.5 * y + 0.5 * rng.random(rows), 2)

    result = paired_bootstrap(y, p_base, p_pr, samples, confidence=0.9, seed=7)
    expected = loop_paired_bootstrap(y, p_base, p_pr, samples, confidence=0.9, seed=7)

    for name, (low, high) in expected.items():
        assert (result[name].low, result[name].high) == pytest.approx((low, high), abs=1e-12)
    assert result["model.roc_auc"].delta == pytest.approx(
        roc_auc_score(y, p_pr) - roc_auc_score(y, p_base), abs=1e-12
    )
    assert result["model.brier"].delta == pytest.approx(
        np.mean((p_pr - y) ** 2) - np.mean((p_base - y) ** 2), abs=1e-12
    )


def test_paired_bootstrap_finds_a_better_model_and_brackets_its_delta():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    noise = rng.random(2000)
    weak, strong = 0.2 * y + 0.8 * noise, 0.6 * y + 0.4 * noise

    result = paired_bootstrap(y, weak, strong, samples=200, confidence=0.95, seed=1)

    auc = result["model.roc_auc"]
    assert 0 < auc.low <= auc.delta <= auc.high


def test_paired_bootstrap_without_samples_gives_point_deltas_only():
    y = np.array([0, 1, 0, 1])
    result = paired_bootstrap(y, np.full(4, 0.5), y * 0.9, samples=0, confidence=0.95, seed=0)

    assert result["model.roc_auc"].delta == pytest.approx(0.5)
    assert result["model.brier"].delta == pytest.approx(0.01 * 2 / 4 - 0.25)
    assert result["model.roc_auc"].low is None
