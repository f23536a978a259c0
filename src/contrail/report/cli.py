"""`contrail report` and `contrail gate`: the pull-request loop's two CLI steps.

Both compare the workspace (after `dvc repro`) with a base revision. PR labels come in through
`--labels` or `CONTRAIL_PR_LABELS`, so a workflow passes them via `env:` and never pastes
PR-controlled text into a shell command.
"""

from __future__ import annotations

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


@report_app.command()
def report(
    base: str = BaseOption,
    params: Path = ParamsOption,
    labels: str = LabelsOption,
    output: Path = OutputOption,
) -> None:
    """Write the PR comment (markdown + SVG charts) comparing the workspace with --base."""
    from contrail.io import write_text
    from contrail.report import charts, markdown, revision
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
    verdict = decide(comparison, settings.gate, parse_labels(labels))

    # Images live beside the markdown and are linked relatively, which is what
    # `cml comment update` uploads; nothing else in the comment is a local link.
    image_dir = output.parent / output.stem
    shutil.rmtree(image_dir, ignore_errors=True)
    image_dir.mkdir(parents=True)
    images = {}
    for file, (title, svg) in charts.comparison_charts(
        plot_data, comparison.base_sha, base
    ).items():
        (image_dir / file).write_text(svg)
        images[title] = f"{image_dir.name}/{file}"
    try:
        revision.write_interactive_plots(comparison.base_sha, image_dir / "plots")
    except revision.ReportError as exc:
        typer.echo(f"contrail report: no interactive plots ({exc})", err=True)

    text = markdown.render(comparison, verdict, images, revision.run_url(dict(os.environ)))
    write_text(output, text)
    # On GitHub Actions the run page shows it too: the only place a fork's PR can read it.
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as f:
            f.write(text)
    typer.echo(f"{output}: {verdict.line()}")


@report_app.command()
def gate(base: str = BaseOption, params: Path = ParamsOption, labels: str = LabelsOption) -> None:
    """Exit 1 with a one-line reason if the workspace's model may not replace --base's."""
    from contrail.report import revision
    from contrail.report.gate import decide, parse_labels

    settings = _params(params)
    try:
        comparison = revision.collect(base, settings, bootstrap_samples=0, params_path=params)
    except revision.ReportError as exc:
        typer.echo(f"contrail gate: {exc}", err=True)
        raise typer.Exit(2) from None
    verdict = decide(comparison, settings.gate, parse_labels(labels))
    typer.echo(f"contrail gate: {verdict.line()}", err=verdict.blocked)
    if verdict.blocked:
        raise typer.Exit(1)
