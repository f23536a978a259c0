"""The raw-data contract catches each class of corruption and says where, in one line each."""

import numpy as np
import pandas as pd
import pytest

from contrail.data import sources
from contrail.data.schema import validate
from contrail.params import ParamsError, ValidationParams, load_params

LIMITS = load_params().validation


def limits(**update: object) -> ValidationParams:
    """The repository's validation limits, small tables allowed unless `update` says otherwise."""
    return LIMITS.model_copy(update={"min_rows": 100, "min_labelled_rows": 100, **update})


@pytest.fixture
def good(window_and_current) -> pd.DataFrame:
    return window_and_current[0].head(2000).copy()


def problems_of(table: pd.DataFrame, **update: object) -> dict[tuple[str, str], object]:
    return {(p.column, p.check): p for p in validate(table, limits(**update))}


def test_real_data_passes_with_the_repository_limits(window_and_current, nycflights):
    """Every month of 2013 (the whole year at once, then each month as a current table)."""
    assert validate(window_and_current[0], LIMITS) == []
    assert validate(nycflights, LIMITS) == []
    for _, month in nycflights.groupby("month"):
        assert validate(month, LIMITS) == []


def null_in_required(t):
    t.loc[[3, 7], "carrier"] = None


def out_of_range(t):
    t.loc[4, "humid"] = 140.0


def invalid_hhmm(t):
    t.loc[5, "sched_arr_time"] = 1275


def unknown_category(t):
    t.loc[6, "origin"] = "BOS"


def duplicate_key(t):
    t.loc[9] = t.loc[8]


def unparsable_date(t):
    t.loc[10, "time_hour"] = pd.NaT


def inconsistent_schedule(t):
    t.loc[12, "hour"] = (t.loc[12, "hour"] + 1) % 24


# Without an origin, rows are numbered from 1 in the order of the table's index (the rows'
# positions in the source): index 3 is row 4.
@pytest.mark.parametrize(
    ("corrupt", "column", "check", "index"),
    [
        (null_in_required, "carrier", "missing value", [3, 7]),
        (out_of_range, "humid", "outside 0..100", [4]),
        (invalid_hhmm, "sched_arr_time", "not a valid HHMM time", [5]),
        (unknown_category, "origin", "not one of EWR, JFK, LGA", [6]),
        (duplicate_key, "carrier+flight+time_hour", "duplicate flight key (carrier, flight, time_hour)", [8, 9]),
        (unparsable_date, "time_hour", "missing value", [10]),
        (inconsistent_schedule, "sched_dep_time+hour+minute", "hour/minute must equal sched_dep_time", [12]),
    ],
)  # fmt: skip
def test_each_corruption_is_named_by_column_and_check(good, corrupt, column, check, index):
    corrupt(good)
    problems = problems_of(good)
    assert (column, check) in problems, list(problems)
    problem = problems[(column, check)]
    assert problem.example_rows == [i + 1 for i in index]
    assert problem.rows == len(index)
    assert problem.line().startswith(f"{column}: {check} ({len(index)} row(s)), e.g. ")


def test_a_problem_line_shows_each_example_row_with_its_value(good):
    out_of_range(good)
    null_in_required(good)
    problems = problems_of(good)
    assert problems[("humid", "outside 0..100")].line() == (
        "humid: outside 0..100 (1 row(s)), e.g. row 5: 140.0"
    )
    assert problems[("carrier", "missing value")].line() == (
        "carrier: missing value (2 row(s)), e.g. row 4: missing; row 8: missing"
    )


def test_a_row_check_shows_the_values_of_every_column_it_reads(good):
    inconsistent_schedule(good)
    sched, hour, minute = good.loc[12, ["sched_dep_time", "hour", "minute"]]
    key = ("sched_dep_time+hour+minute", "hour/minute must equal sched_dep_time")
    problem = problems_of(good)[key]
    assert problem.examples == [f"sched_dep_time={sched}, hour={hour}, minute={minute}"]


@pytest.mark.parametrize(
    ("source", "unit", "first_data_row"),
    [("data/source/flights.csv", "line", 2), ("data/source/flights.parquet", "row", 1)],
)
def test_examples_are_numbered_as_the_users_file_numbers_them(
    window_and_current, source, unit, first_data_row
):
    """A CSV's header is line 1; Parquet rows count from 1. The current month's index is its
    rows' positions in the source, after the three window months of the sample."""
    current = window_and_current[1].copy()
    position = current.index[7]
    current.loc[position, "humid"] = 140.0
    (problem,) = validate(current, limits(), origin=sources.origin(source))
    assert problem.line() == (
        f"humid: outside 0..100 (1 row(s)), e.g. {unit} {position + first_data_row}: 140.0"
    )


def test_a_column_of_text_is_named_not_compared(good):
    """Numbers stored as text are turned into numbers on reading; text left here is named."""
    good["distance"] = good["distance"].astype(object)
    good.loc[11, "distance"] = "far"
    problems = problems_of(good)
    assert ("distance", "not numbers (dtype object)") in problems, list(problems)


def test_a_missing_column_is_named(good):
    problems = problems_of(good.drop(columns="visib"))
    assert problems[("visib", "column is missing")].line() == "visib: column is missing"


def test_many_bad_cells_condense_to_one_line_with_the_first_examples(good):
    good.loc[:49, "precip"] = -1.0
    problems = problems_of(good)
    assert len(problems) == 1
    (problem,) = problems.values()
    assert (problem.column, problem.rows) == ("precip", 50)
    assert problem.examples == ["-1.0"] * 3
    assert problem.example_rows == [1, 2, 3]


def test_every_row_failing_is_still_one_line_with_three_examples(window_and_current):
    """A systematic error (a unit mix-up in the whole column) is counted, not listed."""
    window = window_and_current[0].copy()
    window["pressure"] = window["pressure"] * 100  # hPa exported as Pa
    problems = [p for p in validate(window, limits()) if p.column == "pressure"]
    assert [(p.check, p.rows, len(p.examples)) for p in problems] == [
        ("outside 900..1100", int(window["pressure"].notna().sum()), 3)
    ]
    assert f"({window['pressure'].notna().sum():,} row(s)" in problems[0].line()


def test_too_few_rows(good):
    problems = problems_of(good.head(10), min_rows=100)
    assert problems[("table", "fewer than 100 rows (10)")].line() == (
        "table: fewer than 100 rows (10)"
    )


def test_numeric_columns_of_another_width_are_valid(good):
    good["distance"] = good["distance"].astype(np.int32)
    good["month"] = good["month"].astype(np.float64)
    assert validate(good, limits()) == []


def test_non_finite_values_are_named_once_per_column(good):
    good.loc[[4, 6], "temp"] = [np.inf, -np.inf]
    good.loc[5, "dep_delay"] = np.inf
    lines = [p.line() for p in validate(good, limits())]
    assert lines == [
        "dep_delay: non-finite value (1 row(s)), e.g. row 6: inf",
        "temp: non-finite value (2 row(s)), e.g. row 5: inf; row 7: -inf",
    ]


def test_weather_column_empty_for_weeks_names_column_month_share_and_bound(window_and_current):
    window = window_and_current[0].copy()
    weeks = window["time_hour"].between("2013-02-01", "2013-02-21", inclusive="left")
    window.loc[weeks, "humid"] = np.nan
    (problem,) = validate(window, limits())
    missing = window.loc[window["month"] == 2, "humid"].isna()
    assert missing.mean() > 0.6
    assert problem.line() == f"humid: more than 10% missing in 2013-02 ({missing.mean():.1%})"
    assert problem.rows == missing.sum()


def test_per_column_bounds_override_the_default(window_and_current):
    window = window_and_current[0]
    assert validate(window, limits()) == []
    problems = validate(window, limits(max_missing_share_by_column={}))
    assert {p.column for p in problems} == {"pressure", "wind_gust"}
    assert all(p.check.startswith("more than 10% missing in 2013-01 (") for p in problems)


def test_month_without_arrivals_names_arr_delay(window_and_current):
    window = window_and_current[0].copy()
    window.loc[window["month"] == 3, "arr_delay"] = np.nan
    lines = [p.line() for p in validate(window, limits())]
    assert "arr_delay: more than 10% missing in 2013-03 (100.0%)" in lines
    assert "arr_delay: fewer than 100 flights with an arrival (a label) in 2013-03 (0)" in lines


def test_too_few_labelled_flights_per_month(window_and_current):
    window = window_and_current[0]
    (problem,) = validate(window, limits(min_labelled_rows=6000))
    assert problem.column == "arr_delay"
    assert problem.check.startswith(
        "fewer than 6,000 flights with an arrival (a label) in 2013-01 ("
    )


def test_bound_for_an_unknown_column_is_a_params_error(good):
    with pytest.raises(ParamsError, match="max_missing_share_by_column: wind_gst not a nullable"):
        validate(good, limits(max_missing_share_by_column={"wind_gst": 0.5}))
