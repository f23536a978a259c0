"""The champion/challenger rule on hand-made comparisons: which bounds block, what the
override label accepts, and when the gate cannot decide."""

from __future__ import annotations

import pytest
from support.comparisons import GATE, comparison, evaluation, paired

from contrail.gate.rules import promotion_verdict
from contrail.report.compare import Interval, SameRows


def test_gate_blocks_a_roc_auc_drop_beyond_tolerance():
    c = comparison(evaluation(roc_auc=0.75), evaluation(roc_auc=0.74))

    verdict = promotion_verdict(c, GATE)

    assert verdict.blocked
    assert verdict.failures == (
        "ROC AUC fell by 0.0100 against `main` on the same test rows (at most 0.0050 allowed)",
    )


def test_gate_judges_the_models_on_the_same_rows_never_the_metrics_files():
    # The bug: a retraining PR's test month is a later, harder month, so its metrics file
    # shows a Brier score 0.0029 higher and a lower ROC AUC than `main`'s file (its own test
    # month). On the PR's test rows the new model is better on both.
    base, pr = (
        evaluation(roc_auc=0.75, brier=0.18),
        evaluation(roc_auc=0.73, brier=0.1829),
    )
    on_same_rows = paired(
        base, pr, roc_auc=Interval(0.012, None, None), brier=Interval(-0.0142, None, None)
    )

    promoted = promotion_verdict(comparison(base, pr, same_rows=on_same_rows), GATE)
    # And the other way round: files that look fine do not hide a regression on the same rows.
    worse = paired(pr, base, roc_auc=Interval(-0.02, None, None))
    blocked = promotion_verdict(comparison(pr, base, same_rows=worse), GATE)

    assert promoted.promote and not promoted.failures, promoted.line()
    assert promoted.checks[1:] == (
        "ROC AUC +0.0120 against `main` on the same test rows",
        "Brier score -0.0142 against `main` on the same test rows",
    )
    assert blocked.failures == (
        "ROC AUC fell by 0.0200 against `main` on the same test rows (at most 0.0050 allowed)",
    )


def test_gate_blocks_worse_calibration_and_a_model_no_better_than_the_baseline():
    c = comparison(evaluation(brier=0.18), evaluation(brier=0.19, lift=-0.01))

    verdict = promotion_verdict(c, GATE)

    assert verdict.failures == (
        "ROC AUC lift over the naive baseline is -0.0100 (< +0.0000)",
        "Brier score rose by 0.0100 against `main` on the same test rows (at most 0.0020 allowed)",
    )


def test_gate_holds_at_the_bounds_themselves():
    c = comparison(
        evaluation(roc_auc=0.75, brier=0.18),
        evaluation(roc_auc=0.745, brier=0.182, lift=0.0),
    )

    verdict = promotion_verdict(c, GATE)

    assert verdict.promote, verdict.line()


def test_the_override_label_promotes_a_blocked_model_and_says_so():
    c = comparison(evaluation(roc_auc=0.75), evaluation(roc_auc=0.70))

    verdict = promotion_verdict(c, GATE, labels=["allow-regression"])

    assert verdict.promote and verdict.overridden
    assert verdict.line().startswith("promote (override): label `allow-regression` accepts")


def test_the_override_label_changes_nothing_for_a_model_that_passes():
    c = comparison(evaluation(), evaluation())

    verdict = promotion_verdict(c, GATE, labels=["allow-regression"])

    assert verdict.promote and not verdict.overridden
    assert verdict.line().startswith("promote: ")


def test_first_model_is_judged_on_its_lift_alone():
    assert promotion_verdict(comparison(None, evaluation(lift=0.01)), GATE).promote
    verdict = promotion_verdict(comparison(None, evaluation(lift=-0.01)), GATE)

    assert verdict.failures == ("ROC AUC lift over the naive baseline is -0.0100 (< +0.0000)",)
    assert "first model: `main` has no model to compare against" in verdict.checks


@pytest.mark.parametrize("labels", [[], ["allow-regression"]])
def test_without_the_base_model_the_gate_cannot_decide_and_judges_no_file(labels):
    why = "it is in neither the DVC cache nor a DVC remote, and rebuilding it failed: ..."
    # The files would block (ROC AUC -0.05) and the lift fails: neither is judged.
    c = comparison(
        evaluation(roc_auc=0.75),
        evaluation(roc_auc=0.70, lift=-0.01),
        same_rows=SameRows("unavailable", reason=why),
    )

    verdict = promotion_verdict(c, GATE, labels)

    assert verdict.undecided == f"`main`'s model cannot be obtained: {why}"
    assert not verdict.promote and not verdict.blocked and not verdict.overridden
    assert (verdict.failures, verdict.checks) == ((), ())
    assert verdict.line() == f"cannot decide: `main`'s model cannot be obtained: {why}"


def test_a_base_model_that_cannot_score_the_prs_rows_blocks_until_a_maintainer_accepts():
    why = "it uses feature(s) this PR no longer builds: temp"
    c = comparison(
        evaluation(),
        evaluation(),
        same_rows=SameRows("not comparable", reason=why, source="from the DVC cache or remote"),
    )

    verdict = promotion_verdict(c, GATE)

    assert verdict.failures == (f"`main`'s model cannot be scored on this PR's test rows: {why}",)
    assert promotion_verdict(c, GATE, ["allow-regression"]).overridden
