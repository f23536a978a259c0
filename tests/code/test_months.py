"""Month arithmetic: windows compare as integers, and round-trip to the params' text."""

from itertools import pairwise

import pandas as pd

from contrail import months


def test_index_orders_months_across_years_like_pandas_periods():
    names = ["2012-11", "2012-12", "2013-01", "2013-06", "2014-01"]
    periods = [pd.Period(n, freq="M") for n in names]
    steps = [months.index(b) - months.index(a) for a, b in pairwise(names)]
    assert steps == [(b - a).n for a, b in pairwise(periods)]
    assert [months.name(months.index(n)) for n in names] == names


def test_rows_get_the_index_of_their_year_and_month():
    table = pd.DataFrame({"year": [2012, 2013, 2013], "month": [12, 1, 7]})
    assert months.of(table).tolist() == [months.index(m) for m in ("2012-12", "2013-01", "2013-07")]
