"""`contrail.monitor.pulls`: which retraining PR to open, update or close (pure)."""

from __future__ import annotations

import pytest

from contrail.monitor.pulls import LABEL, Plan, Pull, branch_name, plan, target_of

ARTIFACT = "flight-delay"


def pull(number: int, branch: str) -> Pull:
    return Pull(number, branch, f"https://github.com/octo/flights/pull/{number}")


def test_branch_name_spells_the_artifact_and_the_end_month():
    assert branch_name(ARTIFACT, "2013-07") == "retrain/flight-delay-2013-07"
    assert LABEL == "retrain"


@pytest.mark.parametrize("end", ["2013-07", "2013-12", "2014-01"])
def test_target_of_reads_back_the_end_month_of_branch_name(end):
    assert target_of(f"retrain/flight-delay-{end}", ARTIFACT) == end
    assert target_of(branch_name(ARTIFACT, end), ARTIFACT) == end


@pytest.mark.parametrize(
    ("branch", "artifact"),
    [
        ("main", ARTIFACT),
        ("monitor-history", ARTIFACT),
        ("feature/retrain/flight-delay-2013-07", ARTIFACT),
        ("retrain/other-model-2013-07", ARTIFACT),
        ("retrain/flight-delay-", ARTIFACT),
        # A person's branch that follows the pattern is not the bot's to close.
        ("retrain/flight-delay-2013-07-fix", ARTIFACT),
        ("retrain/flight-delay-experiment", ARTIFACT),
        # Another artifact whose name the artifact prefixes.
        ("retrain/flight-delay-2013-07", "flight"),
        ("retrain/flight-2013-07", ARTIFACT),
    ],
)
def test_target_of_is_none_for_any_other_branch(branch, artifact):
    assert target_of(branch, artifact) is None


def test_plan_opens_a_pr_when_none_is_open():
    assert plan([], branch_name(ARTIFACT, "2013-07"), ARTIFACT, changed=True) == Plan(
        None, (), True
    )


def test_plan_updates_the_open_pr_of_the_same_branch():
    ours = pull(4, "retrain/flight-delay-2013-07")
    result = plan([ours], ours.branch, ARTIFACT, changed=True)
    assert result == Plan(ours, (), True)
    assert not result.noop


def test_plan_is_a_noop_for_an_unchanged_branch_whose_pr_is_open():
    ours = pull(4, "retrain/flight-delay-2013-07")
    result = plan([ours], ours.branch, ARTIFACT, changed=False)
    assert result.update == ours and result.close == ()
    assert result.noop


def test_plan_reopens_an_unchanged_branch_whose_pr_was_closed():
    # The branch is on the remote as it would be pushed, but nobody's PR shows it any more.
    result = plan([], "retrain/flight-delay-2013-07", ARTIFACT, changed=False)
    assert result == Plan(None, (), False)
    assert not result.noop


def test_plan_closes_older_targets_of_the_same_artifact_only():
    older = [pull(1, "retrain/flight-delay-2013-05"), pull(2, "retrain/flight-delay-2013-06")]
    others = [
        pull(3, "retrain/flight-delay-2013-09"),  # newer: not superseded by this one
        pull(5, "retrain/other-model-2013-01"),  # another artifact
        pull(6, "retrain/flight-delay-2013-06-fix"),  # a person's branch
        pull(7, "feature/speed-up"),
    ]
    ours = pull(8, "retrain/flight-delay-2013-07")
    result = plan([*older, *others, ours], ours.branch, ARTIFACT, changed=True)
    assert result == Plan(ours, tuple(older), True, newer=others[0])


def test_plan_sends_nothing_while_a_newer_window_has_an_open_pr():
    newer = pull(3, "retrain/flight-delay-2013-09")
    result = plan([newer], "retrain/flight-delay-2013-07", ARTIFACT, changed=True)
    assert result.newer == newer and result.noop


def test_plan_orders_targets_across_a_year_boundary():
    december = pull(1, "retrain/flight-delay-2013-12")
    result = plan([december], "retrain/flight-delay-2014-01", ARTIFACT, changed=True)
    assert result.close == (december,)
    backwards = plan([pull(2, "retrain/flight-delay-2014-01")], december.branch, ARTIFACT, True)
    assert backwards.close == () and backwards.newer == pull(2, "retrain/flight-delay-2014-01")


def test_plan_closes_superseded_prs_even_when_the_branch_is_unchanged():
    ours, older = pull(4, "retrain/flight-delay-2013-07"), pull(2, "retrain/flight-delay-2013-06")
    result = plan([older, ours], ours.branch, ARTIFACT, changed=False)
    assert result == Plan(ours, (older,), False)
    assert not result.noop


def test_plan_refuses_a_branch_that_is_not_a_retraining_branch():
    with pytest.raises(ValueError, match="main is not a retraining branch of flight-delay"):
        plan([], "main", ARTIFACT, changed=True)
