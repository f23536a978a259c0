"""What changed between the base revision and the workspace, as plain data.

Everything here is pure: it reshapes the JSON that `dvc metrics diff --json` and
`dvc params diff --json` print and the report files read at both revisions, and computes the
paired bootstrap from arrays. `revision.py` does the reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sklearn.metrics import roc_auc_score

from contrail.metrics import (
    BRIER,
    ROC_AUC,
    Evaluation,
    Metric,
    Scores,
    bootstrap_weights,
    weighted_roc_auc,
)

# The metrics the gate judges, with an interval in the report (`paired_bootstrap`).
PAIRED_METRICS = (ROC_AUC, BRIER)
WINDOW = "Data window (train + test month)"


@dataclass(frozen=True)
class Change:
    """One value at the base revision and in the workspace (None where a side lacks it)."""

    name: str
    base: Any
    pr: Any

    @property
    def delta(self) -> float | None:
        numbers = all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in (self.base, self.pr)
        )
        return self.pr - self.base if numbers else None


@dataclass(frozen=True)
class Interval:
    """A PR-minus-base difference on the same rows, with its bootstrap interval (None when
    not computed)."""

    delta: float
    low: float | None
    high: float | None


@dataclass(frozen=True)
class DriftRow:
    feature: str
    method: str | None
    threshold: float | None
    base_score: float | None
    base_drifted: bool | None
    pr_score: float | None
    pr_drifted: bool | None


# "paired": both models scored on the PR's test rows. "first model": the base has none.
# "unavailable": the base model is in no cache or remote and could not be rebuilt, so the gate
# cannot decide. "not comparable": it was obtained but cannot score these rows (features the
# PR no longer builds, another scikit-learn), so it takes a maintainer to accept the PR.
Pairing = Literal["paired", "first model", "unavailable", "not comparable"]


@dataclass(frozen=True)
class SameRows:
    """Both models scored on the pull request's test rows: the only comparison the gate
    judges (two metrics files may be from different test months), or why there is none."""

    status: Pairing
    # Why the models were not paired (empty when they were, or for a first model).
    reason: str = ""
    # Where the base model came from (cache or remote, or rebuilt), for the report.
    source: str = ""
    rows: int = 0
    base: Scores | None = None
    pr: Scores | None = None
    # PR minus base of `PAIRED_METRICS`, with their intervals.
    intervals: dict[str, Interval] = field(default_factory=dict)


@dataclass(frozen=True)
class Comparison:
    """Everything the report and the gate need, collected once.

    `pr_evaluation` and `base_evaluation` are the two metrics files read through
    `Evaluation.from_json`, each on its own test month: shown, never judged. The base may
    have none (a first model), or one in another format (this PR renamed a metric): then
    `base_metrics_error` says which keys differ."""

    base_label: str
    base_sha: str
    metrics: list[Change]
    params: list[Change]
    drift: list[DriftRow]
    drift_dataset: list[Change]
    facts: list[Change]
    validation: Change
    pr_evaluation: Evaluation
    same_rows: SameRows
    base_evaluation: Evaluation | None = None
    base_metrics_error: str = ""
    confidence: float = 0.95

    @property
    def windows_differ(self) -> bool:
        window = next((f for f in self.facts if f.name == WINDOW), None)
        return window is not None and window.base is not None and window.base != window.pr

    def metric(self, metric: Metric) -> Change:
        """`metric` from each metrics file (each on its own test month; base None without
        a file in this code's format)."""
        base = None if self.base_evaluation is None else self.base_evaluation.value(metric)
        return Change(metric.key, base, self.pr_evaluation.value(metric))

    def on_same_rows(self, metric: Metric) -> Change | None:
        """A headline `metric` of both models on the PR's test rows; None when not paired."""
        base, pr = self.same_rows.base, self.same_rows.pr
        if base is None or pr is None:
            return None
        name = metric.key.split(".", 1)[1]
        return Change(metric.key, getattr(base, name), getattr(pr, name))

    def delta(self, metric: Metric) -> Interval | None:
        """The difference the gate judges: both models on the same rows, nothing else."""
        return self.same_rows.intervals.get(metric.key)


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"model": {"roc_auc": 1}} -> {"model.roc_auc": 1}, as DVC names nested metrics."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def changes_from_dvc(diff: Mapping[str, Mapping[str, Any]], order: list[str]) -> list[Change]:
    """Rows of one file from `dvc metrics/params diff --json`, in `order` (the workspace
    file's key order) and then any keys only the base has."""
    rows = {name: Change(name, entry.get("old"), entry.get("new")) for name, entry in diff.items()}
    ordered = [rows.pop(name) for name in order if name in rows]
    return ordered + [rows[name] for name in sorted(rows)]


def drift_rows(diff: Mapping[str, Mapping[str, Any]]) -> tuple[list[DriftRow], list[Change]]:
    """Per-feature rows (drifted first, then by PR score) and the dataset-level verdict, from
    the `reports/drift.json` part of `dvc metrics diff --json --all`."""
    per_feature: dict[str, dict[str, Change]] = {}
    dataset = []
    for name, entry in diff.items():
        change = Change(name, entry.get("old"), entry.get("new"))
        parts = name.split(".")
        if parts[0] == "features" and len(parts) == 3:
            per_feature.setdefault(parts[1], {})[parts[2]] = change
        else:
            dataset.append(change)
    rows = []
    for feature, fields in per_feature.items():
        empty = Change("", None, None)
        method, threshold = fields.get("method", empty), fields.get("threshold", empty)
        rows.append(
            DriftRow(
                feature=feature,
                method=method.pr if method.pr is not None else method.base,
                threshold=threshold.pr if threshold.pr is not None else threshold.base,
                base_score=fields.get("score", empty).base,
                base_drifted=fields.get("drifted", empty).base,
                pr_score=fields.get("score", empty).pr,
                pr_drifted=fields.get("drifted", empty).pr,
            )
        )
    rows.sort(key=lambda r: (not (r.pr_drifted or r.base_drifted), -(r.pr_score or 0.0)))
    order = ["dataset_drift", "drifted_features", "compared_features", "drifted_share"]
    dataset.sort(key=lambda c: order.index(c.name) if c.name in order else len(order))
    return rows, dataset


def run_facts(
    params: tuple[Mapping[str, Any] | None, Mapping[str, Any] | None],
    features: tuple[Mapping[str, Any] | None, Mapping[str, Any] | None],
) -> list[Change]:
    """Data window and row counts; each argument is the file's content at (base, workspace),
    None where that side has no such file."""

    def window(content: Mapping[str, Any] | None) -> str | None:
        data = (content or {}).get("data")
        return f"{data['start']} .. {data['end']}" if data else None

    counts = {
        "Training rows": "train_rows",
        "Test rows (last month of the window)": "test_rows",
        "Current-month rows (drift)": "current_rows",
        "Flights without arrival (dropped)": "dropped_no_arrival",
    }
    base, pr = features[0] or {}, features[1] or {}
    return [
        Change(WINDOW, window(params[0]), window(params[1])),
        *(Change(name, base.get(key), pr.get(key)) for name, key in counts.items()),
    ]


def paired_bootstrap(
    y: np.ndarray,
    p_base: np.ndarray,
    p_pr: np.ndarray,
    samples: int,
    confidence: float,
    seed: int,
) -> dict[str, Interval]:
    """PR-minus-base ROC AUC and Brier score on the same test rows, resampling rows once for
    both models so the noise they share cancels (far tighter than two separate intervals).

    The resamples are `metrics.bootstrap_weights` (the evaluate stage's, same seed), scored
    all at once; a resample with one class only has no ROC AUC and is left out of both
    intervals. `samples=0` gives the point differences only (what the gate needs)."""
    y = np.asarray(y)
    point_auc = roc_auc_score(y, p_pr) - roc_auc_score(y, p_base)
    point_brier = np.mean((p_pr - y) ** 2) - np.mean((p_base - y) ** 2)
    # Per row, how much the PR's squared error exceeds the base's: a resample's Brier delta
    # is its weighted mean.
    brier_gap = (p_pr - y) ** 2 - (p_base - y) ** 2
    aucs, briers = [], []
    for weights in bootstrap_weights(len(y), samples, seed):
        aucs.append(weighted_roc_auc(y, p_pr, weights) - weighted_roc_auc(y, p_base, weights))
        briers.append(weights @ brier_gap / len(y))
    resampled = {ROC_AUC.key: np.concatenate(aucs or [np.empty(0)])}
    resampled[BRIER.key] = np.concatenate(briers or [np.empty(0)])
    both_classes = ~np.isnan(resampled[ROC_AUC.key])
    tail = (1 - confidence) / 2
    result = {}
    for key, point in ((ROC_AUC.key, point_auc), (BRIER.key, point_brier)):
        kept = resampled[key][both_classes]
        if kept.size:
            low, high = np.quantile(kept, [tail, 1 - tail])
            result[key] = Interval(float(point), float(low), float(high))
        else:
            result[key] = Interval(float(point), None, None)
    return result
