"""`contrail report` and `contrail gate`: the pull-request loop's two steps.

Both compare the workspace (after `dvc repro`) with a base revision. PR labels come in through
`--labels` or `CONTRAIL_PR_LABELS`, so a workflow passes them via `env:` and never pastes
PR-controlled text into a shell command.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from contrail import paths
from contrail.cli.common import ExitCode, GitHubOutputOption, ParamsOption, guard

report_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

BaseOption = typer.Option("main", "--base", help="Revision to compare with (branch, tag or SHA).")
LabelsOption = typer.Option(
    "",
    "--labels",
    envvar="CONTRAIL_PR_LABELS",
    help="The pull request's labels: a JSON list or comma-separated.",
)
OutputOption = typer.Option(paths.PR_REPORT, "--output", help="Markdown file to write.")
RecordOption = typer.Option(
    None,
    "--record",
    help="Write the label-free verdict (and the commit) to this JSON file; exit 0 "
    "whatever it says (--verdict exits 1 or 2 on it), 2 if there is none.",
)
VerdictFileOption = typer.Option(
    None,
    "--verdict",
    help="Judge a verdict written by --record with the labels the pull request has now "
    "(read from GitHub when CONTRAIL_PR_NUMBER and GITHUB_TOKEN are set), no comparison.",
)
CommentFileOption = typer.Option(
    None, "--comment", help="With --verdict: write the PR comment (gate line + report)."
)


@report_app.command()
def report(
    base: str = BaseOption,
    params: Path = ParamsOption,
    labels: str = LabelsOption,
    output: Path = OutputOption,
    link_plots: bool = typer.Option(
        False,
        "--link-plots",
        envvar="CONTRAIL_LINK_PLOTS",
        help="Link the interactive `dvc plots diff` HTML from the comment (a local file, which "
        "`cml comment update --publish` uploads). Off: the comment links no local file.",
    ),
) -> None:
    """Write the PR comment (markdown, charts as Mermaid) comparing the workspace with --base."""
    from contrail.report.publish import publish_report

    line = guard(
        "report",
        lambda: publish_report(base, params, labels, output, link_plots, os.environ),
        prefix="contrail report",
    )
    typer.echo(line)


@report_app.command()
def gate(
    base: str = BaseOption,
    params: Path = ParamsOption,
    labels: str = LabelsOption,
    record: Path | None = RecordOption,
    verdict_file: Path | None = VerdictFileOption,
    comment_file: Path | None = CommentFileOption,
    on_label: bool = typer.Option(
        False,
        "--on-label",
        help="Label event (CONTRAIL_EVENT_ACTION, CONTRAIL_EVENT_LABEL): for the override "
        "label, re-run the gate job of the newest training run; ignore any other label.",
    ),
    pr: str = typer.Option("", "--pr", envvar="CONTRAIL_PR_NUMBER", help="Pull request number."),
    head_sha: str = typer.Option(
        "", "--head-sha", envvar="CONTRAIL_HEAD_SHA", help="Commit the run is for (default: HEAD)."
    ),
    wait: float = typer.Option(3600, "--wait", help="--on-label: seconds to wait for a run."),
    github_output: Path | None = GitHubOutputOption,
) -> None:
    """Exit 1 with a one-line reason if the workspace's model may not replace --base's; 2 when
    the gate cannot decide (e.g. --base's model can be neither fetched nor rebuilt)."""
    from contrail import gate_run
    from contrail.gate.events import parse_labels
    from contrail.params import load_params

    def judge() -> int:
        settings = load_params(params)
        if on_label:
            return gate_run.rerun_on_label(settings.gate.override_label, pr, wait, os.environ)
        if verdict_file is not None:
            return gate_run.judge_recorded(
                verdict_file, comment_file, parse_labels(labels), pr,
                head_sha or gate_run.head(), os.environ, github_output,
            )  # fmt: skip
        if record is not None:
            return gate_run.record_verdict(
                base, settings, params, head_sha or gate_run.head(), record
            )
        return gate_run.judge_workspace(base, settings, params, parse_labels(labels))

    code = guard("gate", judge, prefix="contrail gate")
    if code != ExitCode.DONE:
        raise typer.Exit(code)
