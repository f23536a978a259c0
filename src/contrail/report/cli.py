"""`contrail report` and `contrail gate`: the pull-request loop's two CLI steps.

Both compare the workspace (after `dvc repro`) with a base revision. PR labels come in through
`--labels` or `CONTRAIL_PR_LABELS`, so a workflow passes them via `env:` and never pastes
PR-controlled text into a shell command.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from contrail.params import Params

from contrail import paths

report_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

BaseOption = typer.Option("main", "--base", help="Revision to compare with (branch, tag or SHA).")
OutputOption = typer.Option(paths.PR_REPORT, "--output", help="Markdown file to write.")
ParamsOption = typer.Option(Path("params.yaml"), "--params", help="Parameters file.")
LabelsOption = typer.Option(
    "",
    "--labels",
    envvar="CONTRAIL_PR_LABELS",
    help="The pull request's labels: a JSON list or comma-separated.",
)


def _params(path: Path) -> Params:
    from contrail.params import ParamsError, load_params

    try:
        return load_params(path)
    except ParamsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


LinkPlotsOption = typer.Option(
    False,
    "--link-plots",
    envvar="CONTRAIL_LINK_PLOTS",
    help="Link the interactive `dvc plots diff` HTML from the comment (a local file, which "
    "`cml comment update --publish` uploads). Off: the comment links no local file.",
)


@report_app.command()
def report(
    base: str = BaseOption,
    params: Path = ParamsOption,
    labels: str = LabelsOption,
    output: Path = OutputOption,
    link_plots: bool = LinkPlotsOption,
) -> None:
    """Write the PR comment (markdown, charts as Mermaid) comparing the workspace with --base."""
    from contrail.io import write_text
    from contrail.report import markdown, revision
    from contrail.report.gate import decide, parse_labels

    settings = _params(params)
    try:
        comparison = revision.collect(
            base, settings, settings.evaluate.bootstrap_samples, params_path=params
        )
        plot_data = revision.plot_data(comparison.base_sha)
    except revision.ReportError as exc:
        typer.echo(f"contrail report: {exc}", err=True)
        raise typer.Exit(2) from None
    if comparison.same_rows.source:
        # For the CI log: a rebuilt base model takes minutes, and may not be byte-identical.
        typer.echo(f"contrail report: `{base}`'s model {comparison.same_rows.source}", err=True)
    verdict = decide(comparison, settings.gate, parse_labels(labels))

    # The artifact folder beside the markdown holds the interactive charts only; the comment
    # draws its own (Mermaid) and links this folder only with --link-plots.
    artifact_dir = output.parent / output.stem
    shutil.rmtree(artifact_dir, ignore_errors=True)
    artifact_dir.mkdir(parents=True)
    plots_link = None
    try:
        revision.write_interactive_plots(comparison.base_sha, artifact_dir / "plots")
        if link_plots:
            plots_link = f"{artifact_dir.name}/plots/index.html"
    except revision.ReportError as exc:
        typer.echo(f"contrail report: no interactive plots ({exc})", err=True)

    text = markdown.render(
        comparison, verdict, plot_data, revision.run_url(dict(os.environ)), plots_link
    )
    write_text(output, text)
    # On GitHub Actions the run page shows it too: the only place a fork's PR can read it.
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as f:
            f.write(text)
    typer.echo(f"{output}: {verdict.line()}")


GateRecordOption = typer.Option(
    None,
    "--record",
    help="Write the label-free verdict (and the commit) to this JSON file; exit 0 "
    "whatever it says (--verdict exits 1 or 2 on it), 2 if there is none.",
)
GateVerdictFileOption = typer.Option(
    None,
    "--verdict",
    help="Judge a verdict written by --record with the labels the pull request has now "
    "(read from GitHub when CONTRAIL_PR_NUMBER and GITHUB_TOKEN are set), no comparison.",
)
GateCommentFileOption = typer.Option(
    None, "--comment", help="With --verdict: write the PR comment (gate line + report)."
)
GateOnLabelOption = typer.Option(
    False,
    "--on-label",
    help="Label event (CONTRAIL_EVENT_ACTION, CONTRAIL_EVENT_LABEL): for the override "
    "label, re-run the gate job of the newest training run; ignore any other label.",
)
GatePrOption = typer.Option("", "--pr", envvar="CONTRAIL_PR_NUMBER", help="Pull request number.")
GateHeadShaOption = typer.Option(
    "",
    "--head-sha",
    envvar="CONTRAIL_HEAD_SHA",
    help="Commit the run is for (default: HEAD).",
)
GateWaitOption = typer.Option(3600, "--wait", help="--on-label: seconds to wait for a run.")

# The workflow and job the override-label workflow re-runs: the required check's name.
GATE_WORKFLOW = "pr-report.yml"
GATE_JOB = "Promotion gate"


@report_app.command()
def gate(
    base: str = BaseOption,
    params: Path = ParamsOption,
    labels: str = LabelsOption,
    record: Path | None = GateRecordOption,
    verdict_file: Path | None = GateVerdictFileOption,
    comment_file: Path | None = GateCommentFileOption,
    on_label: bool = GateOnLabelOption,
    pr: str = GatePrOption,
    head_sha: str = GateHeadShaOption,
    wait: float = GateWaitOption,
) -> None:
    """Exit 1 with a one-line reason if the workspace's model may not replace --base's; 2 when
    the gate cannot decide (e.g. --base's model can be neither fetched nor rebuilt)."""
    from contrail.report import checks, revision
    from contrail.report.gate import decide, parse_labels

    settings = _params(params)
    override = settings.gate.override_label
    if on_label:
        _gate_on_label(override, pr, wait)
        return
    sha = head_sha or _head()
    if verdict_file is not None:
        _gate_from_verdict(verdict_file, comment_file, labels, pr, sha)
        return
    try:
        comparison = revision.collect(base, settings, bootstrap_samples=0, params_path=params)
    except revision.ReportError as exc:
        typer.echo(f"contrail gate: {exc}", err=True)
        raise typer.Exit(2) from None
    if record is not None:
        # Label-free: labels change after training, and are applied when the verdict is read.
        found = decide(comparison, settings.gate)
        stored = checks.StoredVerdict(
            sha=sha,
            base=base,
            base_sha=comparison.base_sha,
            failures=found.failures,
            checks=found.checks,
            override_label=override,
            undecided=found.undecided,
        )
        from contrail.io import write_text

        write_text(record, json.dumps(stored.to_json(), indent=2) + "\n")
        typer.echo(f"{record}: {found.line()}")
        return
    verdict = decide(comparison, settings.gate, parse_labels(labels))
    typer.echo(f"contrail gate: {verdict.line()}", err=not verdict.promote)
    if not verdict.promote:
        raise typer.Exit(2 if verdict.undecided else 1)


def _head() -> str:
    from contrail.report import revision

    try:
        return revision.resolve("HEAD")
    except revision.ReportError:
        return ""


def _gate_from_verdict(
    verdict_file: Path, comment_file: Path | None, labels: str, pr: str, sha: str
) -> None:
    """`contrail gate --verdict`: the gate job. Prints `::notice::`/`::error::` lines for the
    run page, writes `pr=<number>` to GITHUB_OUTPUT (empty: no pull request to comment on)."""
    from contrail.github import GitHub, GitHubError
    from contrail.io import write_text
    from contrail.report import checks
    from contrail.report.gate import current_pull, parse_labels

    stored: checks.StoredVerdict | None = None
    problem = ""
    if verdict_file.exists():
        try:
            stored = checks.StoredVerdict.loads(verdict_file.read_text())
        except checks.VerdictFileError as exc:
            problem = f"{verdict_file}: {exc}"
    current_labels = parse_labels(labels)
    pr_head: str | None = None
    pr_base: str | None = None
    without_pr = False
    number = ""
    github = GitHub.from_env(os.environ)
    if github is not None and sha:
        # A re-run job sees the labels of the event that started the run: ask GitHub.
        try:
            pull = current_pull(github, pr, sha)
        except (GitHubError, KeyError, TypeError, ValueError) as exc:
            problem = problem or f"cannot read the pull request's labels: {exc}"
            pull = None
        if pull is not None:
            current_labels, pr_head, number = list(pull.labels), pull.head_sha, str(pull.number)
            pr_base = pull.base or None
        elif not pr and not problem:
            without_pr = True
            typer.echo(
                f"::notice::No open pull request has {sha[:12]} as its head: the report is in "
                "the job summary and the pr-report artifact, no comment is posted."
            )
    if problem:
        decision = checks.Decision("error", problem)
    else:
        decision = checks.judge(stored, current_labels, sha=sha, pr_head=pr_head, pr_base=pr_base)
        if without_pr:
            decision = checks.without_pull_request(decision)
    if decision.message.startswith("superseded"):
        number = ""  # never overwrite the comment of a newer push
    report = paths.PR_REPORT.read_text() if paths.PR_REPORT.exists() else None
    text = checks.comment(decision, stored, report)
    if comment_file is not None:
        write_text(comment_file, text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as f:
            f.write(text.split("\n\n", 1)[0] + "\n")
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a") as f:
            f.write(f"pr={number}\n")
    annotation = {"pass": "notice", "ignore": "warning"}.get(decision.outcome, "error")
    if os.environ.get("GITHUB_ACTIONS") == "true":
        typer.echo(f"::{annotation}::Promotion gate: {decision.message}")
    typer.echo(f"contrail gate: {decision.message}", err=decision.exit_code != 0)
    if decision.exit_code:
        raise typer.Exit(decision.exit_code)


def _gate_on_label(override: str, pr: str, wait: float) -> None:
    """`contrail gate --on-label`: the override-label workflow."""
    from contrail.github import GitHub, GitHubError
    from contrail.report import checks
    from contrail.report.gate import current_pull, rerun_gate_job

    event = checks.Event(
        os.environ.get("GITHUB_EVENT_NAME", ""),
        os.environ.get("CONTRAIL_EVENT_ACTION", ""),
        os.environ.get("CONTRAIL_EVENT_LABEL", ""),
    )
    decision = checks.on_event(event, override)
    typer.echo(f"contrail gate: {decision.message}")
    if decision.outcome != "re-evaluate":
        return
    github = GitHub.from_env(os.environ)
    if github is None or not pr:
        typer.echo(
            "contrail gate: --on-label needs GITHUB_TOKEN, GITHUB_REPOSITORY and --pr", err=True
        )
        raise typer.Exit(2)
    head_repo = os.environ.get("CONTRAIL_PR_HEAD_REPO", github.repository)
    if head_repo != github.repository:
        # A fork's pull_request token is read-only: it cannot re-run a job.
        typer.echo(
            f"::warning::Pull request from a fork: re-run the {GATE_JOB!r} job of its latest "
            "PR report run by hand (Re-run job); it reads the current labels, no retraining."
        )
        return
    try:
        pull = current_pull(github, pr, "")
        if pull is None:
            raise GitHubError(f"pull request {pr} not found")
        done = rerun_gate_job(
            github, pull.head_sha, workflow=GATE_WORKFLOW, job_name=GATE_JOB, wait_seconds=wait
        )
    except (GitHubError, KeyError, TypeError, ValueError) as exc:
        typer.echo(f"contrail gate: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"::notice::{done}")
