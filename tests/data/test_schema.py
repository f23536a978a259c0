"""The raw-data contract catches each class of corruption and says where, in one line each."""

import numpy as np
import pandas as pd
import pytest

from contrail.data.schema import validate


@pytest.fixture
def good(window_and_current) -> pd.DataFrame:
    return window_and_current[0].head(2000).copy()


def problems_of(table: pd.DataFrame, min_rows: int = 100) -> dict[tuple[str, str], object]:
    _, problems = validate(table, min_rows)
    return {(p.column, p.check): p for p in problems}


def test_real_data_passes(window_and_current, nycflights):
    assert validate(window_and_current[0], min_rows=1000)[1] == []
    assert validate(nycflights, min_rows=1000)[1] == []


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
    coerced, problems = validate(good, min_rows=100)
    assert problems == []
    assert coerced["distance"].dtype == np.float64
