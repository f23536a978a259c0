"""The prediction log's rules need no files: its record, what ships, what retention drops, and
the settings the environment gives."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import pytest

from contrail.serving.prediction_log.format import (
    ROTATE_BYTES_ENV,
    ROTATE_SECONDS_ENV,
    STORE_ENV,
    LogFile,
    LogSettings,
    Record,
    due_for_deletion,
    parse_record,
    record_line,
)

WHEN = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def test_a_record_is_one_line_holding_the_request_as_sent():
    pretty = b'{"flights":\r\n  [{"dest": "MIA"}, {"dest": "LAX"}]}'
    line = record_line(pretty, np.array([0.25, 0.75]), 0.5, "v1", WHEN)
    assert line == (
        b'{"timestamp":"2026-01-02T03:04:05+00:00","model_version":"v1","threshold":0.5,'
        b'"probability":[0.25,0.75],"request":{"flights":    [{"dest": "MIA"}, {"dest": "LAX"}]}}\n'
    )
    assert parse_record(line) == Record(
        flights=[{"dest": "MIA"}, {"dest": "LAX"}],
        probability=[0.25, 0.75],
        threshold=0.5,
        model_version="v1",
        timestamp="2026-01-02T03:04:05+00:00",
    )


def test_a_line_that_records_no_request_is_refused():
    line = record_line(b'{"flights":[{"dest":"MIA"}]}', np.array([0.25]), 0.5, "v1", WHEN)
    one_probability_short = line.replace(b"[0.25]", b"[]")
    for bad in (line[: len(line) // 2], one_probability_short, b"[]", b'{"request":{}}'):
        with pytest.raises(ValueError):
            parse_record(bad)


def test_the_pure_parts_need_no_files():
    files = [LogFile(Path(f"predictions-{i}.jsonl"), 10, 1000.0 + i) for i in range(4)]
    limits = LogSettings(keep_seconds=100, keep_bytes=25)
    assert due_for_deletion(files, now=1101.5, limits=limits) == files[:2]
    assert due_for_deletion(files, now=1050.0, limits=limits, open_bytes=6) == files[:3]
    assert due_for_deletion(files, now=1050.0, limits=limits) == files[:2]
    assert due_for_deletion(files, now=1050.0, limits=LogSettings(keep_bytes=40)) == []


def test_settings_come_from_the_environment():
    assert LogSettings.from_env({}) == LogSettings()
    assert LogSettings.from_env({ROTATE_SECONDS_ENV: "60", STORE_ENV: " s3://b/p "}) == (
        LogSettings(rotate_seconds=60, store="s3://b/p")
    )
    assert LogSettings.from_env({STORE_ENV: ""}).store is None
    for bad in ("64MiB", "0", "-1"):
        with pytest.raises(ValueError, match=ROTATE_BYTES_ENV):
            LogSettings.from_env({ROTATE_BYTES_ENV: bad})
