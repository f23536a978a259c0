"""The comparison's pure parts and the gate rule, on hand-made inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from contrail.github import GitHub, GitHubError
from contrail.report.checks import (
    Event,
    StoredVerdict,
    VerdictFileError,
    comment,
    judge,
    without_pull_request,
)
from contrail.report.checks import decide as decide_event
from contrail.report.compare import (
    Change,
    Interval,
    SameRows,
    changes_from_dvc,
    drift_rows,
    paired_bootstrap,
)
from contrail.report.gate import (
    PullRequest,
    current_pull,
    decide,
    parse_labels,
    rerun_gate_job,
)


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


def loop_paired_bootstrap(y, p_base, p_pr, samples, confidence, seed):
    """The textbook paired bootstrap: draw row indices, score both models on them with
    scikit-learn, skip draws with one class; percentile intervals of the differences."""
    rng = np.random.default_rng(seed)
    aucs, briers = [], []
    for _ in range(samples):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() == y[idx].max():
            continue
        aucs.append(roc_auc_score(y[idx], p_pr[idx]) - roc_auc_score(y[idx], p_base[idx]))
        briers.append(np.mean((p_pr[idx] - y[idx]) ** 2) - np.mean((p_base[idx] - y[idx]) ** 2))
    tail = (1 - confidence) / 2
    return {
        "model.roc_auc": tuple(np.quantile(aucs, [tail, 1 - tail])),
        "model.brier": tuple(np.quantile(briers, [tail, 1 - tail])),
    }


@pytest.mark.parametrize(
    ("rows", "samples"),
    [
        (1500, 230),  # more than one chunk of resamples, a partial last one
        (12, 80),  # one positive row: many resamples have a single class and are skipped
    ],
)
def test_paired_bootstrap_equals_a_loop_over_resampled_rows_with_the_same_seed(rows, samples):
    rng = np.random.default_rng(3)
    y = (rng.random(rows) < 0.3).astype(int) if rows > 100 else np.eye(rows, dtype=int)[0]
    # Rounded scores: ties, which a rank-based ROC AUC must count half.
    p_base = np.round(0.3 * y + 0.7 * rng.random(rows), 2)
    p_pr = np.round(0.5 * y + 0.5 * rng.random(rows), 2)

    result = paired_bootstrap(y, p_base, p_pr, samples, confidence=0.9, seed=7)
    expected = loop_paired_bootstrap(y, p_base, p_pr, samples, confidence=0.9, seed=7)

    for name, (low, high) in expected.items():
        assert (result[name].low, result[name].high) == pytest.approx((low, high), abs=1e-12)
    assert result["model.roc_auc"].delta == pytest.approx(
        roc_auc_score(y, p_pr) - roc_auc_score(y, p_base), abs=1e-12
    )
    assert result["model.brier"].delta == pytest.approx(
        np.mean((p_pr - y) ** 2) - np.mean((p_base - y) ** 2), abs=1e-12
    )


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
    assert result["model.brier"].delta == pytest.approx(0.01 * 2 / 4 - 0.25)
    assert result["model.roc_auc"].low is None


def test_gate_blocks_a_roc_auc_drop_beyond_tolerance(make_evaluation, make_comparison, gate_params):
    c = make_comparison(make_evaluation(roc_auc=0.75), make_evaluation(roc_auc=0.74))

    verdict = decide(c, gate_params)

    assert verdict.blocked
    assert verdict.failures == (
        "ROC AUC fell by 0.0100 against `main` on the same test rows (at most 0.0050 allowed)",
    )


def test_gate_judges_the_models_on_the_same_rows_never_the_metrics_files(
    make_evaluation, make_comparison, make_paired, gate_params
):
    # The bug: a retraining PR's test month is a later, harder month, so its metrics file
    # shows a Brier score 0.0029 higher and a lower ROC AUC than `main`'s file (its own test
    # month). On the PR's test rows the new model is better on both.
    base, pr = (
        make_evaluation(roc_auc=0.75, brier=0.18),
        make_evaluation(roc_auc=0.73, brier=0.1829),
    )
    on_same_rows = make_paired(
        base, pr, roc_auc=Interval(0.012, None, None), brier=Interval(-0.0142, None, None)
    )

    promoted = decide(make_comparison(base, pr, same_rows=on_same_rows), gate_params)
    # And the other way round: files that look fine do not hide a regression on the same rows.
    worse = make_paired(pr, base, roc_auc=Interval(-0.02, None, None))
    blocked = decide(make_comparison(pr, base, same_rows=worse), gate_params)

    assert promoted.promote and not promoted.failures, promoted.line()
    assert promoted.checks[1:] == (
        "ROC AUC +0.0120 against `main` on the same test rows",
        "Brier score -0.0142 against `main` on the same test rows",
    )
    assert blocked.failures == (
        "ROC AUC fell by 0.0200 against `main` on the same test rows (at most 0.0050 allowed)",
    )


def test_gate_blocks_worse_calibration_and_a_model_no_better_than_the_baseline(
    make_evaluation, make_comparison, gate_params
):
    c = make_comparison(make_evaluation(brier=0.18), make_evaluation(brier=0.19, lift=-0.01))

    verdict = decide(c, gate_params)

    assert verdict.failures == (
        "ROC AUC lift over the naive baseline is -0.0100 (< +0.0000)",
        "Brier score rose by 0.0100 against `main` on the same test rows (at most 0.0020 allowed)",
    )


def test_gate_holds_at_the_bounds_themselves(make_evaluation, make_comparison, gate_params):
    c = make_comparison(
        make_evaluation(roc_auc=0.75, brier=0.18),
        make_evaluation(roc_auc=0.745, brier=0.182, lift=0.0),
    )

    verdict = decide(c, gate_params)

    assert verdict.promote, verdict.line()


def test_the_override_label_promotes_a_blocked_model_and_says_so(
    make_evaluation, make_comparison, gate_params
):
    c = make_comparison(make_evaluation(roc_auc=0.75), make_evaluation(roc_auc=0.70))

    verdict = decide(c, gate_params, labels=["allow-regression"])

    assert verdict.promote and verdict.overridden
    assert verdict.line().startswith("promote (override): label `allow-regression` accepts")


def test_the_override_label_changes_nothing_for_a_model_that_passes(
    make_evaluation, make_comparison, gate_params
):
    c = make_comparison(make_evaluation(), make_evaluation())

    verdict = decide(c, gate_params, labels=["allow-regression"])

    assert verdict.promote and not verdict.overridden
    assert verdict.line().startswith("promote: ")


def test_first_model_is_judged_on_its_lift_alone(make_evaluation, make_comparison, gate_params):
    assert decide(make_comparison(None, make_evaluation(lift=0.01)), gate_params).promote
    verdict = decide(make_comparison(None, make_evaluation(lift=-0.01)), gate_params)

    assert verdict.failures == ("ROC AUC lift over the naive baseline is -0.0100 (< +0.0000)",)
    assert "first model: `main` has no model to compare against" in verdict.checks


@pytest.mark.parametrize("labels", [[], ["allow-regression"]])
def test_without_the_base_model_the_gate_cannot_decide_and_judges_no_file(
    make_evaluation, make_comparison, gate_params, labels
):
    why = "it is in neither the DVC cache nor a DVC remote, and rebuilding it failed: ..."
    # The files would block (ROC AUC -0.05) and the lift fails: neither is judged.
    c = make_comparison(
        make_evaluation(roc_auc=0.75),
        make_evaluation(roc_auc=0.70, lift=-0.01),
        same_rows=SameRows("unavailable", reason=why),
    )

    verdict = decide(c, gate_params, labels)

    assert verdict.undecided == f"`main`'s model cannot be obtained: {why}"
    assert not verdict.promote and not verdict.blocked and not verdict.overridden
    assert (verdict.failures, verdict.checks) == ((), ())
    assert verdict.line() == f"cannot decide: `main`'s model cannot be obtained: {why}"


def test_a_base_model_that_cannot_score_the_prs_rows_blocks_until_a_maintainer_accepts(
    make_evaluation, make_comparison, gate_params
):
    why = "it uses feature(s) this PR no longer builds: temp"
    c = make_comparison(
        make_evaluation(),
        make_evaluation(),
        same_rows=SameRows("not comparable", reason=why, source="from the DVC cache or remote"),
    )

    verdict = decide(c, gate_params)

    assert verdict.failures == (f"`main`'s model cannot be scored on this PR's test rows: {why}",)
    assert decide(c, gate_params, ["allow-regression"]).overridden


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


# --- The gate as a required check: events, the recorded verdict, current labels ------------

SHA = "c" * 40
OVERRIDE = "allow-regression"


def stored(*failures: str) -> StoredVerdict:
    return StoredVerdict(
        sha=SHA,
        base="main",
        base_sha="b" * 40,
        failures=failures,
        checks=("beats the naive baseline by +0.0500 ROC AUC",),
        override_label=OVERRIDE,
    )


BLOCKED = stored("ROC AUC fell by 0.0100 against `main` (at most 0.0050 allowed)")


@pytest.mark.parametrize(
    ("event", "labels", "verdict", "outcome"),
    [
        # A push trains; its gate job judges the recorded verdict with the labels it has now.
        (Event("pull_request", "opened"), [], stored(), "pass"),
        (Event("pull_request", "synchronize"), [], BLOCKED, "fail"),
        (Event("pull_request", "reopened"), [OVERRIDE], BLOCKED, "pass"),
        (Event("pull_request", "synchronize"), ["docs"], BLOCKED, "fail"),
        (Event("workflow_dispatch"), [], BLOCKED, "fail"),
        (Event("workflow_dispatch"), [], stored(), "pass"),
        # No verdict (training failed or was cancelled): an error, never a pass.
        (Event("pull_request", "synchronize"), [OVERRIDE], None, "error"),
        # The override label, added or removed: re-evaluate, whatever the verdict.
        (Event("pull_request", "labeled", OVERRIDE), [OVERRIDE], BLOCKED, "re-evaluate"),
        (Event("pull_request", "unlabeled", OVERRIDE), [], None, "re-evaluate"),
        # Any other label: ignored, it can neither pass nor fail nor re-run the gate.
        (Event("pull_request", "labeled", "docs"), [OVERRIDE], BLOCKED, "ignore"),
        (Event("pull_request", "unlabeled", "docs"), [], stored(), "ignore"),
        (Event("pull_request", "edited"), [OVERRIDE], BLOCKED, "ignore"),
        (Event("push"), [], BLOCKED, "ignore"),
    ],
)
def test_the_gate_decision_for_each_event(event, labels, verdict, outcome):
    decision = decide_event(event, OVERRIDE, labels, verdict, sha=SHA)

    assert decision.outcome == outcome, decision.message
    assert decision.exit_code == {"pass": 0, "fail": 1, "error": 2}.get(outcome, 0)


def test_a_blocked_verdict_passes_only_with_the_override_label_and_says_so():
    passed = judge(BLOCKED, ["docs", OVERRIDE], sha=SHA)
    failed = judge(BLOCKED, ["docs"], sha=SHA)

    assert passed.outcome == "pass"
    assert passed.message.startswith("promote (override): label `allow-regression` accepts ROC")
    assert failed.outcome == "fail" and failed.message.startswith("blocked: ROC AUC fell")
    text = comment(passed, BLOCKED, "## ❌ Model report: blocked\n")
    assert text.startswith("> ✅ **Promotion gate:** promote (override): label `allow-regression`")
    assert text.endswith("\n\n## ❌ Model report: blocked\n")


def test_a_verdict_for_another_commit_or_a_superseded_run_is_an_error():
    other = judge(stored(), [], sha="d" * 40)
    superseded = judge(stored(), [OVERRIDE], sha=SHA, pr_head="e" * 40)

    assert (other.outcome, other.exit_code) == ("error", 2)
    assert "recorded verdict is for cccccccccccc" in other.message
    assert superseded.outcome == "error" and superseded.message.startswith("superseded")
    assert judge(stored(), [], sha=SHA, pr_head=SHA).outcome == "pass"
    # A dispatch comparing the PR's head with anything but its target branch cannot pass.
    elsewhere = judge(stored(), [], sha=SHA, pr_head=SHA, pr_base="release")
    assert elsewhere.outcome == "error"
    assert "compares with `main`, the pull request targets `release`" in elsewhere.message
    assert judge(stored(), [], sha=SHA, pr_head=SHA, pr_base="main").outcome == "pass"


def test_a_dispatch_without_a_pull_request_reports_a_block_but_only_errors_fail():
    blocked = without_pull_request(judge(BLOCKED, [], sha=SHA))
    missing = without_pull_request(judge(None, [], sha=SHA))

    assert (blocked.outcome, blocked.exit_code) == ("ignore", 0)
    assert blocked.message.startswith("no pull request to gate; the model would be blocked: ")
    assert (missing.outcome, missing.exit_code) == ("error", 2)
    assert without_pull_request(judge(stored(), [], sha=SHA)).outcome == "pass"


def test_an_undecided_verdict_fails_with_its_reason_whatever_the_labels():
    undecided = StoredVerdict(
        sha=SHA, base="main", base_sha="b" * 40, failures=(), checks=(),
        override_label=OVERRIDE, undecided="`main`'s model cannot be obtained: ...",
    )  # fmt: skip

    for labels in ([], [OVERRIDE]):
        decision = judge(undecided, labels, sha=SHA)
        assert (decision.outcome, decision.exit_code) == ("error", 2)
        assert decision.message == "cannot decide: `main`'s model cannot be obtained: ..."
    assert undecided.to_json()["promote"] is False
    assert StoredVerdict.loads(json.dumps(undecided.to_json())) == undecided
    assert without_pull_request(judge(undecided, [], sha=SHA)).exit_code == 2


def test_the_recorded_verdict_round_trips_and_a_broken_file_is_named():
    assert StoredVerdict.loads(json.dumps(BLOCKED.to_json())) == BLOCKED
    assert BLOCKED.to_json()["promote"] is False

    for text, problem in [
        ("{", "not JSON"),
        ("[]", "not a JSON object"),
        (json.dumps({**BLOCKED.to_json(), "sha": ""}), "empty sha"),
        (json.dumps({k: v for k, v in BLOCKED.to_json().items() if k != "failures"}), "missing"),
        (json.dumps({**BLOCKED.to_json(), "failures": "x"}), "unexpected value types"),
    ]:
        with pytest.raises(VerdictFileError, match=problem):
            StoredVerdict.loads(text)


class FakeGitHub(GitHub):
    """The REST calls `rerun_gate_job` and `current_pull` make, answered from a script."""

    def __init__(self, answers: dict[tuple[str, str], list[object]]) -> None:
        super().__init__("https://api.example", "owner/repo", "token")
        object.__setattr__(self, "answers", answers)
        object.__setattr__(self, "calls", [])

    def call(self, method, path, query=None):
        self.calls.append((method, path))
        replies = self.answers[(method, path)]
        return replies.pop(0) if len(replies) > 1 else replies[0]


def test_the_override_label_re_runs_only_the_gate_job_after_the_run_finished():
    runs = "actions/workflows/pr-report.yml/runs"
    github = FakeGitHub({
        ("GET", runs): [{"workflow_runs": [{"id": 7, "status": "completed"},
                                           {"id": 9, "status": "in_progress"}]}],
        ("GET", "actions/runs/9"): [{"id": 9, "status": "in_progress"},
                                    {"id": 9, "status": "completed"}],
        ("GET", "actions/runs/9/jobs"): [{"jobs": [{"id": 1, "name": "Train and report"},
                                                   {"id": 2, "name": "Promotion gate"}]}],
        ("POST", "actions/jobs/2/rerun"): [None],
    })  # fmt: skip
    slept: list[float] = []

    done = rerun_gate_job(
        github, SHA, workflow="pr-report.yml", job_name="Promotion gate",
        wait_seconds=100, poll_seconds=10, sleep=slept.append,
    )  # fmt: skip

    assert done.startswith("re-running 'Promotion gate' of run 9")
    assert slept == [10, 10]
    assert ("POST", "actions/jobs/2/rerun") in github.calls
    assert not any("jobs/1" in path for _, path in github.calls)  # never the training job


def test_re_running_the_gate_gives_up_on_a_run_that_does_not_finish():
    github = FakeGitHub({
        ("GET", "actions/workflows/pr-report.yml/runs"): [
            {"workflow_runs": [{"id": 9, "status": "queued"}]}],
        ("GET", "actions/runs/9"): [{"id": 9, "status": "in_progress"}],
    })  # fmt: skip

    with pytest.raises(GitHubError, match="still in_progress"):
        rerun_gate_job(
            github, SHA, workflow="pr-report.yml", job_name="Promotion gate",
            wait_seconds=30, poll_seconds=10, sleep=lambda _: None,
        )  # fmt: skip


def test_the_current_labels_come_from_the_pull_request_or_the_open_pr_of_a_commit():
    pull = {
        "number": 5, "state": "open", "head": {"sha": SHA}, "base": {"ref": "main"},
        "labels": [{"name": OVERRIDE}],
    }  # fmt: skip
    closed = {**pull, "number": 4, "state": "closed"}
    github = FakeGitHub({
        ("GET", "pulls/5"): [pull],
        ("GET", f"commits/{SHA}/pulls"): [[closed, pull]],
        ("GET", f"commits/{'d' * 40}/pulls"): [[]],
    })  # fmt: skip

    assert current_pull(github, "5", SHA) == PullRequest(5, SHA, (OVERRIDE,), "main")
    assert current_pull(github, "", SHA) == PullRequest(5, SHA, (OVERRIDE,), "main")
    assert current_pull(github, "", "d" * 40) is None
