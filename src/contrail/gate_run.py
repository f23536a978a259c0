"""`contrail gate` against the world: compare the workspace with a base revision, record the
verdict, judge it with the labels GitHub says the pull request has now, re-run the gate job
when the override label changes.

The decisions are `contrail.gate`'s (pure); this module reads and writes the files, asks
GitHub through `contrail.transports.github`, prints the lines a run page shows, and returns
the exit code: 0 done, 1 a blocked model, 2 a gate that could not decide or a GitHub failure.
Each function raises `revision.ReportError` when the comparison cannot be made.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import typer

from contrail import paths
from contrail.gate import events
from contrail.gate.recorded import StoredVerdict, VerdictFileError
from contrail.gate.rules import promotion_verdict
from contrail.github_output import append_outputs
from contrail.io import write_text
from contrail.params import Params
from contrail.report import pr_comment, revision
from contrail.transports.github import GitHub, GitHubError


def head() -> str:
    """The checkout's commit, or "" outside a git repository."""
    try:
        return revision.resolve("HEAD")
    except revision.ReportError:
        return ""


def judge_workspace(base: str, settings: Params, params_path: Path, labels: list[str]) -> int:
    """The rule on the workspace against `base`, with `labels`: no record, no GitHub."""
    comparison = revision.collect(base, settings, bootstrap_samples=0, params_path=params_path)
    verdict = promotion_verdict(comparison, settings.gate, labels)
    typer.echo(f"contrail gate: {verdict.line()}", err=not verdict.promote)
    if verdict.promote:
        return 0
    return 2 if verdict.undecided else 1


def record_verdict(base: str, settings: Params, params_path: Path, sha: str, record: Path) -> int:
    """The training job: the label-free verdict and the commit it is for, written to `record`.
    Labels change after training, and are applied when the verdict is read."""
    comparison = revision.collect(base, settings, bootstrap_samples=0, params_path=params_path)
    found = promotion_verdict(comparison, settings.gate)
    stored = StoredVerdict(
        sha=sha,
        base=base,
        base_sha=comparison.base_sha,
        failures=found.failures,
        checks=found.checks,
        override_label=settings.gate.override_label,
        undecided=found.undecided,
    )
    write_text(record, json.dumps(stored.to_json(), indent=2) + "\n")
    typer.echo(f"{record}: {found.line()}")
    return 0


def judge_recorded(
    verdict_file: Path,
    comment_file: Path | None,
    labels: list[str],
    pr: str,
    sha: str,
    env: Mapping[str, str],
    github_output: Path | None,
) -> int:
    """The gate job. Prints `::notice::`/`::error::` lines for the run page, writes
    `pr=<number>` to `github_output` (empty: no pull request to comment on)."""
    stored: StoredVerdict | None = None
    problem = ""
    if verdict_file.exists():
        try:
            stored = StoredVerdict.loads(verdict_file.read_text())
        except VerdictFileError as exc:
            problem = f"{verdict_file}: {exc}"
    pr_head: str | None = None
    pr_base: str | None = None
    has_pull_request = True
    number = ""
    github = GitHub.from_env(env)
    if github is not None and sha:
        # A re-run job sees the labels of the event that started the run: ask GitHub.
        try:
            pull = github.current_pull(pr, sha)
        except (GitHubError, KeyError, TypeError, ValueError) as exc:
            problem = problem or f"cannot read the pull request's labels: {exc}"
            pull = None
        if pull is not None:
            labels, pr_head, number = list(pull.labels), pull.head_sha, str(pull.number)
            pr_base = pull.base or None
        elif not pr and not problem:
            has_pull_request = False
            typer.echo(
                f"::notice::No open pull request has {sha[:12]} as its head: the report is in "
                "the job summary and the pr-report artifact, no comment is posted."
            )
    result = events.gate_job(
        stored, labels, sha=sha, problem=problem, pr_head=pr_head, pr_base=pr_base,
        has_pull_request=has_pull_request,
    )  # fmt: skip
    if result.superseded:
        number = ""  # never overwrite the comment of a newer push
    report = paths.PR_REPORT.read_text() if paths.PR_REPORT.exists() else None
    if stored is None and paths.VALIDATION_FAILURES.exists():
        # Training stopped on the data: the problems it found are the report.
        report = paths.VALIDATION_FAILURES.read_text()
    text = pr_comment.gate_comment(result, stored, report)
    if comment_file is not None:
        write_text(comment_file, text)
    summary = env.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as f:
            f.write(text.split("\n\n", 1)[0] + "\n")
    append_outputs(github_output, {"pr": number})
    if env.get("GITHUB_ACTIONS") == "true":
        typer.echo(f"::{result.annotation}::Promotion gate: {result.message}")
    typer.echo(f"contrail gate: {result.message}", err=result.exit_code != 0)
    return result.exit_code


def rerun_on_label(override_label: str, pr: str, wait: float, env: Mapping[str, str]) -> int:
    """The override-label workflow: for the override label, re-run the gate job of the
    newest training run (no retraining); any other label changes nothing."""
    event = events.Event(
        env.get("GITHUB_EVENT_NAME", ""),
        env.get("CONTRAIL_EVENT_ACTION", ""),
        env.get("CONTRAIL_EVENT_LABEL", ""),
    )
    result = events.on_event(event, override_label)
    typer.echo(f"contrail gate: {result.message}")
    if result.outcome != "re-evaluate":
        return 0
    github = GitHub.from_env(env)
    if github is None or not pr:
        typer.echo(
            "contrail gate: --on-label needs GITHUB_TOKEN, GITHUB_REPOSITORY and --pr", err=True
        )
        return 2
    head_repo = env.get("CONTRAIL_PR_HEAD_REPO", github.repository)
    if head_repo != github.repository:
        # A fork's pull_request token is read-only: it cannot re-run a job.
        typer.echo(
            f"::warning::Pull request from a fork: re-run the {events.GATE_JOB!r} job of its "
            "latest PR report run by hand (Re-run job); it reads the current labels, no "
            "retraining."
        )
        return 0
    try:
        pull = github.current_pull(pr, "")
        if pull is None:
            raise GitHubError(f"pull request {pr} not found")
        done = github.rerun_job(
            pull.head_sha, workflow=events.GATE_WORKFLOW, job_name=events.GATE_JOB,
            wait_seconds=wait,
        )  # fmt: skip
    except (GitHubError, KeyError, TypeError, ValueError) as exc:
        typer.echo(f"contrail gate: {exc}", err=True)
        return 2
    typer.echo(f"::notice::{done}")
    return 0
