"""Evaluation maths: the interval brackets the estimate; the baseline falls back sensibly."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from contrail.metrics import DelayRateBaseline, bootstrap_interval, score


def noisy_scores(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, np.clip(0.3 * y + rng.normal(0.35, 0.2, n), 0, 1)


def test_bootstrap_interval_brackets_auc_and_is_reproducible():
    y, p = noisy_scores(2000)
    low, high = bootstrap_interval(y, p, samples=200, confidence=0.95, seed=1)
    assert low < roc_auc_score(y, p) < high
    assert (low, high) == bootstrap_interval(y, p, samples=200, confidence=0.95, seed=1)


def test_bootstrap_interval_narrows_with_more_rows():
    small = bootstrap_interval(*noisy_scores(500), samples=200, confidence=0.95, seed=1)
    large = bootstrap_interval(*noisy_scores(8000), samples=200, confidence=0.95, seed=1)
    assert large[1] - large[0] < small[1] - small[0]


def test_score_uses_the_threshold_for_labels():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.9])
    assert score(y, p, threshold=0.3).recall == 1.0
    assert score(y, p, threshold=0.5).recall == 0.5


def test_baseline_uses_group_rate_then_carrier_then_overall():
    carrier = pd.Series(["AA"] * 100 + ["UA"] * 100)
    hour = pd.Series([8] * 50 + [9] * 50 + [8] * 100)
    y = np.array([1] * 50 + [0] * 50 + [0] * 100)
    baseline = DelayRateBaseline(smoothing=0).fit(carrier, hour, y)
    p = baseline.predict_proba(pd.Series(["AA", "AA", "UA", "ZZ"]), pd.Series([8, 23, 8, 8]))
    assert p.tolist() == pytest.approx([1.0, 0.5, 0.0, 0.25])
