"""Checks across columns and months catch data that every per-column range lets through: a
month in other units, shifted timestamps, a month delivered twice, renamed columns."""

import numpy as np
import pandas as pd
import pytest

from contrail.data import relations, sources
from contrail.data.relations import ClockShift
from contrail.params import RAW_NUMERIC_COLUMNS, load_params

LIMITS = load_params().validation
BOUNDS = LIMITS.relations
FLIGHT_KEY = ["carrier", "flight", "time_hour"]
HOUR = pd.Timedelta(hours=1)


def celsius(fahrenheit: pd.Series) -> pd.Series:
    return (fahrenheit - 32) * 5 / 9


def dewpoint_bad(table: pd.DataFrame) -> pd.Series:
    return relations.dewpoint_above_temperature(table, BOUNDS.max_dewpoint_above_temp_f)


def humidity_bad(table: pd.DataFrame) -> pd.Series:
    return relations.humidity_mismatch(
        table, BOUNDS.max_humid_below_computed_pct, BOUNDS.max_humid_above_computed_pct
    )


def in_month(table: pd.DataFrame, month: int) -> pd.Series:
    return table["month"] == month


def test_raw_numeric_columns_in_params_are_the_sources():
    assert tuple(sources.NUMERIC_COLUMNS) == RAW_NUMERIC_COLUMNS


def test_every_real_2013_row_passes_the_row_checks(nycflights):
    for bad in (dewpoint_bad(nycflights), humidity_bad(nycflights)):
        assert bad.index.equals(nycflights.index)
        assert not bad.any()


@pytest.mark.parametrize("month", range(1, 13))
def test_a_month_of_temperature_and_dew_point_in_celsius_fails_most_rows(nycflights, month):
    rows = nycflights[in_month(nycflights, month)].copy()
    rows[["temp", "dewp"]] = celsius(rows[["temp", "dewp"]])
    bad = humidity_bad(rows) | dewpoint_bad(rows)
    assert bad.mean() > 0.85


@pytest.mark.parametrize("month", range(1, 13))
def test_a_month_of_temperature_alone_in_celsius_puts_dew_point_above_it(nycflights, month):
    rows = nycflights[in_month(nycflights, month)].copy()
    rows["temp"] = celsius(rows["temp"])
    assert dewpoint_bad(rows).mean() > 0.95


def test_row_checks_flag_the_converted_rows_at_their_own_index(raw_sample):
    """Rows keep the positions of the user's file: an index neither sorted nor from 0."""
    table = raw_sample.set_index(np.arange(len(raw_sample))[::-1] * 3 + 7)
    march = in_month(table, 3)
    table.loc[march, "temp"] = celsius(table.loc[march, "temp"])
    assert not dewpoint_bad(table)[~march].any()
    assert dewpoint_bad(table)[march].mean() > 0.95


def test_a_missing_value_is_not_checked(raw_sample):
    table = raw_sample.head(300).copy()
    table["temp"] = celsius(table["temp"])
    table.loc[:99, "dewp"] = np.nan
    table.loc[100:199, "humid"] = np.nan
    assert not dewpoint_bad(table)[:100].any()
    assert not humidity_bad(table)[:200].any()
    assert dewpoint_bad(table)[200:].all()


CONVERSIONS = [
    ("temp", 7, celsius),
    ("humid", 2, lambda percent: percent / 100),
    ("wind_dir", 9, np.deg2rad),
    ("wind_speed", 4, lambda mph: mph * 0.44704),  # m/s
    ("wind_gust", 12, lambda mph: mph * 1.609344),  # km/h
    ("visib", 1, lambda miles: miles * 1.609344),  # km
    ("distance", 5, lambda miles: miles * 1.609344),
    ("air_time", 10, lambda minutes: minutes / 60),
]


def test_real_2013_months_are_consistent(nycflights):
    assert relations.inconsistent_months(nycflights, LIMITS.month_consistency) == []
    window = sources.split_window(nycflights, load_params().data)[0]
    assert relations.inconsistent_months(window, LIMITS.month_consistency) == []


@pytest.mark.parametrize(
    ("column", "month", "convert"), CONVERSIONS, ids=[c[0] for c in CONVERSIONS]
)
def test_one_month_in_other_units_is_named(nycflights, column, month, convert):
    table = nycflights.astype({column: float})
    converted = in_month(table, month)
    table.loc[converted, column] = convert(table.loc[converted, column])
    (shift,) = relations.inconsistent_months(table, LIMITS.month_consistency)
    assert (shift.column, shift.month) == (column, f"2013-{month:02d}")
    assert shift.distance > shift.bound == LIMITS.month_consistency[column]
    assert shift.median == table.loc[converted, column].median()
    neighbours = {f"2013-{m:02d}": m for m in (month - 1, month + 1) if 1 <= m <= 12}
    assert shift.nearest_month in neighbours
    nearest = in_month(table, neighbours[shift.nearest_month])
    assert shift.nearest_median == table.loc[nearest, column].median()


def test_a_month_without_an_adjacent_month_is_not_judged(raw_sample):
    table = raw_sample[raw_sample["month"].isin([1, 3])].copy()
    march = in_month(table, 3)
    table.loc[march, "temp"] = celsius(table.loc[march, "temp"])
    assert relations.inconsistent_months(table, {"temp": 2.9}) == []


def test_of_two_adjacent_months_both_are_named(raw_sample):
    """Neither is the reference: the message names the pair."""
    table = raw_sample[raw_sample["month"] <= 2].copy()
    february = in_month(table, 2)
    table.loc[february, "temp"] = celsius(table.loc[february, "temp"])
    named = relations.inconsistent_months(table, {"temp": 2.9})
    assert [(s.month, s.nearest_month) for s in named] == [
        ("2013-01", "2013-02"),
        ("2013-02", "2013-01"),
    ]


def test_a_column_absent_or_empty_in_a_month_is_skipped(raw_sample):
    table = raw_sample.drop(columns="visib")
    table.loc[in_month(table, 2), "temp"] = np.nan
    assert relations.inconsistent_months(table, {"temp": 2.9, "visib": 1.0}) == []


def local_clock_marked_utc(time_hour: pd.Series) -> pd.Series:
    local = time_hour.dt.tz_convert(relations.LOCAL_TZ).dt.tz_localize(None)
    return local.dt.tz_localize("UTC")


@pytest.mark.parametrize(
    ("months", "corrupt", "expected"),
    [
        # Jan-Apr spans the start of summer time: a constant shift is no zone offset.
        ((1, 2, 3, 4), lambda t: t + 5 * HOUR, ClockShift(5, zone_mixup=False)),
        ((1, 2, 3, 4), lambda t: t - 1 * HOUR, ClockShift(-1, zone_mixup=False)),
        # In winter, 5 hours later is also UTC clock time marked as local: that is said.
        ((1,), lambda t: t + 5 * HOUR, ClockShift(5, zone_mixup=True)),
        # Local clock time marked as UTC: 5 hours early in winter, 4 in April.
        ((1, 2, 3, 4), local_clock_marked_utc, ClockShift(-5, zone_mixup=True)),
        ((4,), local_clock_marked_utc, ClockShift(-4, zone_mixup=True)),
    ],
    ids=["plus-5", "minus-1", "winter-utc-as-local", "local-as-utc", "local-as-utc-summer"],
)
def test_a_clock_shift_is_recognised(raw_sample, months, corrupt, expected):
    rows = raw_sample[raw_sample["month"].isin(months)].copy()
    rows["time_hour"] = corrupt(rows["time_hour"])
    assert relations.clock_shift(rows) == expected


def test_scattered_timestamp_errors_have_no_common_shift(raw_sample):
    rows = raw_sample.head(2000).copy()
    hours = np.random.default_rng(0).integers(1, 48, len(rows))
    rows["time_hour"] += pd.to_timedelta(hours, unit="h")
    assert relations.clock_shift(rows) is None


def test_a_shift_of_most_but_not_nine_tenths_of_the_rows_is_not_claimed(raw_sample):
    rows = raw_sample.head(1000).copy()
    rows["time_hour"] += 2 * HOUR
    rows.loc[rows.index[:150], "time_hour"] += 7 * HOUR
    assert relations.clock_shift(rows) is None


def test_rows_whose_stated_hour_does_not_exist_are_left_out(raw_sample):
    rows = raw_sample.head(100).copy()
    rows["time_hour"] -= HOUR
    rows.loc[rows.index[:20], ["month", "day"]] = [2, 30]
    assert relations.clock_shift(rows) == ClockShift(-1, zone_mixup=False)


def appended(table: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` again at the end, at new positions, as in a file written twice over."""
    start = table.index.max() + 1
    return pd.concat([table, rows.set_axis(range(start, start + len(rows)))])


def test_a_month_delivered_twice_is_named(raw_sample):
    table = appended(raw_sample, raw_sample[in_month(raw_sample, 3)])
    duplicated = table.duplicated(FLIGHT_KEY, keep=False)
    assert relations.months_delivered_twice(table, duplicated) == ["2013-03"]


def test_a_few_repeated_flights_are_no_month_delivered_twice(raw_sample):
    table = appended(raw_sample, raw_sample[in_month(raw_sample, 3)].head(50))
    duplicated = table.duplicated(FLIGHT_KEY, keep=False)
    assert duplicated.sum() == 100
    assert relations.months_delivered_twice(table, duplicated) == []


def test_renamed_columns_are_matched_to_the_contract():
    renamed = {
        "dep_delay": "DepDelay",
        "arr_delay": "arrival_delay",
        "sched_dep_time": "scheduled_departure_time",
        "temp": "temperature",
        "dewp": "dew_point",
        "humid": "Humidity",
        "tailnum": "tail_number",
        "wind_speed": "WindSpeed",
        "visib": "visibility",
        "dest": "destination",
        "distance": "dist",
        "air_time": "air_tme",
    }
    unrelated = ["notes", "Unnamed: 0", "ingested_at", "row_id"]
    found = relations.lookalike_columns(list(renamed), [*reversed(renamed.values()), *unrelated])
    assert found == renamed


def test_unrelated_extra_columns_match_nothing():
    extras = ["notes", "Unnamed: 0", "ingested_at", "row_id", "source_file", "comment", "index"]
    assert relations.lookalike_columns(sources.RAW_COLUMNS, extras) == {}


def test_a_first_word_of_a_longer_name_is_no_lookalike():
    assert relations.lookalike_columns(["day", "origin"], ["day_of_week", "origin_state"]) == {}


def test_each_extra_column_is_used_once_by_its_closest_missing_column():
    """airtime is air_time respelled, and one letter away from arr_time."""
    assert relations.lookalike_columns({"arr_time", "air_time"}, {"airtime"}) == {
        "air_time": "airtime"
    }
