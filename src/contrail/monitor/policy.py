"""The retraining policy: performance first, drift alone only when it persists.

Weather drifts every season (field notes: a January reference flags dataset drift in 8 of
11 months), so drift by itself would open a pull request nearly every month. Measured
performance on labelled production flights is the stronger signal: the model retrains when
its ROC AUC or Brier score is worse than on its own test month beyond a tolerance *and* the
bootstrap interval agrees, when it is too old, or when drift persisted for
`retrain.drift_checks` consecutive checked months of the same model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from contrail import months
from contrail.monitor.check import Check
from contrail.monitor.history import Row
from contrail.params import DataParams, RetrainParams


@dataclass(frozen=True)
class RetrainDecision:
    retrain: bool
    # Why, in one sentence a person reads: the first line of the job summary and the PR.
    reason: str
    # Drift that is not (yet) a reason to retrain, reported beside the decision.
    drift_note: str
    # The window the retraining PR trains on (None without retraining).
    start: str | None = None
    end: str | None = None

    def line(self) -> str:
        return f"retrain: {'yes' if self.retrain else 'no'} — {self.reason}"


@dataclass(frozen=True)
class Outcome:
    """What the monitor concluded for a month (`reports/monitor.json`): the retraining step
    reads it back instead of measuring again."""

    check: Check
    decision: RetrainDecision

    def to_json(self) -> dict[str, Any]:
        return {**self.check.to_json(), "decision": asdict(self.decision)}

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> Outcome:
        check = {k: v for k, v in payload.items() if k != "decision"}
        return cls(Check.from_json(check), RetrainDecision(**payload["decision"]))


def target_window(data: DataParams, month: str, mode: str) -> tuple[str, str]:
    """The window whose test month is `month`: same length ("sliding") or same start."""
    shift = months.index(month) - data.test_index
    start = data.start_index + shift if mode == "sliding" else data.start_index
    return months.name(start), month


def consecutive_drift(check: Check, history: Sequence[Row], share: float) -> int:
    """How many checked months in a row, ending with this one, the same model drifted in."""
    drifted = {
        row.month
        for row in history
        if row.model_version == check.model.version and row.drifted_share >= share
    }
    if check.drift is None or check.drift["drifted_share"] < share:
        return 0
    count, month = 1, months.index(check.month) - 1
    while months.name(month) in drifted:
        count, month = count + 1, month - 1
    return count


def decide_retraining(
    check: Check, history: Sequence[Row], policy: RetrainParams, data: DataParams
) -> RetrainDecision:
    if check.problems:
        return RetrainDecision(
            False,
            f"production data for {check.month} failed validation ({len(check.problems)} "
            f"problem(s), e.g. {check.problems[0]}): fix the feed; drift and performance "
            "were not measured",
            "",
        )
    if check.rows < policy.min_rows:
        return RetrainDecision(
            False, f"only {check.rows:,} flights in {check.month} (minimum {policy.min_rows:,})", ""
        )
    if months.index(check.month) <= data.test_index:
        return RetrainDecision(
            False, f"{check.month} is inside the training window (ends {data.end}): no news", ""
        )
    reasons: list[str] = []
    fine: list[str] = []
    model, perf = check.model, check.performance
    if perf is None or perf.labelled_rows < policy.min_labelled_rows:
        labelled = perf.labelled_rows if perf else 0
        fine.append(
            f"only {labelled:,} flights with an outcome (minimum {policy.min_labelled_rows:,}): "
            "performance not judged"
        )
    else:
        auc = (
            f"AUC {perf.roc_auc:.3f} [{perf.roc_auc_low:.3f}, {perf.roc_auc_high:.3f}] vs "
            f"{model.test_roc_auc:.3f} on the test month (tolerance {policy.max_roc_auc_drop:g})"
        )
        floor = model.test_roc_auc - policy.max_roc_auc_drop
        (reasons if perf.roc_auc < floor and perf.roc_auc_high < floor else fine).append(auc)
        brier = (
            f"Brier {perf.brier:.4f} [{perf.brier_low:.4f}, {perf.brier_high:.4f}] vs "
            f"{model.test_brier:.4f} (bound +{policy.max_brier_increase:g})"
        )
        ceiling = model.test_brier + policy.max_brier_increase
        if perf.brier > ceiling and perf.brier_low > ceiling:
            reasons.append(brier)
    age = months.index(check.month) - months.index(model.train_end)
    if age > policy.max_age_months:
        reasons.append(
            f"newest training month {model.train_end} is {age} months before {check.month} "
            f"(maximum {policy.max_age_months})"
        )
    drift_note = ""
    if check.drift is not None:
        run = consecutive_drift(check, history, policy.drift_share)
        drifted = f"{check.drift['drifted_features']}/{check.drift['compared_features']}"
        if run >= policy.drift_checks:
            reasons.append(f"{drifted} features drifted, {run} checked months in a row")
        elif run:
            drift_note = (
                f"drift only: {drifted} features drifted ({run} of {policy.drift_checks} "
                "consecutive months needed to retrain on drift alone)"
            )
    if not reasons:
        return RetrainDecision(False, "; ".join(fine) or "no rule fired", drift_note)
    start, end = target_window(data, check.month, policy.window)
    return RetrainDecision(True, "; ".join(reasons), drift_note, start, end)
