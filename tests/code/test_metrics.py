"""Evaluation maths: the interval brackets the estimate; the baseline falls back sensibly."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from contrail import metrics
from contrail.metrics import (
    DelayRateBaseline,
    Evaluation,
    Lift,
    MetricsFormatError,
    ModelScores,
    bootstrap_interval,
    metric_keys,
    score,
)


def noisy_scores(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, np.clip(0.3 * y + rng.normal(0.35, 0.2, n), 0, 1)


def test_bootstrap_interval_brackets_auc_and_is_reproducible():
    y, p = noisy_scores(2000)
    low, high = bootstrap_interval(y, p, samples=200, confidence=0.95, seed=1)
    assert low < roc_auc_score(y, p) < high
    assert (low, high) == bootstrap_interval(y, p, samples=200, confidence=0.95, seed=1)


@pytest.mark.parametrize(
    ("rows", "samples"),
    [
        (3000, 250),  # several chunks of resamples, the last one partial
        (10, 60),  # one positive row: resamples without it have no ROC AUC and are skipped
    ],
)
def test_bootstrap_interval_equals_a_loop_of_roc_auc_on_resampled_rows(rows, samples):
    y, p = noisy_scores(rows, seed=4)
    if rows < 100:
        y = np.eye(rows, dtype=int)[0]
    p = np.round(p, 2)  # ties, which ROC AUC counts half
    rng = np.random.default_rng(9)
    aucs = []
    for _ in range(samples):
        idx = rng.integers(0, rows, rows)
        if y[idx].min() != y[idx].max():
            aucs.append(roc_auc_score(y[idx], p[idx]))

    low, high = bootstrap_interval(y, p, samples=samples, confidence=0.9, seed=9)

    assert (low, high) == pytest.approx(tuple(np.quantile(aucs, [0.05, 0.95])), abs=1e-12)


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


def evaluation_on(y: np.ndarray, p: np.ndarray) -> Evaluation:
    model = score(y, p, threshold=0.5)
    baseline = score(y, np.full(len(y), y.mean()), threshold=0.5)
    return Evaluation(
        model=ModelScores(**vars(model), roc_auc_low=0.6, roc_auc_high=0.8, threshold=0.5),
        baseline=baseline,
        lift=Lift(roc_auc=model.roc_auc - baseline.roc_auc),
        test=metrics.TestSet(rows=len(y), delay_rate=float(y.mean())),
    )


def test_evaluation_round_trips_through_its_json_with_dvc_key_names():
    evaluation = evaluation_on(*noisy_scores(500))
    payload = json.loads(json.dumps(evaluation.to_json()))

    again = Evaluation.from_json(payload)

    assert again.to_json() == payload
    assert again.model.roc_auc == pytest.approx(evaluation.model.roc_auc, abs=5e-7)
    assert again.test.rows == 500
    # `dvc metrics diff` names nested values section.key: metric_keys() lists exactly those.
    assert metric_keys() == [f"{section}.{key}" for section in payload for key in payload[section]]


def test_a_missing_or_renamed_metric_is_named():
    payload = evaluation_on(*noisy_scores(200)).to_json()
    payload["model"]["auc"] = payload["model"].pop("roc_auc")

    with pytest.raises(MetricsFormatError) as error:
        Evaluation.from_json(payload, "reports/evaluation/metrics.json")

    message = str(error.value)
    assert message.startswith("reports/evaluation/metrics.json: section 'model'")
    assert "missing ['roc_auc']" in message
    assert "unknown ['auc']" in message

    del payload["lift"]
    payload["model"]["roc_auc"] = payload["model"].pop("auc")
    with pytest.raises(MetricsFormatError, match=r"section 'lift' .*missing \['roc_auc'\]"):
        Evaluation.from_json(payload)
