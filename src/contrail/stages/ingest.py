"""`contrail ingest`: the configured window and the month after it, from the data source."""

from __future__ import annotations

from contrail import paths
from contrail.data import sources
from contrail.io import write_parquet
from contrail.params import Params
from contrail.stages import log, step


def run(params: Params) -> None:
    with step(f"read {params.data.source}"):
        table = sources.read_source(params.data.source)
    known = [c for c in sources.RAW_COLUMNS if c in table.columns]
    with step(f"select {params.data.start}..{params.data.end} + {params.data.current_month}"):
        window, current = sources.split_window(table[known], params.data)
    with step("write data/raw"):
        write_parquet(paths.RAW_WINDOW, window)
        write_parquet(paths.RAW_CURRENT, current)
    log.info("  window %s rows, current month %s rows", f"{len(window):,}", f"{len(current):,}")
