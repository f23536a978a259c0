"""`contrail ingest`: the configured window and the month after it, checked against the data
contract before anything is written.

Bad data stops here and changes nothing: data/raw and the validation report keep the last
good run's bytes (DVC records nothing), and every problem goes to an untracked report."""

from __future__ import annotations

from contrail import paths
from contrail.data import schema, sources
from contrail.io import write_json, write_parquet, write_text
from contrail.params import Params
from contrail.stages import StageFailed, log, step

# Problems the console shows; the failure report has them all.
SHOWN_PROBLEMS = 10


def run(params: Params) -> None:
    source, origin = params.data.source, sources.origin(params.data.source)
    with step(f"read {origin.name}"):
        table = sources.read_source(source)
    with step(f"select {params.data.start}..{params.data.end} + {params.data.current_month}"):
        window, current = sources.split_window(table, params.data)
    del table
    with step(f"validate {len(window):,} + {len(current):,} rows"):
        reports = schema.validate_window(
            window, current, params.validation, origin, params.data.current_month
        )
    failed = [f"{name}: {p.line()}" for name, report in reports.items() for p in report.problems]
    if failed:
        write_text(
            paths.VALIDATION_FAILURES,
            schema.reports_markdown(reports, "Data validation failed: nothing was changed"),
        )
        shown = "\n".join(f"  {line}" for line in failed[:SHOWN_PROBLEMS])
        more = len(failed) - SHOWN_PROBLEMS
        raise StageFailed(
            f"{origin.name} failed validation, nothing was changed: {len(failed)} problem(s)"
            f"{f', {more} more' if more > 0 else ''} in {paths.VALIDATION_FAILURES}:\n{shown}"
        )
    paths.VALIDATION_FAILURES.unlink(missing_ok=True)
    known = [c for c in sources.RAW_COLUMNS if c in window.columns]
    with step("write data/raw"):
        write_parquet(paths.RAW_WINDOW, window[known].reset_index(drop=True))
        write_parquet(paths.RAW_CURRENT, current[known].reset_index(drop=True))
    write_json(paths.VALIDATION_JSON, schema.reports_as_json(reports))
    write_text(paths.VALIDATION_MD, schema.reports_markdown(reports))
    log.info("  window %s rows, current month %s rows", f"{len(window):,}", f"{len(current):,}")
