"""What changed between the base revision and the workspace, as plain data.

Everything here is pure: it reshapes the JSON that `dvc metrics diff --json` and
`dvc params diff --json` print and the report files read at both revisions, and computes the
paired bootstrap from arrays. `revision.py` does the reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

# Metrics the gate and the paired comparison look at; both are in metrics.json under model.*.
HEADLINE = "model.roc_auc"
CALIBRATION = "model.brier"
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
    """A PR-minus-base difference with its bootstrap interval (None when not computed)."""

    delta: float
    low: float | None
    high: float | None
    paired: bool


@dataclass(frozen=True)
class DriftRow:
    feature: str
    method: str | None
    threshold: float | None
    base_score: float | None
    base_drifted: bool | None
    pr_score: float | None
    pr_drifted: bool | None


@dataclass(frozen=True)
class Comparison:
    """Everything the report and the gate need, collected once."""

    base_label: str
    base_sha: str
    metrics: list[Change]
    params: list[Change]
    drift: list[DriftRow]
    drift_dataset: list[Change]
    facts: list[Change]
    validation: Change
    same_rows: dict[str, Interval] = field(default_factory=dict)
    same_rows_count: int = 0
    same_rows_note: str = ""
    confidence: float = 0.95

    @property
    def has_base(self) -> bool:
        return any(m.base is not None for m in self.metrics)

    @property
    def windows_differ(self) -> bool:
        window = next((f for f in self.facts if f.name == WINDOW), None)
        return window is not None and window.base is not None and window.base != window.pr

    def metric(self, name: str) -> Change:
        return next((m for m in self.metrics if m.name == name), Change(name, None, None))

    def delta(self, name: str) -> Interval | None:
        """The difference the gate judges: on the same test rows when both models could be
        scored, else between the two metrics files (different rows if the windows differ)."""
        if name in self.same_rows:
            return self.same_rows[name]
        change = self.metric(name)
        if change.delta is None:
            return None
        if name == HEADLINE:
            return _independent_interval(
                change.delta,
                (self.metric(f"{name}_low").base, self.metric(f"{name}_high").base),
                (self.metric(f"{name}_low").pr, self.metric(f"{name}_high").pr),
                self.confidence,
            )
        return Interval(change.delta, None, None, paired=False)


def _independent_interval(
    delta: float, base: tuple[Any, Any], pr: tuple[Any, Any], confidence: float
) -> Interval:
    """Normal approximation from each side's own bootstrap interval, for when the two models
    cannot be scored on the same rows: wider than a paired interval, but honest about noise."""
    if None in (*base, *pr):
        return Interval(delta, None, None, paired=False)
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    se = float(np.hypot((base[1] - base[0]) / (2 * z), (pr[1] - pr[0]) / (2 * z)))
    return Interval(delta, delta - z * se, delta + z * se, paired=False)


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
    params: tuple[Mapping | None, Mapping | None],
    features: tuple[Mapping | None, Mapping | None],
) -> list[Change]:
    """Data window and row counts; each argument is the file's content at (base, workspace),
    None where that side has no such file."""

    def get(content: Mapping | None, key: str) -> Any:
        return (content or {}).get(key)

    def window(content: Mapping | None) -> str | None:
        data = get(content, "data")
        return f"{data['start']} .. {data['end']}" if data else None

    readers = [
        (WINDOW, lambda side: window(params[side])),
        ("Training rows", lambda side: get(features[side], "train_rows")),
        ("Test rows (last month of the window)", lambda side: get(features[side], "test_rows")),
        ("Current-month rows (drift)", lambda side: get(features[side], "current_rows")),
        (
            "Flights without arrival (dropped)",
            lambda side: get(features[side], "dropped_no_arrival"),
        ),
    ]
    return [Change(name, read(0), read(1)) for name, read in readers]


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

    `samples=0` gives the point differences only (what the gate needs)."""

    def deltas(idx: np.ndarray) -> tuple[float, float]:
        yi = y[idx]
        auc = roc_auc_score(yi, p_pr[idx]) - roc_auc_score(yi, p_base[idx])
        brier = np.mean((p_pr[idx] - yi) ** 2) - np.mean((p_base[idx] - yi) ** 2)
        return float(auc), float(brier)

    point = deltas(np.arange(len(y)))
    rng = np.random.default_rng(seed)
    resampled = []
    for _ in range(samples):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() != y[idx].max():  # both classes present
            resampled.append(deltas(idx))
    tail = (1 - confidence) / 2
    result = {}
    for i, name in enumerate((HEADLINE, CALIBRATION)):
        if resampled:
            low, high = np.quantile([r[i] for r in resampled], [tail, 1 - tail])
            result[name] = Interval(point[i], float(low), float(high), paired=True)
        else:
            result[name] = Interval(point[i], None, None, paired=True)
    return result
