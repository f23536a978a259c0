"""`contrail drift`: Evidently data-drift report, training data vs the current month."""

from __future__ import annotations

from contrail import paths
from contrail.drift import run_drift, stable_html
from contrail.io import read_parquet, write_json, write_text
from contrail.params import Params
from contrail.stages import log, step


def run(params: Params) -> None:
    reference, current = read_parquet(paths.TRAIN), read_parquet(paths.CURRENT)
    with step(f"Evidently drift: {len(reference):,} vs {len(current):,} rows"):
        snapshot, summary = run_drift(reference, current, params.features, params.drift)
    with step(f"write {paths.DRIFT_HTML}"):
        write_text(paths.DRIFT_HTML, stable_html(snapshot))
        write_json(paths.DRIFT_JSON, summary)
    log.info(
        "  %d of %d features drifted: dataset drift %s",
        summary["drifted_features"], summary["compared_features"],
        "DETECTED" if summary["dataset_drift"] else "not detected",
    )  # fmt: skip
