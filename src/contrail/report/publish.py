"""`contrail report` against the world: compare the workspace with a base revision and write
the pull-request comment, its interactive charts and the run's job summary.

`compare`, `mermaid` and `markdown` only compute and render; this module collects what they
need (`revision`) and writes what they produce.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import typer

from contrail.gate.events import parse_labels
from contrail.gate.rules import Verdict, promotion_verdict
from contrail.io import write_text
from contrail.params import Params, load_params
from contrail.report import pr_comment, revision


def publish_report(
    base: str,
    params_path: Path,
    labels: str,
    output: Path,
    link_plots: bool,
    env: Mapping[str, str],
) -> str:
    """`contrail report`: the comment written to `output`; returns the line naming it and
    the verdict it shows."""
    settings = load_params(params_path)
    verdict = write_report(
        base, settings, params_path, parse_labels(labels), output, link_plots, env
    )
    return f"{output}: {verdict.line()}"


def write_report(
    base: str,
    settings: Params,
    params_path: Path,
    labels: list[str],
    output: Path,
    link_plots: bool,
    env: Mapping[str, str],
) -> Verdict:
    """Write the comment to `output` and return the verdict it shows; raises
    `revision.ReportError` when the comparison cannot be made."""
    comparison = revision.collect(
        base, settings, settings.evaluate.bootstrap_samples, params_path=params_path
    )
    plot_data = revision.plot_data(comparison.base_sha)
    if comparison.same_rows.source:
        # For the CI log: a rebuilt base model takes minutes, and may not be byte-identical.
        typer.echo(f"contrail report: `{base}`'s model {comparison.same_rows.source}", err=True)
    verdict = promotion_verdict(comparison, settings.gate, labels)

    # The artifact folder beside the markdown holds the interactive charts only; the comment
    # draws its own (Mermaid) and links this folder only with `link_plots`.
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

    text = pr_comment.render(
        comparison, verdict, plot_data, revision.run_url(dict(env)), plots_link
    )
    write_text(output, text)
    # On GitHub Actions the run page shows it too: the only place a fork's PR can read it.
    summary = env.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a") as f:
            f.write(text)
    return verdict
