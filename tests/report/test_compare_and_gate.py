"""The comparison's pure parts and the gate rule, on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest

from contrail.params import GateParams
from contrail.report.compare import (
    Change,
    Comparison,
    Interval,
    changes_from_dvc,
    drift_rows,
    paired_bootstrap,
)
from contrail.report.gate import decide, parse_labels


def comparison(base: dict[str, float] | None, pr: dict[str, float], **kwargs) -> Comparison:
    names = list(pr)
    return Comparison(
        base_label="main",
        base_sha="0" * 40,
        metrics=[Change(n, (base or {}).get(n), pr[n]) for n in names],
        params=[],
        drift=[],
        drift_dataset=[],
        facts=[],
        validation=Change("validation", None, None),
        **kwargs,
    )


BASE = {"model.roc_auc": 0.75, "model.brier": 0.18, "lift.roc_auc": 0.05}


def test_dvc_diff_rows_follow_the_workspace_file_order_then_base_only_keys():
    diff = {
        "b": {"old": 1, "new": 2, "diff": 1},
        "gone": {"old": 3},
        "a": {"old": True, "new": False, "diff": -1},
    }

    rows = changes_from_dvc(diff, ["a", "b"])

    assert [r.name for r in rows] == ["a", "b", "gone"]
    assert rows[1].delta == 1
    assert rows[0].delta is None  # booleans and strings have no delta
    assert rows[2] == Change("gone", 3, None)


def test_drift_rows_put_drifted_features_first_and_keep_both_sides():
    diff = {
        "dataset_drift": {"old": False, "new": True},
        "features.temp.score": {"old": 0.05, "new": 0.4},
        "features.temp.drifted": {"old": False, "new": True},
        "features.temp.method": {"old": "wasserstein", "new": "wasserstein"},
        "features.dest.score": {"old": 0.2, "new": 0.02},
        "features.dest.drifted": {"old": True, "new": False},
        "features.origin.score": {"old": 0.01, "new": 0.03},
        "features.origin.drifted": {"old": False, "new": False},
    }

    rows, dataset = drift_rows(diff)

    assert [r.feature for r in rows] == ["temp", "dest", "origin"]
    assert (rows[1].base_score, rows[1].base_drifted, rows[1].pr_score) == (0.2, True, 0.02)
    assert dataset == [Change("dataset_drift", False, True)]


def test_paired_bootstrap_of_identical_models_is_exactly_zero():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = rng.random(500)

    result = paired_bootstrap(y, p, p, samples=50, confidence=0.9, seed=1)

    for interval in result.values():
        assert (interval.delta, interval.low, interval.high) == (0.0, 0.0, 0.0)
        assert interval.paired


def test_paired_bootstrap_finds_a_better_model_and_brackets_its_delta():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    noise = rng.random(2000)
    weak, strong = 0.2 * y + 0.8 * noise, 0.6 * y + 0.4 * noise

    result = paired_bootstrap(y, weak, strong, samples=200, confidence=0.95, seed=1)

    auc = result["model.roc_auc"]
    assert 0 < auc.low <= auc.delta <= auc.high


def test_paired_bootstrap_without_samples_gives_point_deltas_only():
    y = np.array([0, 1, 0, 1])
    result = paired_bootstrap(y, np.full(4, 0.5), y * 0.9, samples=0, confidence=0.95, seed=0)

    assert result["model.roc_auc"].delta == pytest.approx(0.5)
    assert result["model.roc_auc"].low is None


def test_independent_interval_is_used_when_the_models_were_not_paired():
    c = comparison(
        {**BASE, "model.roc_auc_low": 0.74, "model.roc_auc_high": 0.76},
        {**BASE, "model.roc_auc": 0.76, "model.roc_auc_low": 0.75, "model.roc_auc_high": 0.77},
    )

    interval = c.delta("model.roc_auc")

    assert not interval.paired
    assert interval.delta == pytest.approx(0.01)
    assert interval.low < interval.delta < interval.high


def test_gate_blocks_a_headline_drop_beyond_tolerance():
    verdict = decide(comparison(BASE, {**BASE, "model.roc_auc": 0.74}), GateParams())

    assert verdict.blocked
    assert verdict.failures == ("ROC AUC fell by 0.0100 against `main` (at most 0.0050 allowed)",)


def test_gate_judges_the_paired_delta_when_both_models_were_scored():
    # The files say +0.01 (different test months); on the same rows the PR is worse.
    c = comparison(
        BASE,
        {**BASE, "model.roc_auc": 0.76},
        same_rows={"model.roc_auc": Interval(-0.02, None, None, paired=True)},
    )

    assert decide(c, GateParams()).blocked


def test_gate_blocks_worse_calibration_and_a_model_no_better_than_the_baseline():
    verdict = decide(
        comparison(BASE, {**BASE, "model.brier": 0.19, "lift.roc_auc": -0.01}), GateParams()
    )

    assert len(verdict.failures) == 2
    assert "calibration worsened" in verdict.failures[1]
    assert "lift over the naive baseline is -0.0100" in verdict.failures[0]


def test_the_override_label_promotes_a_blocked_model_and_says_so():
    c = comparison(BASE, {**BASE, "model.roc_auc": 0.70})

    verdict = decide(c, GateParams(), labels=["allow-regression"])

    assert verdict.promote and verdict.overridden
    assert verdict.line().startswith("promote (override): label `allow-regression` accepts")


def test_the_override_label_changes_nothing_for_a_model_that_passes():
    verdict = decide(comparison(BASE, BASE), GateParams(), labels=["allow-regression"])

    assert verdict.promote and not verdict.overridden
    assert verdict.line().startswith("promote: ")


def test_first_model_is_judged_on_its_lift_alone():
    verdict = decide(comparison(None, BASE), GateParams())

    assert verdict.promote
    assert any("first model" in check for check in verdict.checks)


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ('["allow-regression", "docs"]', ["allow-regression", "docs"]),
        ("[]", []),
        ("null", []),
        ("allow-regression", ["allow-regression"]),
        ("", []),
        (" allow-regression , docs ", ["allow-regression", "docs"]),
    ],
)
def test_labels_parse_from_json_or_comma_separated_text(text, labels):
    assert parse_labels(text) == labels
