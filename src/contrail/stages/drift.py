"""`contrail drift`: data drift of the training data vs the current month, and
`contrail drift-report`: Evidently's HTML of it, for people.

The scores (`reports/drift.json`) come from every row, with numpy/scipy. The HTML is rendered
outside `dvc repro` (`make run`, `make drift-report`, the PR workflow's artifact), like
`dvc plots show`: importing Evidently alone takes longer than the stage's scores.
"""

from __future__ import annotations

from contrail import paths
from contrail.drift import REPORT_ROWS, drift_scores, report_html
from contrail.io import read_parquet, write_json, write_text
from contrail.params import Params
from contrail.stages import log, step


def run(params: Params) -> None:
    reference, current = read_parquet(paths.TRAIN), read_parquet(paths.CURRENT)
    with step(f"drift scores: {len(reference):,} vs {len(current):,} rows"):
        summary = drift_scores(reference, current, params.features, params.drift)
    write_json(paths.DRIFT_JSON, summary)
    log.info(
        "  %d of %d features drifted: dataset drift %s",
        summary["drifted_features"], summary["compared_features"],
        "DETECTED" if summary["dataset_drift"] else "not detected",
    )  # fmt: skip


def render_html(params: Params) -> None:
    """Evidently's report on the drift stage's inputs, on a seeded sample of each side."""
    reference, current = read_parquet(paths.TRAIN), read_parquet(paths.CURRENT)
    with step(f"Evidently HTML: at most {REPORT_ROWS:,} rows a side"):
        html = report_html(reference, current, params.features, params.drift)
    write_text(paths.DRIFT_HTML, html)
    log.info("  %s", paths.DRIFT_HTML)
