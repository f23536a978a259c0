"""The champion/challenger rule: may the pull request's model replace the base branch's?

Bounds come from the `gate:` section of params.yaml, so changing the rule is itself a
reviewed pull request. A reviewer can accept a blocked model on purpose with a label.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass

from contrail.params import GateParams
from contrail.report.compare import CALIBRATION, HEADLINE, Comparison, Interval


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

    @property
    def blocked(self) -> bool:
        return not self.promote

    def line(self) -> str:
        """One line for logs, exit messages and the comment's headline."""
        if self.overridden:
            return f"promote (override): label `{self.override_label}` accepts " + "; ".join(
                self.failures
            )
        if self.failures:
            return "blocked: " + "; ".join(self.failures)
        return "promote: " + "; ".join(self.checks)


def decide(comparison: Comparison, gate: GateParams, labels: Collection[str] = ()) -> Verdict:
    failures: list[str] = []
    checks: list[str] = []
    base = comparison.base_label

    lift = comparison.metric("lift.roc_auc").pr
    if lift is None:
        failures.append("the workspace has no metrics (run `dvc repro` first)")
    elif lift < gate.min_lift:
        failures.append(
            f"ROC AUC lift over the naive baseline is {lift:+.4f} (< {gate.min_lift:+.4f})"
        )
    else:
        checks.append(f"beats the naive baseline by {lift:+.4f} ROC AUC")

    if not comparison.has_base:
        checks.append(f"first model: `{base}` has no metrics to compare against")
    else:
        auc = comparison.delta(HEADLINE)
        if auc is not None and auc.delta < -gate.max_roc_auc_drop:
            failures.append(
                f"ROC AUC fell by {-auc.delta:.4f} against `{base}`{_where(auc)} "
                f"(at most {gate.max_roc_auc_drop:.4f} allowed)"
            )
        elif auc is not None:
            checks.append(f"ROC AUC {auc.delta:+.4f} against `{base}`{_where(auc)}")
        brier = comparison.delta(CALIBRATION)
        if brier is not None and brier.delta > gate.max_brier_increase:
            failures.append(
                f"calibration worsened: Brier score {brier.delta:+.4f} against `{base}`"
                f"{_where(brier)} (at most +{gate.max_brier_increase:.4f} allowed)"
            )
        elif brier is not None:
            checks.append(f"Brier score {brier.delta:+.4f}")

    overridden = bool(failures) and gate.override_label in labels
    return Verdict(
        promote=not failures or overridden,
        failures=tuple(failures),
        checks=tuple(checks),
        override_label=gate.override_label,
        overridden=overridden,
    )


def _where(interval: Interval) -> str:
    return " on the same test rows" if interval.paired else ""


def parse_labels(text: str) -> list[str]:
    """Labels as the workflow passes them, a JSON list (`toJSON(...labels.*.name)`, which is
    `null` outside a pull request), or a comma-separated list typed by hand."""
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = text
    if parsed is None:
        return []
    if isinstance(parsed, list):
        return [str(label) for label in parsed]
    return [label.strip() for label in str(text).split(",") if label.strip()]
