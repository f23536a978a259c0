"""The prediction log leaves the pod: bounded files, shipped when closed, retained when not.

Time comes from an injected clock; only the tests of the background thread and of the real
service wait, for something another thread or process does, with a deadline.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest
from support.serving import as_flights

from contrail.serving.prediction_log.format import (
    ABANDONED_AFTER_S,
    ROTATE_BYTES_ENV,
    STORE_ENV,
    LogSettings,
)
from contrail.serving.prediction_log.reader import read_log
from contrail.serving.prediction_log.writer import PredictionLog

BODY = json.dumps({"flights": [{"carrier": "UA", "origin": "EWR", "dest": "MIA"}]}).encode()
START = datetime.datetime.now(datetime.UTC).replace(microsecond=123456)


class Clock:
    """Wall time that moves only when told to."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


def manual_log(directory: Path, clock: Clock, **limits: Any) -> PredictionLog:
    """A log without its thread: the test runs `maintain()`, the thread's pass, itself."""
    return PredictionLog(directory, LogSettings(**limits), clock=clock, background=False)


def write(log: PredictionLog, probability: float = 0.5) -> None:
    log.write(BODY, np.array([probability]), 0.5, "v1")


def names(directory: Path, pattern: str = "predictions-*") -> list[str]:
    return sorted(path.name for path in directory.glob(pattern))


def line_bytes(tmp_path: Path) -> int:
    """The size of one logged line of BODY (a throwaway log measures it)."""
    scratch = manual_log(tmp_path / "scratch", Clock())
    write(scratch)
    (path,) = (tmp_path / "scratch").iterdir()
    size = path.stat().st_size
    scratch.close()
    return size


def set_mtime(path: Path, when: float) -> None:
    os.utime(path, (when, when))


def wait_for(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.05)


def test_rotates_before_a_line_would_exceed_the_size(tmp_path):
    line = line_bytes(tmp_path)
    folder = tmp_path / "log"
    log = manual_log(folder, Clock(), rotate_bytes=2 * line + line // 2)
    for _ in range(5):
        write(log)
    closed, opened = names(folder, "*.jsonl"), names(folder, "*.jsonl.open")
    assert len(closed) == 2 and len(opened) == 1
    assert [(folder / name).stat().st_size for name in closed] == [2 * line, 2 * line]
    assert (folder / opened[0]).stat().st_size == line
    # Names sort by open time (here the same instant, then the sequence number).
    assert closed[-1].removesuffix(".jsonl") < opened[0].removesuffix(".jsonl.open")
    log.close()


def test_rotates_by_age_on_a_write_and_when_idle(tmp_path):
    clock = Clock()
    log = manual_log(tmp_path, clock, rotate_seconds=900)
    write(log)
    clock.advance(899)
    write(log)
    assert names(tmp_path, "*.jsonl") == []
    clock.advance(1)
    write(log)
    (first,) = names(tmp_path, "*.jsonl")
    assert first.startswith(f"predictions-{START:%Y%m%dT%H%M%S.%f}Z-")
    assert len((tmp_path / first).read_bytes().splitlines()) == 2
    (second,) = names(tmp_path, "*.jsonl.open")
    assert second.startswith(f"predictions-{START + datetime.timedelta(seconds=900):%Y%m%dT%H%M%S}")
    # No request comes: the thread's rotate_if_due closes the file once it is old enough.
    clock.advance(899)
    log.rotate_if_due()
    assert len(names(tmp_path, "*.jsonl.open")) == 1
    clock.advance(1)
    log.rotate_if_due()
    assert names(tmp_path, "*.jsonl.open") == []
    assert names(tmp_path, "*.jsonl") == [first, second.removesuffix(".open")]
    log.close()


def test_ships_only_closed_files_byte_for_byte(tmp_path):
    line = line_bytes(tmp_path)
    folder, store = tmp_path / "log", tmp_path / "store"
    log = manual_log(folder, Clock(), rotate_bytes=line, store=str(store))
    for probability in (0.1, 0.2, 0.3):
        write(log, probability)
    closed = {name: (folder / name).read_bytes() for name in names(folder, "*.jsonl")}
    (still_open,) = names(folder, "*.jsonl.open")
    assert len(closed) == 2

    log.maintain()
    assert {path.name: path.read_bytes() for path in store.iterdir()} == closed
    assert names(folder) == [still_open]
    log.close()
    assert names(folder) == []
    assert names(store) == sorted([*closed, still_open.removesuffix(".open")])
    assert read_log(store)["probability"].tolist() == [0.1, 0.2, 0.3]


def test_ships_to_an_fsspec_url_with_one_put(tmp_path):
    url = f"memory://contrail-test/{tmp_path.name}"
    log = manual_log(tmp_path, Clock(), store=url)
    write(log)
    log.close()
    memory = fsspec.filesystem("memory")
    (stored,) = memory.ls(f"/contrail-test/{tmp_path.name}", detail=False)
    assert json.loads(memory.cat_file(stored))["request"] == json.loads(BODY)
    assert names(tmp_path) == []


def test_a_missing_store_plugin_stops_start_up(tmp_path):
    with pytest.raises(ValueError, match=STORE_ENV):
        manual_log(tmp_path, Clock(), store="nosuchscheme://bucket/prefix")


def test_start_up_ships_what_earlier_processes_left(tmp_path):
    clock = Clock()
    folder, store = tmp_path / "log", tmp_path / "store"
    folder.mkdir()
    now = clock().timestamp()
    left_closed = folder / "predictions-20260101T000000.000000Z-pod-7-000003.jsonl"
    left_closed.write_bytes(b'{"a":1}\n')
    legacy = folder / "predictions-2025-12-31-42.jsonl"  # the per-day name of earlier versions
    legacy.write_bytes(b'{"b":2}\n')
    # A process that died mid-line: nobody holds its file, untouched for over a minute.
    abandoned = folder / "predictions-20260101T001500.000000Z-pod-7-000004.jsonl.open"
    abandoned.write_bytes(b'{"c":3}\n{"d":')
    set_mtime(abandoned, now - ABANDONED_AFTER_S - 1)
    # A live writer in another worker holds its file: never closed or shipped under it.
    live = folder / "predictions-20260101T001600.000000Z-pod-8-000000.jsonl.open"
    live.write_bytes(b'{"e":5}\n')
    set_mtime(live, now - 3600)
    holder = live.open("rb")
    fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
    # Nobody holds this one yet, but it was written just now: its writer may be about to.
    fresh = folder / "predictions-20260101T001700.000000Z-pod-9-000000.jsonl.open"
    fresh.write_bytes(b"")

    log = manual_log(folder, clock, store=str(store))
    log.maintain()  # the thread's first pass
    holder.close()

    assert names(store) == sorted(
        [left_closed.name, legacy.name, abandoned.name.removesuffix(".open")]
    )
    assert (store / abandoned.name.removesuffix(".open")).read_bytes() == b'{"c":3}\n{"d":'
    assert names(folder) == sorted([live.name, fresh.name])
    log.close()


def test_a_store_failure_keeps_the_files_and_a_later_pass_ships_them(tmp_path, caplog):
    line = line_bytes(tmp_path)
    folder, blocker = tmp_path / "log", tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's parent folder should be")
    log = manual_log(folder, Clock(), rotate_bytes=line, store=str(blocker / "store"))
    for _ in range(3):
        write(log)
    closed = names(folder, "*.jsonl")
    assert len(closed) == 2

    with caplog.at_level(logging.WARNING, logger="contrail.serving.prediction_log.writer"):
        log.maintain()
    (warning,) = caplog.records
    assert "2 closed file(s) kept" in warning.getMessage()
    assert names(folder, "*.jsonl") == closed

    blocker.unlink()
    log.maintain()
    assert names(blocker / "store") == closed
    assert names(folder, "*.jsonl") == []
    log.close()


def test_retention_drops_the_old_then_the_oldest_until_the_folder_fits(tmp_path, caplog):
    clock = Clock()
    now = clock().timestamp()
    keep_seconds, keep_bytes = 3600, 10_000
    # (age in seconds, size in bytes) of closed files, and one file still being written.
    created = {
        "predictions-a.jsonl": (7200, 100),
        "predictions-b.jsonl": (3601, 100),
        "predictions-c.jsonl": (3000, 4000),
        "predictions-d.jsonl": (2000, 3000),
        "predictions-e.jsonl": (1000, 2500),
        "predictions-f.jsonl": (10, 1000),
    }
    open_size = 1500
    for name, (age, size) in created.items():
        (tmp_path / name).write_bytes(b"x" * size)
        set_mtime(tmp_path / name, now - age)
    live = PredictionLog(tmp_path, LogSettings(), clock=clock, background=False)
    live.write(b'{"flights":[' + b" " * open_size + b"]}", np.array([]), 0.5, "v1")
    open_bytes = sum(path.stat().st_size for path in tmp_path.glob("*.open"))

    expected = {name for name, (age, _) in created.items() if age > keep_seconds}
    young = sorted(
        (-age, name, size) for name, (age, size) in created.items() if age <= keep_seconds
    )
    total = open_bytes + sum(size for _, _, size in young)
    for _, name, size in young:
        if total <= keep_bytes:
            break
        expected.add(name)
        total -= size
    assert expected == {"predictions-a.jsonl", "predictions-b.jsonl", "predictions-c.jsonl"}

    log = manual_log(tmp_path, clock, keep_seconds=keep_seconds, keep_bytes=keep_bytes)
    with caplog.at_level(logging.WARNING, logger="contrail.serving.prediction_log.writer"):
        log.maintain()
    assert set(created) - set(names(tmp_path, "*.jsonl")) == expected
    assert len(names(tmp_path, "*.jsonl.open")) == 1
    (warning,) = caplog.records
    assert "dropped 3 unshipped file(s), 4200 bytes" in warning.getMessage()
    live.close()


def test_the_thread_ships_leftovers_and_rotated_files(tmp_path):
    line = line_bytes(tmp_path)
    folder, store = tmp_path / "log", tmp_path / "store"
    folder.mkdir()
    leftover = folder / "predictions-20260101T000000.000000Z-pod-7-000000.jsonl"
    leftover.write_bytes(b'{"a":1}\n')
    log = PredictionLog(folder, LogSettings(rotate_bytes=line, store=str(store)))
    wait_for(lambda: names(store) == [leftover.name])
    write(log)
    write(log)
    wait_for(lambda: len(names(store)) == 2)
    assert len(names(folder)) == 1
    log.close()
    assert len(names(store)) == 3 and names(folder) == []


@pytest.fixture
def running_service(pytestconfig) -> Callable:
    """conftest.py's `running_service`: conftest modules are plugins, not importable."""
    conftest = pytestconfig.pluginmanager.get_plugin(str(Path(__file__).with_name("conftest.py")))
    return conftest.running_service


def test_the_service_ships_leftovers_rotated_files_and_its_last_file_on_exit(
    running_service, packaged_model, raw_test, trained_model, tmp_path, monkeypatch
):
    features = trained_model.card.features
    flights = as_flights(raw_test.head(3), features)
    folder, store = tmp_path / "predictions", tmp_path / "store"
    folder.mkdir()
    earlier = PredictionLog(folder, LogSettings(), background=False)
    earlier.write(json.dumps({"flights": flights[:1]}).encode(), np.array([0.25]), 0.5, "old")
    earlier.close()
    monkeypatch.setenv(STORE_ENV, str(store))
    # One request's line fits in a file, two do not: each request closes the previous file.
    (line,) = folder.iterdir()
    monkeypatch.setenv(ROTATE_BYTES_ENV, str(line.stat().st_size * 3 // 2))

    with running_service(packaged_model, tmp_path) as server:
        wait_for(lambda: len(names(store)) == 1)  # shipped at start-up, before any request
        for flight in flights[1:]:
            assert server.post(json.dumps({"flights": [flight]})).status_code == 200
        wait_for(lambda: len(names(store)) == 2)  # the first request's file, once rotated
        assert len(names(folder, "*.jsonl.open")) == 1
    # Nothing is lost: FlightDelay's on_shutdown hook ships the file being written (a worker
    # dies by SIGTERM, so atexit never runs there).
    assert names(folder) == []
    logged = read_log(store)
    assert logged["model_version"].iloc[0] == "old"
    key = ["carrier", "origin", "dest", "sched_dep_time"]
    assert logged[key].to_dict(orient="records") == [{k: f[k] for k in key} for f in flights]
