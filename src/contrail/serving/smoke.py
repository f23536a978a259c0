"""`contrail smoke --url URL`: is the service at URL the model the pipeline built, and healthy?

The same checks for a local container, staging and production, in order, stopping at the
first that fails:

1. `ready`: GET /readyz answers 200 (retried for up to `ready_timeout_s`, the time a fresh
   container needs to load the model);
2. `live`: GET /livez answers 200;
3. `version`: GET /metadata names a `model_version` (the one `--expect-version` asks for);
4. `goldens`: the golden flights get the probabilities the pipeline computed offline for
   them, to `GOLDEN_TOLERANCE`, one flight per request and all in one request (the service's
   small- and large-batch paths). The goldens travel with the model: `contrail package`
   stores `goldens.json` beside it and the service serves it at GET /goldens; `--goldens FILE`
   replays another copy instead (e.g. one kept by CI, independent of the deployment);
5. `malformed`: invalid JSON, an unknown field and a wrong content type get a 4xx, never 5xx;
6. `metrics`: GET /metrics has BentoML's request counter for /predict;
7. `latency`: the p95 latency of a burst of one-flight requests is within the budget.

Each check is a function taking a `Smoke` and returning a `CheckResult`; `run_checks` runs
them in order. HTTP goes through httpx (a dependency of BentoML, hence of every install that
can serve), with one keep-alive connection, as a client of the service would.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

GOLDEN_TOLERANCE = 1e-6
READY_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 10.0
P95_BUDGET_MS = 250.0
BURST = 50
# BentoML 1.4's Prometheus counter of served requests, labelled by endpoint.
REQUEST_COUNTER = "bentoml_service_request_total"
PREDICT = "/predict"
_JSON = {"Content-Type": "application/json"}


class UsageError(ValueError):
    """Bad input to the smoke test itself (not a failed check): exit code 2."""


class CheckFailed(Exception):
    """Raised inside a check: its message is the one-line reason."""


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'FAIL':<5} {self.name:<10} {self.detail}"


@dataclass(frozen=True)
class GoldenCase:
    request: dict[str, Any]  # a /predict body
    probabilities: list[float]  # one per flight of the request, as the pipeline computed them


@dataclass(frozen=True)
class Goldens:
    model_version: str
    cases: list[GoldenCase]
    source: str  # where they were read, for messages

    @property
    def flights(self) -> list[dict[str, Any]]:
        return [flight for case in self.cases for flight in case.request["flights"]]

    @property
    def probabilities(self) -> list[float]:
        return [p for case in self.cases for p in case.probabilities]


def parse_goldens(text: str | bytes, source: str) -> Goldens:
    """The goldens `contrail package` writes; ValueError naming what is wrong."""
    try:
        document = json.loads(text)
        version = document["model_version"]
        cases = [
            GoldenCase(request=dict(case["request"]), probabilities=list(case["probabilities"]))
            for case in document["cases"]
        ]
        for number, case in enumerate(cases):
            flights = case.request["flights"]
            if not isinstance(flights, list) or len(flights) != len(case.probabilities):
                raise ValueError(f"case {number}: one probability per flight is needed")
            if not all(isinstance(p, float | int) for p in case.probabilities):
                raise ValueError(f"case {number}: probabilities must be numbers")
    except (ValueError, KeyError, TypeError) as exc:
        kind = "" if isinstance(exc, ValueError) else f"{type(exc).__name__} "
        raise ValueError(f"{source} is not a goldens file: {kind}{exc}") from None
    if not isinstance(version, str) or not cases:
        raise ValueError(f"{source} is not a goldens file: no model_version or no cases")
    return Goldens(version, cases, source)


def read_goldens(path: Path) -> Goldens:
    try:
        return parse_goldens(path.read_bytes(), str(path))
    except OSError as exc:
        raise UsageError(f"cannot read goldens {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None


@dataclass
class Smoke:
    """What the checks need: a client on the service's base URL and the thresholds. The
    checks record what they learn (`served_version`, `goldens`) for the checks after them."""

    client: httpx.Client
    expect_version: str | None = None
    goldens: Goldens | None = None  # None: fetched from GET /goldens by the goldens check
    p95_budget_ms: float = P95_BUDGET_MS
    burst: int = BURST
    ready_timeout_s: float = READY_TIMEOUT_S
    served_version: str | None = None


Check = Callable[[Smoke], CheckResult]


def check(name: str) -> Callable[[Callable[[Smoke], str]], Check]:
    """A function returning its success detail (or raising CheckFailed) as a named check;
    transport errors (refused connection, timeout) fail it too, with their reason."""

    def wrap(function: Callable[[Smoke], str]) -> Check:
        @functools.wraps(function)
        def run(smoke: Smoke) -> CheckResult:
            try:
                return CheckResult(name, True, function(smoke))
            except CheckFailed as exc:
                return CheckResult(name, False, str(exc))
            except httpx.HTTPError as exc:
                return CheckResult(name, False, _transport_error(exc))

        return run

    return wrap


def _transport_error(exc: httpx.HTTPError) -> str:
    where = ""
    with contextlib.suppress(RuntimeError):  # RuntimeError: no request attached
        where = f"{exc.request.method} {exc.request.url.path}: "
    return f"{where}{type(exc).__name__}: {str(exc) or 'no answer'}"


def _snippet(response: httpx.Response, limit: int = 200) -> str:
    """The body in one short line; of a JSON error (contrail's), its `error` and first field."""
    text = response.text
    with contextlib.suppress(ValueError):
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            text = body["error"]
            first = (body.get("errors") or [None])[0]
            if isinstance(first, dict) and {"field", "reason"} <= first.keys():
                text += f" ({first['field']}: {first['reason']})"
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[:limit]}..."


def _expect_200(response: httpx.Response) -> httpx.Response:
    if response.status_code != 200:
        raise CheckFailed(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {_snippet(response)}"
        )
    return response


def _json_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise CheckFailed(
            f"{response.request.method} {response.request.url.path} did not answer JSON: "
            f"{_snippet(response)}"
        ) from None


@check("ready")
def check_ready(smoke: Smoke) -> str:
    started = time.monotonic()
    deadline = started + smoke.ready_timeout_s
    while True:
        try:
            response = smoke.client.get("/readyz")
            if response.status_code == 200:
                return f"GET /readyz 200 after {time.monotonic() - started:.1f} s"
            last = f"{response.status_code}: {_snippet(response)}"
        except httpx.TransportError as exc:
            last = _transport_error(exc)
        if time.monotonic() >= deadline:
            raise CheckFailed(
                f"GET /readyz not 200 within {smoke.ready_timeout_s:g} s (last: {last})"
            )
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


@check("live")
def check_live(smoke: Smoke) -> str:
    _expect_200(smoke.client.get("/livez"))
    return "GET /livez 200"


@check("version")
def check_version(smoke: Smoke) -> str:
    metadata = _json_of(_expect_200(smoke.client.get("/metadata")))
    version = metadata.get("model_version") if isinstance(metadata, dict) else None
    if not isinstance(version, str):
        raise CheckFailed(f"GET /metadata has no model_version: {str(metadata)[:160]}")
    tag = str(metadata.get("model_tag", "?"))
    smoke.served_version = version
    if smoke.expect_version is None:
        return f"model_version {version} ({tag}; no --expect-version given)"
    if smoke.expect_version not in (version, tag):
        raise CheckFailed(
            f"the service serves model_version {version} ({tag}), expected {smoke.expect_version}"
        )
    return f"model_version {version} ({tag}) as expected"


def _describe(flight: dict[str, Any]) -> str:
    """A flight in a few words, for a message: `UA EWR->IAH 2013-06-01 0515`."""
    g = flight.get
    parts = [f"{g('carrier', '?')} {g('origin', '?')}->{g('dest', '?')}"]
    if all(isinstance(g(key), int) for key in ("year", "month", "day")):
        parts.append(f"{g('year'):04d}-{g('month'):02d}-{g('day'):02d}")
    if isinstance(g("sched_dep_time"), int):
        parts.append(f"{g('sched_dep_time'):04d}")
    return " ".join(parts)


def _predict(smoke: Smoke, flights: list[dict[str, Any]]) -> list[Any]:
    response = _expect_200(smoke.client.post(PREDICT, json={"flights": flights}))
    predictions = _json_of(response).get("predictions")
    if not isinstance(predictions, list) or len(predictions) != len(flights):
        raise CheckFailed(
            f"POST {PREDICT} did not answer one prediction per flight: {_snippet(response)}"
        )
    return predictions


@check("goldens")
def check_goldens(smoke: Smoke) -> str:
    if smoke.goldens is None:
        response = smoke.client.get("/goldens")
        if response.status_code != 200:
            raise CheckFailed(
                f"GET /goldens answered {response.status_code}: {_snippet(response)} "
                "(pass --goldens FILE)"
            )
        try:
            smoke.goldens = parse_goldens(response.content, "GET /goldens")
        except ValueError as exc:
            raise CheckFailed(str(exc)) from None
    goldens = smoke.goldens
    served = smoke.served_version
    if served is not None and goldens.model_version != served:
        raise CheckFailed(
            f"{goldens.source} are for model_version {goldens.model_version}, "
            f"the service serves {served}"
        )
    flights, expected = goldens.flights, goldens.probabilities
    one_by_one = [p for case in goldens.cases for p in _predict(smoke, case.request["flights"])]
    batches = [("one by one", one_by_one), ("in one request", _predict(smoke, flights))]
    worst = 0.0
    for how, predictions in batches:
        wrong = []
        for number, (flight, want, got) in enumerate(
            zip(flights, expected, predictions, strict=True)
        ):
            probability = got.get("probability") if isinstance(got, dict) else None
            if not isinstance(probability, float | int):
                raise CheckFailed(f"flight {number} {how}: no probability in {str(got)[:120]}")
            diff = abs(probability - want)
            worst = max(worst, diff)
            if not diff <= GOLDEN_TOLERANCE:
                wrong.append((number, flight, want, probability, diff))
        if wrong:
            number, flight, want, got_p, diff = wrong[0]
            raise CheckFailed(
                f"{len(wrong)} of {len(flights)} golden flights differ ({how}); flight {number} "
                f"({_describe(flight)}): expected {want:.9f}, got {got_p:.9f} "
                f"(|diff| {diff:.1e} > {GOLDEN_TOLERANCE:g})"
            )
    return (
        f"{len(flights)} flights from {goldens.source} match to {GOLDEN_TOLERANCE:g}, one by "
        f"one and in one request (max |diff| {worst:.1e})"
    )


@check("malformed")
def check_malformed(smoke: Smoke) -> str:
    flight = smoke.goldens.flights[0] if smoke.goldens else {}
    unknown = json.dumps({"flights": [{**flight, "smoke_unknown_field": 1}]})
    requests = [
        ("invalid JSON", b'{"flights": [', "application/json"),
        ("unknown field", unknown.encode(), "application/json"),
        ("wrong content type", b"flights=1", "text/plain"),
    ]
    answers = []
    for what, body, content_type in requests:
        response = smoke.client.post(PREDICT, content=body, headers={"Content-Type": content_type})
        if not 400 <= response.status_code < 500:
            raise CheckFailed(
                f"{what} answered {response.status_code}, not a 4xx: {_snippet(response)}"
            )
        answers.append(f"{what} {response.status_code}")
    return ", ".join(answers)


@check("metrics")
def check_metrics(smoke: Smoke) -> str:
    text = _expect_200(smoke.client.get("/metrics")).text
    counted = [
        line
        for line in text.splitlines()
        if line.startswith(REQUEST_COUNTER) and f'endpoint="{PREDICT}"' in line
    ]
    if not counted:
        found = REQUEST_COUNTER in text
        raise CheckFailed(
            f"GET /metrics has no {REQUEST_COUNTER} "
            + (f"for {PREDICT}" if found else "at all (not BentoML's Prometheus metrics?)")
        )
    return f"GET /metrics counts {PREDICT} in {REQUEST_COUNTER}"


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with `fraction` of the values at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@check("latency")
def check_latency(smoke: Smoke) -> str:
    flights = smoke.goldens.flights if smoke.goldens else []
    if not flights:
        raise CheckFailed("no golden flights to send")
    bodies = [json.dumps({"flights": [flight]}).encode() for flight in flights]
    times_ms = []
    for number in range(smoke.burst):
        started = time.perf_counter()
        response = smoke.client.post(PREDICT, content=bodies[number % len(bodies)], headers=_JSON)
        times_ms.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise CheckFailed(
                f"request {number + 1} of {smoke.burst} answered {response.status_code}: "
                f"{_snippet(response)}"
            )
    p95 = percentile(times_ms, 0.95)
    summary = (
        f"p95 {p95:.1f} ms over {smoke.burst} one-flight requests "
        f"(p50 {percentile(times_ms, 0.5):.1f}, max {max(times_ms):.1f})"
    )
    if p95 > smoke.p95_budget_ms:
        raise CheckFailed(f"{summary} exceeds the budget of {smoke.p95_budget_ms:g} ms")
    return f"{summary}, budget {smoke.p95_budget_ms:g} ms"


CHECKS: tuple[Check, ...] = (
    check_ready,
    check_live,
    check_version,
    check_goldens,
    check_malformed,
    check_metrics,
    check_latency,
)


def run_checks(smoke: Smoke, checks: tuple[Check, ...] = CHECKS) -> Iterator[CheckResult]:
    """Each check's result, in order, up to and including the first failure."""
    for each in checks:
        result = each(smoke)
        yield result
        if not result.ok:
            return


def client_for(url: str, timeout_s: float = REQUEST_TIMEOUT_S) -> httpx.Client:
    """A client on the service's base URL; UsageError for something that is not one."""
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--url must start with http:// or https://, got {url!r}")
    return httpx.Client(base_url=url, timeout=timeout_s)
