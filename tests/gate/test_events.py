"""The gate as a required check: what each event does to it, and a recorded verdict judged
with the labels the pull request carries now."""

from __future__ import annotations

import json

import pytest

from contrail.gate.events import (
    Event,
    gate_job,
    judge,
    on_event,
    parse_labels,
    without_pull_request,
)
from contrail.gate.recorded import StoredVerdict, VerdictFileError
from contrail.report.pr_comment import gate_comment


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
    # As the two jobs apply it: the label job's event rule, then the training run's gate job.
    decision = on_event(event, OVERRIDE)
    if decision.outcome == "train":
        decision = judge(verdict, labels, sha=SHA)

    assert decision.outcome == outcome, decision.message
    assert decision.exit_code == {"pass": 0, "fail": 1, "error": 2}.get(outcome, 0)


def test_a_blocked_verdict_passes_only_with_the_override_label_and_says_so():
    passed = judge(BLOCKED, ["docs", OVERRIDE], sha=SHA)
    failed = judge(BLOCKED, ["docs"], sha=SHA)

    assert passed.outcome == "pass"
    assert passed.message.startswith("promote (override): label `allow-regression` accepts ROC")
    assert failed.outcome == "fail" and failed.message.startswith("blocked: ROC AUC fell")
    text = gate_comment(passed, BLOCKED, "## ❌ Model report: blocked\n")
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


def test_the_gate_job_reports_a_problem_a_missing_pull_request_and_a_superseded_run():
    unreadable = gate_job(BLOCKED, [OVERRIDE], sha=SHA, problem="reports/gate.json: not JSON")
    no_pull = gate_job(BLOCKED, [], sha=SHA, has_pull_request=False)
    superseded = gate_job(stored(), [], sha=SHA, pr_head="e" * 40)
    passed = gate_job(BLOCKED, [OVERRIDE], sha=SHA, pr_head=SHA, pr_base="main")

    assert (unreadable.outcome, unreadable.message) == ("error", "reports/gate.json: not JSON")
    assert (unreadable.annotation, unreadable.exit_code) == ("error", 2)
    assert (no_pull.outcome, no_pull.annotation, no_pull.exit_code) == ("ignore", "warning", 0)
    assert superseded.superseded and not passed.superseded
    assert (passed.outcome, passed.annotation, passed.exit_code) == ("pass", "notice", 0)
