"""The shared feature definition: correct values, and nothing known only after departure."""

import numpy as np
import pandas as pd
import pytest

from contrail.features import (
    FEATURES,
    LEAKAGE_COLUMNS,
    build_features,
    delay_label,
    required_inputs,
)


def test_no_feature_reads_a_leakage_column():
    for name, feature in FEATURES.items():
        assert not set(feature.inputs) & LEAKAGE_COLUMNS, name


def test_features_ignore_leakage_columns_entirely(window_and_current, params):
    raw = window_and_current[0].head(500)
    scrambled = raw.copy()
    rng = np.random.default_rng(0)
    for column in LEAKAGE_COLUMNS:
        scrambled[column] = rng.permutation(scrambled[column].to_numpy())
    names = params.features.columns
    pd.testing.assert_frame_equal(build_features(raw, names), build_features(scrambled, names))


def test_derived_features_from_the_schedule():
    raw = pd.DataFrame(
        {"sched_dep_time": [1545, 5], "sched_arr_time": [2359, 130],
         "year": [2013, 2013], "month": [1, 12], "day": [1, 29]}
    )  # fmt: skip
    features = build_features(raw, ["dep_hour", "arr_hour", "day_of_week"])
    assert features["dep_hour"].tolist() == [15.75, 5 / 60]
    assert features["arr_hour"].tolist() == pytest.approx([23 + 59 / 60, 1.5])
    assert features["day_of_week"].tolist() == [1.0, 6.0]  # Tuesday, Sunday


def test_required_inputs_lists_each_raw_column_once():
    assert required_inputs(["dep_hour", "day_of_week", "carrier", "dep_hour"]) == [
        "sched_dep_time", "year", "month", "day", "carrier",
    ]  # fmt: skip


def test_flights_without_arrival_get_no_label():
    raw = pd.DataFrame({"arr_delay": [np.nan, 16.0, 15.0, -3.0]})
    label = delay_label(raw, delay_minutes=15)
    assert label.isna().tolist() == [True, False, False, False]
    assert label.iloc[1:].tolist() == [1, 0, 0]
