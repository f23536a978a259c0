"""`contrail smoke`: passes against the served model, and names the first failed check and why.

The real service (conftest's `server`) covers the passing run, a wrong version and tampered
goldens; a small stub HTTP server covers what a healthy service never does (5xx, not ready,
no metrics)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import bentoml
import httpx
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from contrail import months
from contrail.cli import app
from contrail.features import build_features
from contrail.serving import smoke
from contrail.serving.api_contract import request_schema
from contrail.serving.package import GOLDEN_ROWS, GOLDENS_FILE

runner = CliRunner()


def run_smoke(url: str, *options: str):
    return runner.invoke(app, ["smoke", "--url", url, "--burst", "10", *options])


def last_line(result) -> str:
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def served_goldens(server) -> dict:
    return httpx.get(f"{server.url}/goldens", timeout=10).json()


# --- goldens at package time ---------------------------------------------------------------


def test_goldens_are_test_month_flights_with_the_pipelines_probabilities(
    packaged_model, trained_model, raw_test, params, server, served_goldens
):
    stored = json.loads(Path(bentoml.models.get(packaged_model).path_of(GOLDENS_FILE)).read_text())
    assert stored == served_goldens  # GET /goldens serves the file stored beside the model
    assert stored["model_version"] == packaged_model.split(":")[1]
    assert stored["test_month"] == months.name(params.data.test_index)
    cases = stored["cases"]
    assert len(cases) == GOLDEN_ROWS
    assert all(len(c["request"]["flights"]) == len(c["probabilities"]) == 1 for c in cases)
    flights = [c["request"]["flights"][0] for c in cases]
    # Real rows of the test month, as the API takes them ...
    key = ["year", "month", "day", "carrier", "origin", "dest", "sched_dep_time"]
    assert {tuple(f[k] for k in key) for f in flights} <= set(
        raw_test[key].itertuples(index=False, name=None)
    )
    # ... and the JSON round trip loses nothing: the model gives the stored probabilities.
    dtypes = request_schema(trained_model.card.features).dtypes
    columns = pd.DataFrame(
        {c: np.array([f[c] for f in flights], dtype=t) for c, t in dtypes.items()}
    )
    probabilities = trained_model.predict_proba(
        build_features(columns, trained_model.card.features)
    )
    np.testing.assert_allclose(
        probabilities, [c["probabilities"][0] for c in cases], rtol=0, atol=1e-12
    )


# --- against the served model --------------------------------------------------------------


def test_passes_against_the_served_model_of_the_expected_version(server, packaged_model):
    result = run_smoke(server.url, "--expect-version", packaged_model.split(":")[1])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert [line.split()[:2] for line in lines[:-1]] == [
        ["ok", name]
        for name in ("ready", "live", "version", "goldens", "malformed", "metrics", "latency")
    ]
    assert lines[-1] == f"smoke passed: 7 checks against {server.url}"
    assert "20 flights from GET /goldens match to 1e-06" in result.stdout


def test_the_checks_are_functions_returning_a_result(server):
    with smoke.client_for(server.url) as client:
        run = smoke.Smoke(client, burst=5)
        results = list(smoke.run_checks(run))
    assert [r.ok for r in results] == [True] * len(smoke.CHECKS)
    assert run.served_version is not None and run.goldens is not None
    assert results[4] == smoke.CheckResult(
        "malformed", True, "invalid JSON 400, unknown field 422, wrong content type 415"
    )


def test_a_wrong_version_fails_naming_both_versions(server, packaged_model):
    version = packaged_model.split(":")[1]
    result = run_smoke(server.url, "--expect-version", "0123456789abcdef")
    assert result.exit_code == 1
    assert last_line(result) == (
        f"smoke failed at version: the service serves model_version {version} "
        f"({packaged_model}), expected 0123456789abcdef"
    )
    assert "goldens" not in result.stdout  # stops at the first failure


def test_a_tampered_golden_fails_naming_the_flight(server, served_goldens, tmp_path):
    tampered = json.loads(json.dumps(served_goldens))
    expected = tampered["cases"][3]["probabilities"][0]
    tampered["cases"][3]["probabilities"][0] = expected + 1e-5
    path = tmp_path / "goldens.json"
    path.write_text(json.dumps(tampered))
    result = run_smoke(server.url, "--goldens", str(path))
    assert result.exit_code == 1
    line = last_line(result)
    assert line.startswith(
        "smoke failed at goldens: 1 of 20 golden flights differ (one by one); flight 3 ("
    )
    assert f"expected {expected + 1e-5:.9f}, got {expected:.9f} (|diff| 1.0e-05 > 1e-06)" in line


def test_goldens_of_another_model_fail(server, served_goldens, tmp_path):
    other = {**served_goldens, "model_version": "ffffffffffffffff"}
    path = tmp_path / "other.json"
    path.write_text(json.dumps(other))
    result = run_smoke(server.url, "--goldens", str(path))
    assert result.exit_code == 1
    assert last_line(result) == (
        f"smoke failed at goldens: {path} are for model_version ffffffffffffffff, "
        f"the service serves {served_goldens['model_version']}"
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read goldens"),
        ("{not json", "is not a goldens file"),
        (
            '{"model_version": "x", "cases": [{"request": {"flights": [{}]}, "probabilities": []}]}',
            "one probability per flight",
        ),
    ],
    ids=["missing", "invalid JSON", "inconsistent"],
)
def test_an_unusable_goldens_file_is_a_usage_error(tmp_path, content, reason):
    path = tmp_path / "goldens.json"
    if content is not None:
        path.write_text(content)
    result = run_smoke("http://127.0.0.1:9", "--goldens", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("contrail smoke: ") and reason in result.stderr


def test_a_url_without_scheme_is_a_usage_error():
    result = run_smoke("localhost:3000")
    assert result.exit_code == 1
    assert "--url must start with http:// or https://" in result.stderr


# --- against a stub that misbehaves --------------------------------------------------------

STUB_VERSION = "5757575757575757"
STUB_FLIGHT = {"carrier": "UA", "origin": "EWR", "dest": "IAH", "year": 2013, "month": 6, "day": 1}
STUB_GOLDENS = {
    "model_version": STUB_VERSION,
    "cases": [{"request": {"flights": [STUB_FLIGHT]}, "probabilities": [0.25]}],
}
HEALTHY_METRICS = (
    'bentoml_service_request_total{endpoint="/predict",http_response_code="200"} 3.0\n'
)


@dataclass
class Stub:
    """A service that answers like contrail's, except where told otherwise."""

    ready_status: int = 200
    predict_status: int | None = None  # every POST /predict answers this status
    invalid_json_status: int = 400
    metrics: str = HEALTHY_METRICS
    goldens: dict | None = field(default_factory=lambda: STUB_GOLDENS)


@contextmanager
def stub_server(stub: Stub) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def answer(self, status: int, body: object, content_type="application/json") -> None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            metadata = {"model_version": STUB_VERSION, "model_tag": f"flight-delay:{STUB_VERSION}"}
            routes = {
                "/readyz": (stub.ready_status, "not ready" if stub.ready_status != 200 else "ok"),
                "/livez": (200, "ok"),
                "/metadata": (200, metadata),
                "/goldens": (200, stub.goldens) if stub.goldens else (404, {"error": "none"}),
                "/metrics": (200, stub.metrics),
            }
            self.answer(*routes.get(self.path, (404, {"error": "not found"})))

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if stub.predict_status is not None:
                self.answer(stub.predict_status, "Internal Server Error", "text/plain")
            elif self.headers.get("Content-Type") != "application/json":
                self.answer(415, {"error": "not JSON"})
            else:
                try:
                    flights = json.loads(body)["flights"]
                except ValueError:
                    self.answer(stub.invalid_json_status, {"error": "invalid JSON"})
                    return
                if any(f != STUB_FLIGHT for f in flights):
                    self.answer(422, {"error": "invalid request"})
                    return
                predictions = [{"probability": 0.25, "model_version": STUB_VERSION}] * len(flights)
                self.answer(200, {"predictions": predictions})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_stub_passes_when_healthy():
    with stub_server(Stub()) as url:
        result = run_smoke(url, "--expect-version", STUB_VERSION)
    assert result.exit_code == 0, result.output
    assert last_line(result) == f"smoke passed: 7 checks against {url}"


@pytest.mark.parametrize(
    ("stub", "reason"),
    [
        (
            Stub(ready_status=503),
            "smoke failed at ready: GET /readyz not 200 within 0.3 s (last: 503: not ready)",
        ),
        (
            Stub(predict_status=500),
            "smoke failed at goldens: POST /predict answered 500: Internal Server Error",
        ),
        (
            Stub(invalid_json_status=500),
            "smoke failed at malformed: invalid JSON answered 500, not a 4xx: invalid JSON",
        ),
        (
            Stub(goldens=None),
            "smoke failed at goldens: GET /goldens answered 404: none (pass --goldens FILE)",
        ),
        (
            Stub(metrics="# nothing here\n"),
            "smoke failed at metrics: GET /metrics has no bentoml_service_request_total at all "
            "(not BentoML's Prometheus metrics?)",
        ),
    ],
    ids=["not ready", "5xx on predict", "5xx on invalid JSON", "no goldens", "no metrics"],
)
def test_a_misbehaving_service_fails_with_one_line_naming_the_check(stub, reason):
    with stub_server(stub) as url:
        result = run_smoke(url, "--ready-timeout", "0.3")
    assert result.exit_code == 1
    assert last_line(result) == reason


def test_nothing_listening_fails_readiness_after_the_timeout():
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_smoke(f"http://127.0.0.1:{port}", "--ready-timeout", "0.2")
    assert result.exit_code == 1
    line = last_line(result)
    assert line.startswith("smoke failed at ready: GET /readyz not 200 within 0.2 s (last: ")
    assert "ConnectError" in line


def test_latency_over_budget_fails_with_the_p95():
    with stub_server(Stub()) as url:
        result = run_smoke(url, "--p95-budget-ms", "0")
    assert result.exit_code == 1
    line = last_line(result)
    assert line.startswith("smoke failed at latency: p95 ")
    assert line.endswith("exceeds the budget of 0 ms")


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert smoke.percentile(values, 0.95) == 95.0
    assert smoke.percentile(values, 0.5) == 50.0
    assert smoke.percentile([3.0], 0.95) == 3.0
