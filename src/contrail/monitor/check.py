"""What `contrail monitor` measures on one production month, as `reports/monitor.json` holds it.

Performance intervals come from a bootstrap over (score, label) cells rather than rows: a
resample of n rows is a multinomial draw of n over the distinct cells, so a million flights
cost the same as a few thousand distinct scores. Scores are binned to `SCORE_DECIMALS` first
(the point estimates use the exact scores), which moves an interval bound by far less than
its own width.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Self

import numpy as np
from sklearn.metrics import brier_score_loss, roc_auc_score

from contrail.metrics import weighted_roc_auc

SCORE_DECIMALS = 4
# Resamples drawn together: (chunk x cells) weights stay a few MB.
CHUNK = 100


@dataclass(frozen=True)
class Performance:
    """Measured on the production month's labelled flights."""

    labelled_rows: int
    roc_auc: float
    roc_auc_low: float
    roc_auc_high: float
    brier: float
    brier_low: float
    brier_high: float
    delay_rate: float
    mean_probability: float


def measure(
    y: np.ndarray, p: np.ndarray, samples: int, confidence: float, seed: int
) -> Performance:
    """ROC AUC and Brier score with percentile bootstrap intervals; AUC needs both classes."""
    # One integer per (binned score, label) cell: a 1-D unique is far cheaper than a row-wise one.
    scale = 10**SCORE_DECIMALS
    cells, counts = np.unique(np.rint(p * scale).astype(np.int64) * 2 + y, return_counts=True)
    cell_p, cell_y = (cells // 2) / scale, cells % 2
    rng = np.random.default_rng(seed)
    aucs, briers = [], []
    for start in range(0, samples, CHUNK):
        weights = rng.multinomial(len(y), counts / len(y), size=min(CHUNK, samples - start))
        weights = weights.astype(np.float64)
        aucs.append(weighted_roc_auc(cell_y, cell_p, weights))
        briers.append(weights @ (cell_p - cell_y) ** 2 / len(y))
    tail = (1 - confidence) / 2
    auc_low, auc_high = np.nanquantile(np.concatenate(aucs), [tail, 1 - tail])
    brier_low, brier_high = np.quantile(np.concatenate(briers), [tail, 1 - tail])
    return Performance(
        labelled_rows=len(y),
        roc_auc=float(roc_auc_score(y, p)),
        roc_auc_low=float(auc_low),
        roc_auc_high=float(auc_high),
        brier=float(brier_score_loss(y, p)),
        brier_low=float(brier_low),
        brier_high=float(brier_high),
        delay_rate=float(y.mean()),
        mean_probability=float(p.mean()),
    )


@dataclass(frozen=True)
class ModelFacts:
    """The model in production and its own test-month numbers (the metrics file)."""

    version: str
    train_start: str
    train_end: str
    test_month: str
    test_roc_auc: float
    test_brier: float


@dataclass(frozen=True)
class Check:
    """One monitor run: the month checked, the model, and what was found.

    `problems` lists data-contract failures: with any, nothing else is measured (a broken feed
    is reported as such, never as drift). `performance` is None when too few flights have an
    outcome yet; `drift` is `contrail.drift.drift_scores`'s summary over every flight.
    """

    month: str
    source: str
    rows: int
    model: ModelFacts
    problems: list[str]
    performance: Performance | None
    drift: dict[str, Any] | None
    prediction_drift: dict[str, Any] | None
    # Flights the model scored (for performance and prediction drift): a seeded sample of at
    # most `monitor.max_scored_rows`; None when nothing was scored (a broken feed).
    scored_rows: int | None = None

    def to_json(self) -> dict[str, Any]:
        rounded: dict[str, Any] = _rounded(asdict(self))
        return rounded

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> Self:
        performance = payload["performance"]
        return cls(
            **{
                **payload,
                "model": ModelFacts(**payload["model"]),
                "performance": Performance(**performance) if performance else None,
            }
        )


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value
