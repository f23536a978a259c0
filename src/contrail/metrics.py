"""Pure evaluation logic: scores, bootstrap intervals and the naive baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

HEADLINE = "roc_auc"


def score(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    predicted = p >= threshold
    return {
        "roc_auc": roc_auc_score(y, p),
        "pr_auc": average_precision_score(y, p),
        "brier": brier_score_loss(y, p),
        "log_loss": log_loss(y, np.clip(p, 1e-15, 1 - 1e-15)),
        "precision": precision_score(y, predicted, zero_division=0),
        "recall": recall_score(y, predicted, zero_division=0),
        "f1": f1_score(y, predicted, zero_division=0),
    }


def bootstrap_interval(
    y: np.ndarray, p: np.ndarray, samples: int, confidence: float, seed: int
) -> tuple[float, float]:
    """Percentile bootstrap interval of ROC AUC over test rows resampled with replacement."""
    rng = np.random.default_rng(seed)
    n = len(y)
    scores = []
    for _ in range(samples):
        idx = rng.integers(0, n, n)
        if y[idx].min() != y[idx].max():  # both classes present
            scores.append(roc_auc_score(y[idx], p[idx]))
    tail = (1 - confidence) / 2
    low, high = np.quantile(scores, [tail, 1 - tail])
    return float(low), float(high)


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
        return np.where(np.isnan(rate), fallback, rate)
