"""`contrail report` and `contrail gate`: the pull-request loop's two CLI steps.

Both compare the workspace (after `dvc repro`) with a base revision. PR labels come in through
`--labels` or `CONTRAIL_PR_LABELS`, so a workflow passes them via `env:` and never pastes
PR-controlled text into a shell command.
"""

from __future__ import annotations

import os
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
    from contrail.gate.events import parse_labels
    from contrail.report.publish import write_report
    from contrail.report.revision import ReportError

    settings = _params(params)
    try:
        verdict = write_report(
            base, settings, params, parse_labels(labels), output, link_plots, os.environ
        )
    except ReportError as exc:
        typer.echo(f"contrail report: {exc}", err=True)
        raise typer.Exit(2) from None
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
    from contrail import gate_run
    from contrail.gate.events import parse_labels
    from contrail.report.revision import ReportError

    settings = _params(params)
    if on_label:
        code = gate_run.rerun_on_label(settings.gate.override_label, pr, wait, os.environ)
    elif verdict_file is not None:
        sha = head_sha or gate_run.head()
        code = gate_run.judge_recorded(
            verdict_file, comment_file, parse_labels(labels), pr, sha, os.environ
        )
    else:
        try:
            if record is not None:
                sha = head_sha or gate_run.head()
                code = gate_run.record_verdict(base, settings, params, sha, record)
            else:
                code = gate_run.judge_workspace(base, settings, params, parse_labels(labels))
        except ReportError as exc:
            typer.echo(f"contrail gate: {exc}", err=True)
            raise typer.Exit(2) from None
    if code:
        raise typer.Exit(code)
