"""The champion/challenger rule: may the pull request's model replace the base branch's?

Bounds come from the `gate:` section of params.yaml, so changing the rule is itself a
reviewed pull request. A reviewer can accept a blocked model on purpose with a label. The
rule judges both models on the same rows only; without the base model it cannot decide.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from contrail.github import GitHub, GitHubError
from contrail.metrics import BRIER, LIFT, ROC_AUC, Metric
from contrail.params import GateParams
from contrail.report.compare import Comparison


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
    # Why the gate cannot decide (the base model could not be obtained); then nothing else
    # is judged, and no label changes that.
    undecided: str = ""

    @property
    def blocked(self) -> bool:
        return not self.promote and not self.undecided

    def line(self) -> str:
        """One line for logs, exit messages and the comment's headline."""
        if self.undecided:
            return f"cannot decide: {self.undecided}"
        if self.overridden:
            return f"promote (override): label `{self.override_label}` accepts " + "; ".join(
                self.failures
            )
        if self.failures:
            return "blocked: " + "; ".join(self.failures)
        return "promote: " + "; ".join(self.checks)


def decide(comparison: Comparison, gate: GateParams, labels: Collection[str] = ()) -> Verdict:
    """The rule, on both models scored on the PR's test rows: the two metrics files may be
    from different test months, so their deltas are never judged."""
    base = comparison.base_label
    same_rows = comparison.same_rows
    if same_rows.status == "unavailable":
        return Verdict(
            promote=False,
            failures=(),
            checks=(),
            override_label=gate.override_label,
            undecided=f"`{base}`'s model cannot be obtained: {same_rows.reason}",
        )
    failures: list[str] = []
    checks: list[str] = []

    lift = comparison.metric(LIFT).pr
    if lift < gate.min_lift:
        failures.append(f"{LIFT.label} is {lift:+.4f} (< {gate.min_lift:+.4f})")
    else:
        checks.append(f"beats the naive baseline by {lift:+.4f} {ROC_AUC.label}")

    if same_rows.status == "first model":
        checks.append(f"first model: `{base}` has no model to compare against")
    elif same_rows.status == "not comparable":
        # Nothing to judge by, and rerunning will not change that: a maintainer decides.
        failures.append(
            f"`{base}`'s model cannot be scored on this PR's test rows: {same_rows.reason}"
        )
    else:
        bounds = ((ROC_AUC, gate.max_roc_auc_drop), (BRIER, gate.max_brier_increase))
        for metric, bound in bounds:
            delta = same_rows.intervals[metric.key].delta
            where = f"against `{base}` on the same test rows"
            # Rounded: 0.745 - 0.75 is a hair over 0.005 in binary, and the bound is inclusive.
            if round(_worsening(metric, delta), 9) > bound:
                failures.append(f"{_fell(metric, delta)} {where} (at most {bound:.4f} allowed)")
            else:
                checks.append(f"{metric.label} {delta:+.4f} {where}")

    overridden = bool(failures) and gate.override_label in labels
    return Verdict(
        promote=not failures or overridden,
        failures=tuple(failures),
        checks=tuple(checks),
        override_label=gate.override_label,
        overridden=overridden,
    )


def _worsening(metric: Metric, delta: float) -> float:
    """How much worse the PR is on `metric` (negative when it improved)."""
    return -delta if metric.higher_is_better else delta


def _fell(metric: Metric, delta: float) -> str:
    if metric.higher_is_better:
        return f"{metric.label} fell by {-delta:.4f}"
    return f"{metric.label} rose by {delta:.4f}"


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


# --- GitHub: the labels a pull request has now, and re-running the gate job ---------------


@dataclass(frozen=True)
class PullRequest:
    number: int
    head_sha: str
    labels: tuple[str, ...]
    base: str = ""


def _pull(payload: Mapping[str, Any]) -> PullRequest:
    return PullRequest(
        number=int(payload["number"]),
        head_sha=str(payload["head"]["sha"]),
        labels=tuple(str(label["name"]) for label in payload.get("labels", [])),
        base=str(payload.get("base", {}).get("ref", "")),
    )


def current_pull(github: GitHub, number: str, sha: str) -> PullRequest | None:
    """The pull request as it is now: by number, or (a dispatch run) the open one whose head
    is `sha`; None when there is none."""
    if number:
        return _pull(github.call("GET", f"pulls/{number}"))
    for payload in github.call("GET", f"commits/{sha}/pulls"):
        if payload.get("state") == "open" and payload["head"]["sha"] == sha:
            return _pull(payload)
    return None


def rerun_gate_job(
    github: GitHub,
    head_sha: str,
    *,
    workflow: str,
    job_name: str,
    wait_seconds: float,
    poll_seconds: float = 20.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Re-run the gate job of the newest training run for `head_sha` (never its training
    job), after waiting for the run to finish; returns what was done, for the log."""
    runs = github.call(
        "GET", f"actions/workflows/{workflow}/runs", {"head_sha": head_sha, "per_page": "20"}
    )["workflow_runs"]
    if not runs:
        return f"no {workflow} run for {head_sha[:12]} yet: its gate will read the labels"
    run = max(runs, key=lambda r: int(r["id"]))
    waited = 0.0
    while run["status"] != "completed":
        if waited >= wait_seconds:
            raise GitHubError(f"run {run['id']} still {run['status']} after {waited:.0f} s")
        sleep(poll_seconds)
        waited += poll_seconds
        run = github.call("GET", f"actions/runs/{run['id']}")
    jobs = github.call("GET", f"actions/runs/{run['id']}/jobs", {"filter": "latest"})["jobs"]
    job = next((j for j in jobs if j["name"] == job_name), None)
    if job is None:
        raise GitHubError(f"run {run['id']} has no job named {job_name!r}")
    github.call("POST", f"actions/jobs/{job['id']}/rerun")
    return f"re-running {job_name!r} of run {run['id']} ({head_sha[:12]}): no retraining"
