"""The promotion gate as a required check: what each pull-request event does to it, and a
recorded verdict judged with the labels the pull request carries now.

- A push to the pull request (opened, synchronize, reopened) or a dispatch trains, reports and
  records the label-free verdict of the comparison (`StoredVerdict`, `reports/gate.json`).
- Adding or removing the override label re-evaluates that recorded verdict: no retraining.
- Any other label change is ignored: it can neither skip, cancel nor replace the gate.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from contrail.gate.recorded import StoredVerdict

CheckOutcome = Literal["train", "re-evaluate", "ignore", "pass", "fail", "error"]

PUSH_ACTIONS = frozenset({"opened", "synchronize", "reopened"})
LABEL_ACTIONS = frozenset({"labeled", "unlabeled"})
# The exit code of `contrail gate` for each verdict: 1 is a blocked model, 2 a gate that
# could not decide.
EXIT_CODES: dict[CheckOutcome, int] = {
    "pass": 0,
    "fail": 1,
    "error": 2,
    "train": 0,
    "re-evaluate": 0,
    "ignore": 0,
}
# The workflow and job the override label re-runs: the job carries the required check's name.
GATE_WORKFLOW = "pr-report.yml"
GATE_JOB = "Promotion gate"


@dataclass(frozen=True)
class Event:
    """The GitHub event a workflow run was started by (`github.event_name`, `.action`,
    `.label.name`)."""

    name: str
    action: str = ""
    label: str = ""


@dataclass(frozen=True)
class CheckResult:
    """What the gate's required check concludes, and the one line that says why."""

    outcome: CheckOutcome
    message: str

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    @property
    def superseded(self) -> bool:
        """A run for an older push: its comment must not overwrite the newer push's."""
        return self.outcome == "error" and self.message.startswith("superseded")

    @property
    def annotation(self) -> str:
        """The run page's annotation level (`::notice::`, `::warning::`, `::error::`)."""
        return {"pass": "notice", "ignore": "warning"}.get(self.outcome, "error")


def on_event(event: Event, override_label: str) -> CheckResult:
    """What an event does to the gate: train (and then judge), re-evaluate the recorded
    verdict, or nothing at all."""
    if event.name == "workflow_dispatch" or (
        event.name == "pull_request" and event.action in PUSH_ACTIONS
    ):
        return CheckResult("train", f"{event.name} {event.action}".strip() + ": train, then judge")
    if event.name == "pull_request" and event.action in LABEL_ACTIONS:
        if event.label == override_label:
            return CheckResult(
                "re-evaluate",
                f"label `{override_label}` {event.action}: re-evaluate the recorded verdict",
            )
        return CheckResult(
            "ignore", f"label {event.action}: not `{override_label}`, the gate stands"
        )
    return CheckResult("ignore", f"{event.name} {event.action}".strip() + ": not a gate event")


def judge(
    verdict: StoredVerdict | None,
    labels: Collection[str],
    *,
    sha: str,
    pr_head: str | None = None,
    pr_base: str | None = None,
) -> CheckResult:
    """The recorded verdict with the labels the pull request carries now.

    `sha` is the commit this run was started for; `pr_head` the pull request's head commit
    now (None when unknown or not a pull request): a run for an older push is superseded.
    `pr_base` is the branch the pull request targets: a verdict against anything else (a
    dispatch with another `base`) cannot pass its gate.
    """
    if verdict is None:
        return CheckResult("error", "no recorded verdict: the training job did not finish")
    if verdict.sha != sha:
        return CheckResult(
            "error", f"the recorded verdict is for {verdict.sha[:12]}, this run is for {sha[:12]}"
        )
    if pr_head is not None and pr_head != sha:
        return CheckResult(
            "error", f"superseded: the pull request's head is now {pr_head[:12]}, not {sha[:12]}"
        )
    if pr_base is not None and verdict.base != pr_base:
        return CheckResult(
            "error",
            f"the verdict compares with `{verdict.base}`, the pull request targets `{pr_base}`",
        )
    if verdict.undecided:
        return CheckResult("error", f"cannot decide: {verdict.undecided}")
    if not verdict.blocked:
        return CheckResult("pass", "promote: " + "; ".join(verdict.checks))
    if verdict.override_label in labels:
        return CheckResult(
            "pass",
            f"promote (override): label `{verdict.override_label}` accepts "
            + "; ".join(verdict.failures),
        )
    return CheckResult("fail", "blocked: " + "; ".join(verdict.failures))


def without_pull_request(result: CheckResult) -> CheckResult:
    """A dispatch on a branch no open pull request has as its head: there is nothing to
    gate, so a blocked verdict is reported (a warning) and the run ends green. A gate that
    could not decide still fails."""
    if result.outcome != "fail":
        return result
    return CheckResult("ignore", "no pull request to gate; the model would be " + result.message)


def gate_job(
    verdict: StoredVerdict | None,
    labels: Collection[str],
    *,
    sha: str,
    problem: str = "",
    pr_head: str | None = None,
    pr_base: str | None = None,
    has_pull_request: bool = True,
) -> CheckResult:
    """What the gate job concludes: `problem` (the verdict file or the pull request could not
    be read) is an error; otherwise the recorded verdict is judged, and without a pull
    request to gate a block is only reported."""
    if problem:
        return CheckResult("error", problem)
    result = judge(verdict, labels, sha=sha, pr_head=pr_head, pr_base=pr_base)
    return result if has_pull_request else without_pull_request(result)


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
