"""The raw-data contract catches each class of corruption and says where, in one line each."""

import numpy as np
import pandas as pd
import pytest

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
    _, problems = validate(table, limits(**update))
    return {(p.column, p.check): p for p in problems}


def test_real_data_passes_with_the_repository_limits(window_and_current, nycflights):
    """Every month of 2013 (the whole year at once, then each month as a current table)."""
    assert validate(window_and_current[0], LIMITS)[1] == []
    assert validate(nycflights, LIMITS)[1] == []
    for _, month in nycflights.groupby("month"):
        assert validate(month.reset_index(drop=True), LIMITS)[1] == []


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


def wrong_dtype(t):
    t["distance"] = t["distance"].astype(object)
    t.loc[11, "distance"] = "far"


def missing_column(t):
    del t["visib"]


def inconsistent_schedule(t):
    t.loc[12, "hour"] = (t.loc[12, "hour"] + 1) % 24


@pytest.mark.parametrize(
    ("corrupt", "column", "check", "rows"),
    [
        (null_in_required, "carrier", "missing value", [3, 7]),
        (out_of_range, "humid", "in_range(0, 100)", [4]),
        (invalid_hhmm, "sched_arr_time", "not a valid HHMM time", [5]),
        (unknown_category, "origin", "isin(('EWR', 'JFK', 'LGA'))", [6]),
        (duplicate_key, "carrier+flight+time_hour", "duplicate flight key", [8, 9]),
        (unparsable_date, "time_hour", "missing value", [10]),
        (wrong_dtype, "distance", "coerce_dtype('float64')", [11]),
        (missing_column, "visib", "column is missing", []),
        (inconsistent_schedule, "sched_dep_time+hour+minute", "hour/minute must equal sched_dep_time", [12]),
    ],
)  # fmt: skip
def test_each_corruption_is_named_by_column_and_check(good, corrupt, column, check, rows):
    corrupt(good)
    problems = problems_of(good)
    assert (column, check) in problems, list(problems)
    problem = problems[(column, check)]
    assert problem.example_rows == rows
    assert problem.line().startswith(f"{column}: {check}")


def test_many_bad_cells_condense_to_one_line(good):
    good.loc[:49, "precip"] = -1.0
    problems = problems_of(good)
    assert len(problems) == 1
    (problem,) = problems.values()
    assert (problem.column, problem.rows, problem.examples) == ("precip", 50, ["-1.0"])
    assert len(problem.example_rows) == 5


def test_too_few_rows(good):
    problems = problems_of(good.head(10), min_rows=100)
    assert problems[("<table>", "fewer than 100 rows")].line() == "<table>: fewer than 100 rows"


def test_valid_table_is_coerced_to_contract_dtypes(good):
    good["distance"] = good["distance"].astype(np.int32)
    coerced, problems = validate(good, limits())
    assert problems == []
    assert coerced["distance"].dtype == np.float64


def test_non_finite_values_are_named_once_per_column(good):
    good.loc[[4, 6], "temp"] = [np.inf, -np.inf]
    good.loc[5, "dep_delay"] = np.inf
    lines = [p.line() for p in validate(good, limits())[1]]
    assert lines == [
        "dep_delay: non-finite value failed for 1 row(s); offending values inf (rows 5)",
        "temp: non-finite value failed for 2 row(s); offending values -inf; inf (rows 4, 6)",
    ]


def test_weather_column_empty_for_weeks_names_column_month_share_and_bound(window_and_current):
    window = window_and_current[0].copy()
    weeks = window["time_hour"].between("2013-02-01", "2013-02-21", inclusive="left")
    window.loc[weeks, "humid"] = np.nan
    (problem,) = validate(window, limits())[1]
    missing = window.loc[window["month"] == 2, "humid"].isna()
    assert missing.mean() > 0.6
    assert problem.line() == f"humid: more than 10% missing in 2013-02 ({missing.mean():.1%})"
    assert problem.rows == missing.sum()


def test_per_column_bounds_override_the_default(window_and_current):
    window = window_and_current[0]
    assert validate(window, limits())[1] == []
    problems = validate(window, limits(max_missing_share_by_column={}))[1]
    assert {p.column for p in problems} == {"pressure", "wind_gust"}
    assert all(p.check.startswith("more than 10% missing in 2013-01 (") for p in problems)


def test_month_without_arrivals_names_arr_delay(window_and_current):
    window = window_and_current[0].copy()
    window.loc[window["month"] == 3, "arr_delay"] = np.nan
    lines = [p.line() for p in validate(window, limits())[1]]
    assert "arr_delay: more than 10% missing in 2013-03 (100.0%)" in lines
    assert "arr_delay: fewer than 100 flights with an arrival (a label) in 2013-03 (0)" in lines


def test_too_few_labelled_flights_per_month(window_and_current):
    window = window_and_current[0]
    (problem,) = validate(window, limits(min_labelled_rows=6000))[1]
    assert problem.column == "arr_delay"
    assert problem.check.startswith(
        "fewer than 6,000 flights with an arrival (a label) in 2013-01 ("
    )


def test_bound_for_an_unknown_column_is_a_params_error(good):
    with pytest.raises(ParamsError, match="max_missing_share_by_column: wind_gst not a nullable"):
        validate(good, limits(max_missing_share_by_column={"wind_gst": 0.5}))
