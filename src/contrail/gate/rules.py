"""The champion/challenger rule: may the pull request's model replace the base branch's?

Bounds come from the `gate:` section of params.yaml, so changing the rule is itself a
reviewed pull request. A reviewer can accept a blocked model on purpose with a label. The
rule judges both models on the same rows only; without the base model it cannot decide.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from contrail.metrics import BRIER, LIFT, ROC_AUC, Metric

if TYPE_CHECKING:
    from contrail.params import GateParams
    from contrail.report.compare import Comparison


@dataclass(frozen=True)
class Verdict:
    promote: bool
    # Every bound the PR broke (empty when all hold), in words a reviewer can act on.
    failures: tuple[str, ...]
    # What held, so the comment shows the evidence for a "promote" as well.
    checks: tuple[str, ...]
    override_label: str
    # True when the PR broke a bound and carries the override label.
    overridden: bool = False
    # Why the gate cannot decide (the base model could not be obtained); then nothing else
    # is judged, and no label changes that.
    undecided: str = ""

    @property
    def blocked(self) -> bool:
        return not self.promote and not self.undecided

    def line(self) -> str:
        """One line for logs, exit messages and the comment's headline."""
        if self.undecided:
            return f"cannot decide: {self.undecided}"
        if self.overridden:
            return f"promote (override): label `{self.override_label}` accepts " + "; ".join(
                self.failures
            )
        if self.failures:
            return "blocked: " + "; ".join(self.failures)
        return "promote: " + "; ".join(self.checks)


def promotion_verdict(
    comparison: Comparison, gate: GateParams, labels: Collection[str] = ()
) -> Verdict:
    """The rule, on both models scored on the PR's test rows: the two metrics files may be
    from different test months, so their deltas are never judged."""
    base = comparison.base_label
    same_rows = comparison.same_rows
    if same_rows.status == "unavailable":
        return Verdict(
            promote=False,
            failures=(),
            checks=(),
            override_label=gate.override_label,
            undecided=f"`{base}`'s model cannot be obtained: {same_rows.reason}",
        )
    failures: list[str] = []
    checks: list[str] = []

    lift = comparison.metric(LIFT).pr
    if lift < gate.min_lift:
        failures.append(f"{LIFT.label} is {lift:+.4f} (< {gate.min_lift:+.4f})")
    else:
        checks.append(f"beats the naive baseline by {lift:+.4f} {ROC_AUC.label}")

    if same_rows.status == "first model":
        checks.append(f"first model: `{base}` has no model to compare against")
    elif same_rows.status == "not comparable":
        # Nothing to judge by, and rerunning will not change that: a maintainer decides.
        failures.append(
            f"`{base}`'s model cannot be scored on this PR's test rows: {same_rows.reason}"
        )
    else:
        bounds = ((ROC_AUC, gate.max_roc_auc_drop), (BRIER, gate.max_brier_increase))
        for metric, bound in bounds:
            delta = same_rows.intervals[metric.key].delta
            where = f"against `{base}` on the same test rows"
            # Rounded: 0.745 - 0.75 is a hair over 0.005 in binary, and the bound is inclusive.
            if round(_worsening(metric, delta), 9) > bound:
                failures.append(f"{_fell(metric, delta)} {where} (at most {bound:.4f} allowed)")
            else:
                checks.append(f"{metric.label} {delta:+.4f} {where}")

    overridden = bool(failures) and gate.override_label in labels
    return Verdict(
        promote=not failures or overridden,
        failures=tuple(failures),
        checks=tuple(checks),
        override_label=gate.override_label,
        overridden=overridden,
    )


def _worsening(metric: Metric, delta: float) -> float:
    """How much worse the PR is on `metric` (negative when it improved)."""
    return -delta if metric.higher_is_better else delta


def _fell(metric: Metric, delta: float) -> str:
    if metric.higher_is_better:
        return f"{metric.label} fell by {-delta:.4f}"
    return f"{metric.label} rose by {delta:.4f}"
