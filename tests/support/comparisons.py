"""Metrics files in the one format `contrail.metrics` defines, and comparisons built from
them the way `revision.collect` builds them: the inputs of the gate's rule and the report."""

from __future__ import annotations

from dataclasses import fields

from contrail.metrics import Evaluation, Lift, ModelScores, Scores, TestSet
from contrail.params import GateParams
from contrail.report.compare import (
    PAIRED_METRICS,
    Change,
    Comparison,
    Interval,
    SameRows,
    flatten,
)

# The bounds of the repository's params.yaml, spelt out so a test's expectation is visible.
GATE = GateParams(
    max_roc_auc_drop=0.005,
    max_brier_increase=0.002,
    min_lift=0.0,
    override_label="allow-regression",
)


def evaluation(
    roc_auc: float = 0.75, brier: float = 0.18, lift: float = 0.05, rows: int = 1000
) -> Evaluation:
    """A complete metrics file with the numbers the gate judges chosen, the rest fixed."""
    return Evaluation(
        model=ModelScores(
            roc_auc=roc_auc, pr_auc=0.5, brier=brier, log_loss=0.55, precision=0.5, recall=0.5,
            f1=0.5, roc_auc_low=round(roc_auc - 0.01, 6), roc_auc_high=round(roc_auc + 0.01, 6),
            threshold=0.3,
        ),
        baseline=Scores(
            roc_auc=round(roc_auc - lift, 6), pr_auc=0.4, brier=0.2, log_loss=0.6,
            precision=0.4, recall=0.4, f1=0.4,
        ),
        lift=Lift(roc_auc=lift),
        test=TestSet(rows=rows, delay_rate=0.3),
    )  # fmt: skip


def scores(evaluation: Evaluation) -> Scores:
    return Scores(**{f.name: getattr(evaluation.model, f.name) for f in fields(Scores)})


def paired(base: Evaluation, pr: Evaluation, **intervals: Interval) -> SameRows:
    """Both models scored on the PR's test rows, scoring there as their metrics files say
    (the same test month), with point deltas unless `intervals` gives some."""
    deltas = {m.key: Interval(pr.value(m) - base.value(m), None, None) for m in PAIRED_METRICS}
    return SameRows(
        "paired",
        source="from the DVC cache or remote",
        rows=pr.test.rows,
        base=scores(base),
        pr=scores(pr),
        intervals=deltas | {f"model.{name}": i for name, i in intervals.items()},
    )


def comparison(base: Evaluation | None, pr: Evaluation, **overrides) -> Comparison:
    """What `revision.collect` returns for these two metrics files and nothing else changed:
    paired as the files say when there is a base, else a first model."""
    base_flat = flatten(base.to_json()) if base is not None else {}
    values = {
        "base_label": "main",
        "base_sha": "a" * 40,
        "metrics": [Change(k, base_flat.get(k), v) for k, v in flatten(pr.to_json()).items()],
        "params": [],
        "drift": [],
        "drift_dataset": [],
        "facts": [],
        "validation": Change("validation", None, None),
        "pr_evaluation": pr,
        "same_rows": SameRows("first model") if base is None else paired(base, pr),
        "base_evaluation": base,
    }
    return Comparison(**{**values, **overrides})
