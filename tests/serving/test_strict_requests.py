"""The running service refuses every kind of bad request itself: the status, the field it names,
one WARNING line and no traceback."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from support.serving import predict_body

from contrail.serving.api_contract import MAX_BATCH_SIZE

BAD_FLIGHTS = {
    "missing field": (lambda f: {k: v for k, v in f.items() if k != "origin"}, "flights[0].origin"),
    "extra field": (lambda f: {**f, "arr_delay": 12.0}, "flights[0].arr_delay"),
    "wrong type": (lambda f: {**f, "carrier": 7}, "flights[0].carrier"),
    "numeric string": (lambda f: {**f, "distance": "40"}, "flights[0].distance"),
    "float for an int": (lambda f: {**f, "month": 3.0}, "flights[0].month"),
    "null where not allowed": (lambda f: {**f, "distance": None}, "flights[0].distance"),
    "out of range": (lambda f: {**f, "humid": 140.0}, "flights[0].humid"),
    "not an HHMM time": (lambda f: {**f, "sched_dep_time": 1275}, "flights[0].sched_dep_time"),
    "no such date": (lambda f: {**f, "month": 2, "day": 30}, "flights[0].day"),
    "unknown carrier": (lambda f: {**f, "carrier": "ZZ"}, "flights[0].carrier"),
    "unknown origin": (lambda f: {**f, "origin": "BOS"}, "flights[0].origin"),
    "malformed destination": (lambda f: {**f, "dest": "iah"}, "flights[0].dest"),
}


@pytest.mark.parametrize("case", BAD_FLIGHTS, ids=list(BAD_FLIGHTS))
def test_a_bad_flight_is_a_422_naming_its_field(server, flight, case):
    mutate, field = BAD_FLIGHTS[case]
    response = server.post(predict_body(mutate(flight)))
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_rejected(server, flight, token):
    response = server.post(predict_body(flight).replace(json.dumps(flight["dewp"]), token, 1))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["flights[0].dewp"]


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ('{"flights": []}', 422, "flights"),
        (None, 422, "flights"),  # one flight over the maximum batch size
        ('{"flights": [], "debug": true}', 422, "debug"),
        ("{}", 422, "flights"),
        ("[]", 422, "<body>"),
        ('{"flights": [', 400, "<body>"),
        ("", 400, "<body>"),
    ],
    ids=[
        "empty batch",
        "oversized batch",
        "extra top-level key",
        "no flights",
        "not an object",
        "invalid JSON",
        "empty body",
    ],
)
def test_a_bad_body_is_rejected_naming_where(server, flight, payload, status, field):
    if payload is None:
        payload = predict_body(*[flight] * (MAX_BATCH_SIZE + 1))
    response = server.post(payload)
    assert response.status_code == status
    assert field in [e["field"] for e in response.json()["errors"]]


def test_wrong_content_type_is_415_naming_what_came_and_what_is_expected(server, flight):
    response = server.post(predict_body(flight), content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["errors"] == [
        {"field": "Content-Type", "reason": "got 'text/plain', expected application/json"}
    ]
    assert response.json()["error_count"] == 1


def test_an_oversized_body_is_413_naming_its_size_and_the_limit(server):
    size = 3 * 1024 * 1024
    response = server.post(b" " * size)
    assert response.status_code == 413
    ((error,),) = [response.json()["errors"]]
    assert error["field"] == "<body>"
    assert error["reason"].startswith(f"{size} bytes, over the limit of 2097152 bytes")


def test_an_oversized_body_without_a_length_is_413_once_it_passes_the_limit(server):
    """Sent in chunks, no Content-Length: the service stops reading past 2 MiB."""
    chunk = b" " * (1024 * 1024)
    response = httpx.post(
        f"{server.url}/predict",
        content=iter([chunk] * 3),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    ((error,),) = [response.json()["errors"]]
    # The chunks arrive as the server reads them: somewhere past the limit, at most all 3 MiB.
    assert error["reason"].startswith("at least ")
    read = int(error["reason"].split()[2])
    assert 2 * 1024 * 1024 < read <= 3 * 1024 * 1024
    assert "over the limit of 2097152 bytes" in error["reason"]


def test_rejections_are_logged_as_one_warning_line_without_traceback(server, flight):
    server.post(predict_body({**flight, "carrier": "ZZ"}, x9q_marker=1))
    deadline = time.monotonic() + 10
    while not (
        lines := [line for line in server.output.read_text().splitlines() if "x9q_marker" in line]
    ):
        assert time.monotonic() < deadline, "no log line for the rejected request"
        time.sleep(0.1)
    assert len(lines) == 1
    assert "[WARNING]" in lines[0]
    assert "flights[0].carrier" in lines[0] and "x9q_marker: Extra inputs" in lines[0]
    assert "Traceback" not in server.output.read_text()
