"""The promotion gate as a required check: what each pull-request event does to it, and a
recorded verdict judged with the labels the pull request carries now.

Pure (no git, no network): the workflows and `contrail gate` follow these functions, and the
tests pin them down offline.

- A push to the pull request (opened, synchronize, reopened) or a dispatch trains, reports and
  records the label-free verdict of the comparison (`StoredVerdict`, `reports/gate.json`).
- Adding or removing the override label re-evaluates that recorded verdict: no retraining.
- Any other label change is ignored: it can neither skip, cancel nor replace the gate.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Outcome = Literal["train", "re-evaluate", "ignore", "pass", "fail", "error"]

PUSH_ACTIONS = frozenset({"opened", "synchronize", "reopened"})
LABEL_ACTIONS = frozenset({"labeled", "unlabeled"})
# The exit code of `contrail gate` for each verdict: 1 is a blocked model, 2 a gate that
# could not decide.
EXIT_CODES: dict[Outcome, int] = {
    "pass": 0,
    "fail": 1,
    "error": 2,
    "train": 0,
    "re-evaluate": 0,
    "ignore": 0,
}


class VerdictFileError(ValueError):
    """The recorded verdict cannot be read; the message says why."""


@dataclass(frozen=True)
class StoredVerdict:
    """What the training run concluded, before any label is applied."""

    # The pull request's head commit the model was trained on (or the checkout's HEAD).
    sha: str
    base: str
    base_sha: str
    # Bounds the model broke (empty: it may be promoted on its own merits) and those it met.
    failures: tuple[str, ...]
    checks: tuple[str, ...]
    override_label: str
    # Why the comparison could not be made (the base model could not be obtained): the gate
    # then cannot decide, whatever the labels.
    undecided: str = ""

    @property
    def blocked(self) -> bool:
        return bool(self.failures)

    def to_json(self) -> dict[str, Any]:
        return {
            "sha": self.sha,
            "base": self.base,
            "base_sha": self.base_sha,
            "promote": not self.blocked and not self.undecided,
            "undecided": self.undecided,
            "failures": list(self.failures),
            "checks": list(self.checks),
            "override_label": self.override_label,
        }

    @classmethod
    def from_json(cls, payload: object) -> StoredVerdict:
        if not isinstance(payload, Mapping):
            raise VerdictFileError("not a JSON object")
        try:
            fields = {name: payload[name] for name in ("sha", "base", "base_sha", "undecided")}
            lists = {name: payload[name] for name in ("failures", "checks")}
            override_label = payload["override_label"]
        except KeyError as exc:
            raise VerdictFileError(f"missing {exc.args[0]!r}") from None
        texts = [*fields.values(), override_label]
        if not all(isinstance(v, str) for v in texts) or not all(
            isinstance(v, list) and all(isinstance(item, str) for item in v) for v in lists.values()
        ):
            raise VerdictFileError("unexpected value types")
        if not fields["sha"] or not override_label:
            raise VerdictFileError("empty sha or override_label")
        return cls(
            sha=fields["sha"],
            base=fields["base"],
            base_sha=fields["base_sha"],
            failures=tuple(lists["failures"]),
            checks=tuple(lists["checks"]),
            override_label=override_label,
            undecided=fields["undecided"],
        )

    @classmethod
    def loads(cls, text: str) -> StoredVerdict:
        try:
            return cls.from_json(json.loads(text))
        except json.JSONDecodeError as exc:
            raise VerdictFileError(f"not JSON ({exc.msg})") from None


@dataclass(frozen=True)
class Event:
    """The GitHub event a workflow run was started by (`github.event_name`, `.action`,
    `.label.name`)."""

    name: str
    action: str = ""
    label: str = ""


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    message: str

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]


def on_event(event: Event, override_label: str) -> Decision:
    """What an event does to the gate: train (and then judge), re-evaluate the recorded
    verdict, or nothing at all."""
    if event.name == "workflow_dispatch" or (
        event.name == "pull_request" and event.action in PUSH_ACTIONS
    ):
        return Decision("train", f"{event.name} {event.action}".strip() + ": train, then judge")
    if event.name == "pull_request" and event.action in LABEL_ACTIONS:
        if event.label == override_label:
            return Decision(
                "re-evaluate",
                f"label `{override_label}` {event.action}: re-evaluate the recorded verdict",
            )
        return Decision("ignore", f"label {event.action}: not `{override_label}`, the gate stands")
    return Decision("ignore", f"{event.name} {event.action}".strip() + ": not a gate event")


def judge(
    verdict: StoredVerdict | None,
    labels: Collection[str],
    *,
    sha: str,
    pr_head: str | None = None,
    pr_base: str | None = None,
) -> Decision:
    """The recorded verdict with the labels the pull request carries now.

    `sha` is the commit this run was started for; `pr_head` the pull request's head commit
    now (None when unknown or not a pull request): a run for an older push is superseded.
    `pr_base` is the branch the pull request targets: a verdict against anything else (a
    dispatch with another `base`) cannot pass its gate.
    """
    if verdict is None:
        return Decision("error", "no recorded verdict: the training job did not finish")
    if verdict.sha != sha:
        return Decision(
            "error", f"the recorded verdict is for {verdict.sha[:12]}, this run is for {sha[:12]}"
        )
    if pr_head is not None and pr_head != sha:
        return Decision(
            "error", f"superseded: the pull request's head is now {pr_head[:12]}, not {sha[:12]}"
        )
    if pr_base is not None and verdict.base != pr_base:
        return Decision(
            "error",
            f"the verdict compares with `{verdict.base}`, the pull request targets `{pr_base}`",
        )
    if verdict.undecided:
        return Decision("error", f"cannot decide: {verdict.undecided}")
    if not verdict.blocked:
        return Decision("pass", "promote: " + "; ".join(verdict.checks))
    if verdict.override_label in labels:
        return Decision(
            "pass",
            f"promote (override): label `{verdict.override_label}` accepts "
            + "; ".join(verdict.failures),
        )
    return Decision("fail", "blocked: " + "; ".join(verdict.failures))


def without_pull_request(decision: Decision) -> Decision:
    """A dispatch on a branch no open pull request has as its head: there is nothing to
    gate, so a blocked verdict is reported (a warning) and the run ends green. A gate that
    could not decide still fails."""
    if decision.outcome != "fail":
        return decision
    return Decision("ignore", "no pull request to gate; the model would be " + decision.message)


def decide(
    event: Event,
    override_label: str,
    labels: Collection[str],
    verdict: StoredVerdict | None,
    *,
    sha: str,
    pr_head: str | None = None,
) -> Decision:
    """The whole rule: label events re-evaluate or are ignored; the gate job of a training
    run (or its re-run) passes or fails on the recorded verdict and the current labels."""
    first = on_event(event, override_label)
    if first.outcome != "train":
        return first
    return judge(verdict, labels, sha=sha, pr_head=pr_head)


def comment(decision: Decision, verdict: StoredVerdict | None, report: str | None) -> str:
    """The pull-request comment: the gate's current decision over the training report, so a
    re-evaluation after a label change says what it concluded and why."""
    icon = {"pass": "✅", "fail": "❌"}.get(decision.outcome, "⚠️")
    override = verdict.override_label if verdict is not None else "the override label"
    lines = [
        f"> {icon} **Promotion gate:** {decision.message}",
        ">",
        f"> Judged with the pull request's labels at evaluation time; adding or removing "
        f"`{override}` re-evaluates this verdict without retraining.",
    ]
    text = "\n".join(lines) + "\n"
    return text + ("\n" + report if report else "")
