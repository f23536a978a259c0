"""The prediction log reads back as the training table the drift check compares against."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from serving_support import as_flights

from contrail.features import build_features
from contrail.serving.predictions import PredictionLog, read_predictions


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
