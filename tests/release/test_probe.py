"""`contrail.release.probe`, the real smoke test and scrape a rollout uses, against a server
on loopback: a scrape that is not a 2xx answer, or no answer, fails the version."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from support.loopback import Serving, free_port, handler

from contrail.release import probe
from contrail.release.rollout import DeployFailed

METRICS = 'bentoml_service_request_total{endpoint="/predict",http_response_code="200"} 7\n'


@pytest.fixture
def service() -> Iterator[tuple[str, list[int]]]:
    """A /metrics endpoint answering with the status code at the head of the list."""
    statuses = [200]

    def serve(request: BaseHTTPRequestHandler) -> None:
        body = METRICS.encode() if request.path == "/metrics" else b"not found"
        status = statuses[0] if request.path == "/metrics" else 404
        request.send_response(status)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    serving = Serving(ThreadingHTTPServer(("127.0.0.1", 0), handler(serve)))
    yield f"http://{serving.address}", statuses
    serving.stop()


def test_scrape_returns_the_metrics_text(service: tuple[str, list[int]]) -> None:
    url, _ = service
    assert probe.scrape(url) == METRICS


def test_a_scrape_answered_with_an_error_fails_the_version(
    service: tuple[str, list[int]],
) -> None:
    url, statuses = service
    statuses[0] = 503
    with pytest.raises(DeployFailed, match=f"cannot scrape {url}/metrics: .*503"):
        probe.scrape(url)


def test_a_scrape_nobody_answers_fails_the_version() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(DeployFailed, match=f"cannot scrape {url}/metrics"):
        probe.scrape(url)


def test_a_smoke_test_of_no_service_fails_at_its_first_check() -> None:
    with pytest.raises(DeployFailed, match=r"^smoke failed at ready: "):
        probe.smoke(f"http://127.0.0.1:{free_port()}", None, 0.0)
