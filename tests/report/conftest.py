"""Factories for the report tests: metrics files in the one format `contrail.metrics` defines,
and comparisons built from them the way `revision.collect` builds them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from contrail.metrics import Evaluation, Lift, ModelScores, Scores, TestSet
from contrail.params import GateParams
from contrail.report.compare import Change, Comparison, flatten

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


def comparison(base: Evaluation | None, pr: Evaluation, **overrides) -> Comparison:
    """What `revision.collect` returns for these two metrics files and nothing else changed."""
    base_flat = flatten(base.to_json()) if base is not None else {}
    fields = {
        "base_label": "main",
        "base_sha": "a" * 40,
        "metrics": [Change(k, base_flat.get(k), v) for k, v in flatten(pr.to_json()).items()],
        "params": [],
        "drift": [],
        "drift_dataset": [],
        "facts": [],
        "validation": Change("validation", None, None),
        "pr_evaluation": pr,
        "base_evaluation": base,
    }
    return Comparison(**{**fields, **overrides})


@pytest.fixture
def make_evaluation() -> Callable[..., Evaluation]:
    return evaluation


@pytest.fixture
def make_comparison() -> Callable[..., Comparison]:
    return comparison


@pytest.fixture
def gate_params() -> GateParams:
    return GATE
