"""Production data for one month, from where `monitor:` in params.yaml says it is.

- `data.source`: the pipeline's own source. With the embedded 2013 data this is the
  simulated clock: the month after `data.end` is "now", with its arrivals known.
- a file under data/production/: labelled flights with the source's columns (e.g. brought by
  `dvc import-url`, refreshed by `dvc update`).
- a folder under data/production/: the service's prediction logs, joined to `outcomes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from contrail import months
from contrail.data import sources
from contrail.data.schema import ARRIVAL
from contrail.params import MONITOR_DATA_SOURCE, Params


class ProductionDataError(RuntimeError):
    """Production data cannot be had for the month checked; the message names the source."""


@dataclass(frozen=True)
class Production:
    month: str
    source: str
    raw: pd.DataFrame
    # The data-contract columns the rows have (a prediction log has the request's fields).
    columns: list[str]


def load(params: Params) -> Production:
    monitor = params.monitor
    if monitor.source == MONITOR_DATA_SOURCE:
        table, source = sources.read_source(params.data.source), params.data.source
    elif Path(monitor.source).is_dir():
        table, source = _logged_flights(Path(monitor.source), monitor.outcomes), monitor.source
    else:
        table, source = sources.read_file(Path(monitor.source), "monitor.source"), monitor.source
    if table.empty:
        raise ProductionDataError(f"{source} has no flights (an empty log or file)")
    if not {"year", "month"} <= set(table.columns):
        raise ProductionDataError(f"{source} has no year/month columns")
    month_of_row = months.of(table)
    latest = monitor.clock == "latest"
    month = int(month_of_row.max()) if latest else params.data.current_index
    in_month = (month_of_row == month).to_numpy()
    # A million-row month is most of the memory: no copy when every row is in it.
    rows = table if in_month.all() else table[in_month].reset_index(drop=True)
    if rows.empty:
        raise ProductionDataError(
            f"{source} has no flights in {months.name(month)}, the month after the training "
            f"window (data.end {params.data.end}; monitor.clock {monitor.clock})"
        )
    columns = [c for c in sources.RAW_COLUMNS if c in rows.columns]
    return Production(months.name(month), source, rows, columns)


def _logged_flights(folder: Path, outcomes: str | None) -> pd.DataFrame:
    from contrail.serving.prediction_log.reader import join_outcomes, read_log

    logged = read_log(folder)
    if outcomes is None:
        logged[ARRIVAL] = float("nan")
        return logged
    return join_outcomes(logged, sources.read_file(Path(outcomes), "monitor.outcomes"))
