"""`contrail drift`: Evidently data-drift report, training data vs the current month."""

from __future__ import annotations

from contrail import paths
from contrail.drift import run_drift, save_html
from contrail.io import atomic_path, read_parquet, write_json
from contrail.params import Params
from contrail.stages import log, step


def run(params: Params) -> None:
    reference, current = read_parquet(paths.TRAIN), read_parquet(paths.CURRENT)
    with step(f"Evidently drift: {len(reference):,} vs {len(current):,} rows"):
        snapshot, summary = run_drift(reference, current, params.features, params.drift)
    with step(f"write {paths.DRIFT_HTML}"):
        with atomic_path(paths.DRIFT_HTML) as tmp:
            save_html(snapshot, tmp)
        write_json(paths.DRIFT_JSON, summary)
    log.info(
        "  %d of %d features drifted: dataset drift %s",
        summary["drifted_features"], summary["compared_features"],
        "DETECTED" if summary["dataset_drift"] else "not detected",
    )  # fmt: skip
