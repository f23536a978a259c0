"""`contrail validate`: both raw tables against the pandera contract; any problem stops here."""

from __future__ import annotations

from contrail import paths
from contrail.data import schema
from contrail.io import read_parquet, write_json, write_text
from contrail.params import Params
from contrail.stages import StageFailed, log, step


def run(params: Params) -> None:
    results = {}
    for name, path in (("window", paths.RAW_WINDOW), ("current", paths.RAW_CURRENT)):
        with step(f"validate {path}"):
            table = read_parquet(path)
            _, problems = schema.validate(table, params.validation)
        results[name] = schema.TableReport(str(path), len(table), problems)
    write_json(paths.VALIDATION_JSON, schema.reports_as_json(results))
    write_text(paths.VALIDATION_MD, schema.reports_markdown(results))
    failed = [f"{report.file}: {p.line()}" for report in results.values() for p in report.problems]
    if failed:
        shown = "\n".join(f"  {line}" for line in failed[:20])
        raise StageFailed(
            f"raw data failed validation ({len(failed)} problem(s), all in "
            f"{paths.VALIDATION_MD}):\n{shown}"
        )
    log.info("  no problems found")
