"""Pure evaluation logic: the metrics file's one definition, scores, intervals, the naive
baseline, and plot data small enough to keep in git.

`Evaluation` is the shape of `reports/evaluation/metrics.json`. The evaluate stage writes it,
and the summary, the PR report and the gate read it through `Evaluation.from_json`, so a
renamed or missing metric fails loudly there instead of showing "n/a".
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Self

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

# Curves in git keep this many points: enough for a chart or a diff, a few KB per model.
CURVE_POINTS = 200
CALIBRATION_BINS = 10


class MetricsFormatError(ValueError):
    """A metrics file does not have the fields this code defines; the message names them."""


@dataclass(frozen=True)
class Metric:
    """How a metric is shown and judged: its key in metrics.json, label and direction."""

    key: str
    label: str
    higher_is_better: bool


@dataclass(frozen=True)
class Scores:
    """Scores of one model's probabilities on the test month."""

    roc_auc: float
    pr_auc: float
    brier: float
    log_loss: float
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class ModelScores(Scores):
    """The model's scores with the ROC AUC interval and the threshold labels were cut at."""

    roc_auc_low: float
    roc_auc_high: float
    threshold: float


@dataclass(frozen=True)
class Lift:
    roc_auc: float


@dataclass(frozen=True)
class TestSet:
    __test__ = False  # a metrics section, not a pytest test class

    rows: int
    delay_rate: float


@dataclass(frozen=True)
class Evaluation:
    """Everything in reports/evaluation/metrics.json, one section per field."""

    model: ModelScores
    baseline: Scores
    lift: Lift
    test: TestSet

    def to_json(self) -> dict[str, dict[str, float]]:
        return {
            section.name: {
                key: round(value, 6) if isinstance(value, float) else value
                for key, value in asdict(getattr(self, section.name)).items()
            }
            for section in fields(self)
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, Any], source: str = "metrics.json") -> Self:
        sections: dict[str, Any] = {}
        for section in fields(cls):
            kind = _SECTION_TYPES[section.name]
            values = payload.get(section.name)
            expected = {f.name for f in fields(kind)}
            if not isinstance(values, Mapping) or set(values) != expected:
                got = set(values) if isinstance(values, Mapping) else set()
                raise MetricsFormatError(
                    f"{source}: section {section.name!r} should have "
                    f"{', '.join(sorted(expected))}; missing {sorted(expected - got) or 'none'}, "
                    f"unknown {sorted(got - expected) or 'none'}"
                )
            sections[section.name] = kind(**values)
        return cls(**sections)

    def value(self, metric: Metric) -> float:
        """`metric`'s number, e.g. `model.roc_auc` -> self.model.roc_auc."""
        section, name = metric.key.split(".")
        number: float = getattr(getattr(self, section), name)
        return number


_SECTION_TYPES: dict[str, type] = {
    "model": ModelScores,
    "baseline": Scores,
    "lift": Lift,
    "test": TestSet,
}

# The metrics a reviewer reads first, in order, as `dvc metrics diff` names them.
ROC_AUC = Metric("model.roc_auc", "ROC AUC", higher_is_better=True)
PR_AUC = Metric("model.pr_auc", "PR AUC", higher_is_better=True)
BRIER = Metric("model.brier", "Brier score", higher_is_better=False)
LOG_LOSS = Metric("model.log_loss", "Log loss", higher_is_better=False)
F1 = Metric("model.f1", "F1 at threshold", higher_is_better=True)
LIFT = Metric("lift.roc_auc", "ROC AUC lift over the naive baseline", higher_is_better=True)
HEADLINE_METRICS = (ROC_AUC, PR_AUC, BRIER, LOG_LOSS, F1)


def metric_keys() -> list[str]:
    """Every key of metrics.json as `dvc metrics diff` flattens it, in file order."""
    return [
        f"{section.name}.{field.name}"
        for section in fields(Evaluation)
        for field in fields(_SECTION_TYPES[section.name])
    ]


def _check_keys() -> None:
    unknown = {m.key for m in (*HEADLINE_METRICS, LIFT)} - set(metric_keys())
    if unknown:
        raise MetricsFormatError(f"metric definitions name unknown keys: {sorted(unknown)}")


_check_keys()


def score(y: np.ndarray, p: np.ndarray, threshold: float) -> Scores:
    predicted = p >= threshold
    return Scores(
        roc_auc=float(roc_auc_score(y, p)),
        pr_auc=float(average_precision_score(y, p)),
        brier=float(brier_score_loss(y, p)),
        log_loss=float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15))),
        precision=float(precision_score(y, predicted, zero_division=0)),
        recall=float(recall_score(y, predicted, zero_division=0)),
        f1=float(f1_score(y, predicted, zero_division=0)),
    )


# Resamples computed together: bounds memory to about 20 MB per 25,000 test rows.
BOOTSTRAP_CHUNK = 100


def bootstrap_weights(n: int, samples: int, seed: int) -> Iterator[np.ndarray]:
    """Chunks of (resamples, n) counts: how often each row is drawn, with replacement.

    The same seed draws the same resamples however they are chunked."""
    rng = np.random.default_rng(seed)
    for start in range(0, samples, BOOTSTRAP_CHUNK):
        chunk = min(BOOTSTRAP_CHUNK, samples - start)
        weights = np.empty((chunk, n), dtype=np.float64)
        for i in range(chunk):
            weights[i] = np.bincount(rng.integers(0, n, n), minlength=n)
        yield weights


def weighted_roc_auc(y: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of `weights` (a resample), all at once.

    The Mann-Whitney form: for each positive, the weight of negatives scored below it, ties
    counting half, read from the negatives' cumulative weights in score order. The counts are
    whole numbers, so every sum is exact and the result equals `roc_auc_score` on the
    resampled rows; NaN where a resample has only one class.
    """
    labels = y.astype(bool)
    negatives = np.flatnonzero(~labels)
    negatives = negatives[np.argsort(p[negatives], kind="stable")]
    negative_scores, positive_scores = p[negatives], p[labels]
    cumulative = np.zeros((len(weights), len(negatives) + 1))
    np.cumsum(weights[:, negatives], axis=1, out=cumulative[:, 1:])
    below = cumulative[:, np.searchsorted(negative_scores, positive_scores, side="left")]
    tied = cumulative[:, np.searchsorted(negative_scores, positive_scores, side="right")] - below
    positive = weights[:, labels]
    with np.errstate(invalid="ignore", divide="ignore"):
        auc: np.ndarray = (positive * (below + 0.5 * tied)).sum(axis=1) / (
            positive.sum(axis=1) * cumulative[:, -1]
        )
    return auc


def bootstrap_interval(
    y: np.ndarray, p: np.ndarray, samples: int, confidence: float, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap interval of ROC AUC over test rows resampled with replacement."""
    aucs = np.concatenate(
        [weighted_roc_auc(y, p, w) for w in bootstrap_weights(len(y), samples, seed)]
    )
    tail = (1 - confidence) / 2
    low, high = np.nanquantile(aucs, [tail, 1 - tail])
    return float(low), float(high)


def _thin(x: np.ndarray, points: int) -> np.ndarray:
    """Indices of about `points` curve points evenly spread along x, ends included."""
    targets = np.linspace(x.min(), x.max(), points)
    ascending = x if x[0] <= x[-1] else -x
    where = np.searchsorted(ascending, targets if x[0] <= x[-1] else -targets)
    return np.unique(np.clip(np.r_[0, where, len(x) - 1], 0, len(x) - 1))


def roc_points(y: np.ndarray, p: np.ndarray, points: int = CURVE_POINTS) -> list[dict[str, float]]:
    fpr, tpr, _ = roc_curve(y, p)
    return [
        {"fpr": round(float(fpr[i]), 6), "tpr": round(float(tpr[i]), 6)} for i in _thin(fpr, points)
    ]


def precision_recall_points(
    y: np.ndarray, p: np.ndarray, points: int = CURVE_POINTS
) -> list[dict[str, float]]:
    precision, recall, _ = precision_recall_curve(y, p)
    return [
        {"recall": round(float(recall[i]), 6), "precision": round(float(precision[i]), 6)}
        for i in _thin(recall, points)
    ]


def calibration_points(y: np.ndarray, p: np.ndarray) -> list[dict[str, float]]:
    prob_true, prob_pred = calibration_curve(y, p, n_bins=CALIBRATION_BINS, strategy="quantile")
    return [
        {"prob_pred": round(float(x), 6), "prob_true": round(float(t), 6)}
        for x, t in zip(prob_pred, prob_true, strict=True)
    ]


def confusion_counts(y: np.ndarray, predicted: np.ndarray) -> list[dict[str, int]]:
    """One row per (actual, predicted) cell with its count: four rows, not one per flight."""
    return [
        {"actual": a, "predicted": b, "count": int(np.sum((y == a) & (predicted == b)))}
        for a in (0, 1)
        for b in (0, 1)
    ]


class DelayRateBaseline:
    """Historical delay rate of the flight's carrier in its scheduled hour.

    Falls back to the carrier's rate, then the overall rate, where a group was never seen.
    Smoothed towards the carrier rate so a group of three flights does not predict 0 or 1.
    """

    def __init__(self, smoothing: float = 20.0) -> None:
        self.smoothing = smoothing

    def fit(self, carrier: pd.Series, hour: pd.Series, y: np.ndarray) -> DelayRateBaseline:
        frame = pd.DataFrame({"carrier": carrier.to_numpy(), "hour": hour.to_numpy(), "y": y})
        self.overall_ = float(frame["y"].mean())
        by_carrier = frame.groupby("carrier")["y"].agg(["sum", "count"])
        self.carrier_rate_ = (by_carrier["sum"] + self.smoothing * self.overall_) / (
            by_carrier["count"] + self.smoothing
        )
        by_group = frame.groupby(["carrier", "hour"])["y"].agg(["sum", "count"])
        prior = self.carrier_rate_.reindex(by_group.index.get_level_values("carrier")).to_numpy()
        self.group_rate_ = (by_group["sum"] + self.smoothing * prior) / (
            by_group["count"] + self.smoothing
        )
        return self

    def predict_proba(self, carrier: pd.Series, hour: pd.Series) -> np.ndarray:
        keys = pd.MultiIndex.from_arrays([carrier.to_numpy(), hour.to_numpy()])
        rate = self.group_rate_.reindex(keys).to_numpy()
        fallback = self.carrier_rate_.reindex(carrier.to_numpy()).fillna(self.overall_).to_numpy()
        return np.asarray(np.where(np.isnan(rate), fallback, rate), dtype=np.float64)
