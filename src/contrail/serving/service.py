"""The BentoML service: strict `POST /predict`, `GET /metadata`, probes and metrics on one port.

`GET /goldens` serves the golden requests stored with the model (`package.golden_requests`):
`contrail smoke --url URL` replays them against any deployment without the repository.

Run it with `contrail serve` (or `bentoml serve contrail.serving.service:FlightDelay` once the
model is in the store). The model is declared at class level, so `bentoml build` packs it into
the Bento. `CONTRAIL_MODEL_TAG` picks another stored version (default: the latest).

The API follows that model: its request schema is built at import from the stored model's
feature list, and predictions go through `predictor.choose_predictor` (the compiled fast path
when it is proven equal to the pipeline, else the pipeline itself), never the model directly.

Every POST /predict is validated by `StrictRequests` before BentoML sees it: BentoML alone
answers an empty batch or `Infinity` with a 500, coerces "40" to 40, ignores unknown top-level
keys and logs each rejection at ERROR with a traceback. Here malformed requests get 400
(invalid JSON), 413 (body too large), 415 (not JSON) or 422 (schema), naming each field path
and reason, and one WARNING line in the log.

`/metrics` carries BentoML's request series and contrail's own (`ServiceMetrics`): the
distribution of predicted probabilities and the flights predicted, by model version, the model's
training positive rate to compare them with, and rejected requests by reason.
`deploy/monitoring/` holds the alert rules and the Grafana dashboard built on them.
"""

from __future__ import annotations

import os

# Before numpy and scikit-learn start their thread pools: the worker processes are the
# parallelism; OpenMP threads contending for the same cores only add latency to small batches.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bentoml
import numpy as np
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from threadpoolctl import threadpool_limits

from contrail.model import CARD_FILE, IncompatibleModel, ModelCard, TrainedModel
from contrail.serving.api_contract import (
    MAX_BATCH_SIZE,
    MAX_BODY_BYTES,
    STRICT,
    ErrorResponse,
    Metadata,
    PredictResponse,
    describe,
    request_schema,
)
from contrail.serving.package import (
    GOLDENS_FILE,
    MODEL_NAME,
    VERIFICATION_FILE,
    read_verification,
)
from contrail.serving.prediction_log.format import log_directory
from contrail.serving.prediction_log.writer import PredictionLog
from contrail.serving.predictor import choose_predictor

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

MODEL_TAG = os.environ.get("CONTRAIL_MODEL_TAG") or f"{MODEL_NAME}:latest"
PREDICT_PATH = "/predict"
# ASGI scope keys: the request StrictRequests parsed, and its body for the prediction log.
_VALIDATED = "contrail.validated"
_BODY = "contrail.body"
log = logging.getLogger("contrail.serving")

# Upper bounds of the probability histogram's buckets (prometheus_client adds +Inf).
PROBABILITY_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
# The `reason` label of contrail_rejected_requests_total, by the status `_reject` answers.
REJECTION_REASONS = {
    400: "invalid_json",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "schema",
}


@dataclass(frozen=True)
class ServiceMetrics:
    """contrail's series on BentoML's /metrics: what the model predicts and what is refused."""

    probability: Histogram
    predictions: Counter
    train_positive_rate: Gauge
    rejected: Counter


@functools.cache
def service_metrics() -> ServiceMetrics:
    """The metrics, created once per process, by the worker's service instance.

    prometheus_client picks its storage when first imported: with PROMETHEUS_MULTIPROC_DIR set,
    as in a BentoML worker, files that BentoML's /metrics sums over the workers (counts survive
    a worker restart). BentoML's advice (bentoml/metrics.py, a deprecated lazy alias of
    prometheus_client) is to import it only then, not at module import, which `bentoml serve`
    and `bentoml build` also do in processes that serve nothing.
    """
    from prometheus_client import Counter, Gauge, Histogram

    rejected = Counter(
        "contrail_rejected_requests_total",
        "POST /predict requests answered with a 4xx before the model, by reason",
        ["reason"],
    )
    for reason in REJECTION_REASONS.values():
        # Exported at 0 from the start: rate() and increase() then see the first rejection.
        rejected.labels(reason=reason)
    return ServiceMetrics(
        probability=Histogram(
            "contrail_prediction_probability",
            "Predicted delay probability, one observation per flight",
            ["model_version"],
            buckets=PROBABILITY_BUCKETS,
        ),
        predictions=Counter(
            "contrail_predictions_total", "Flights predicted (not requests)", ["model_version"]
        ),
        # Every worker sets the same value: "max" exports it once, without a pid label.
        train_positive_rate=Gauge(
            "contrail_model_train_positive_rate",
            "Share of delayed flights in the model's training window: the mean probability "
            "a calibrated model predicts on traffic like it",
            ["model_version"],
            multiprocess_mode="max",
        ),
        rejected=rejected,
    )


class ModelMetrics:
    """The served model's series, labelled with its version once, at start."""

    def __init__(self, version: str, train_positive_rate: float) -> None:
        metrics = service_metrics()
        self._probability = metrics.probability.labels(model_version=version)
        self._predictions = metrics.predictions.labels(model_version=version)
        metrics.train_positive_rate.labels(model_version=version).set(train_positive_rate)
        self._bounds = np.array(PROBABILITY_BUCKETS)

    def observe(self, probability: np.ndarray) -> None:
        """`Histogram.observe` for every flight, at the cost of one increment per bucket.

        Observing flight by flight takes ~3 ms per 1,000 flights (two locked writes to the
        shared file each); counting per bucket with numpy takes ~0.06 ms. The bucket and sum
        values are the histogram's private attributes, incremented as `observe` does;
        tests/serving/test_service_metrics.py checks the exported buckets against responses.
        """
        # Bucket i holds bounds[i-1] < p <= bounds[i], the last one (+Inf) p > bounds[-1].
        counts = np.bincount(
            np.searchsorted(self._bounds, probability), minlength=len(self._bounds) + 1
        )
        buckets = self._probability._buckets
        for index in np.flatnonzero(counts).tolist():
            buckets[index].inc(int(counts[index]))
        self._probability._sum.inc(float(probability.sum()))
        self._predictions.inc(len(probability))


def stored_card(tag: str) -> ModelCard:
    """The stored model's card, read at import: its features shape the request schema.

    A model trained with another scikit-learn is refused here. Raised at import, this ends
    `bentoml serve` (and a container) with the message; raised in a worker, BentoML would
    restart that worker forever and never become ready.
    """
    try:
        stored = bentoml.models.get(tag)
    except bentoml.exceptions.NotFound:
        raise RuntimeError(
            f"no model {tag} in the BentoML store: run `contrail package` or `make serve`"
        ) from None
    card = ModelCard(**json.loads((Path(stored.path) / CARD_FILE).read_text()))
    try:
        card.require_same_sklearn(str(stored.tag))
    except IncompatibleModel as exc:
        raise RuntimeError(f"refusing to serve: {exc}") from None
    return card


SCHEMA = request_schema(stored_card(MODEL_TAG).features)
if TYPE_CHECKING:
    from contrail.serving.api_contract import FlightBatch
else:
    # pydantic and BentoML read the field annotations below at runtime: the built model.
    FlightBatch = SCHEMA.batch


# bentoml's _bentoml_sdk has no type information (no py.typed): IODescriptor is Any to mypy.
class PredictInput(bentoml.IODescriptor):  # type: ignore[misc]
    """The /predict body, as BentoML's input spec (it also drives the OpenAPI document)."""

    model_config = STRICT
    flights: FlightBatch

    @classmethod
    async def from_http_request(cls, request: Request, serde: Any) -> PredictInput:
        # StrictRequests has parsed and validated this body already: parsing it twice would
        # double the cost of a 1,000-flight batch.
        validated: PredictInput | None = request.scope.get(_VALIDATED)
        if validated is None:
            parsed: PredictInput = await super().from_http_request(request, serde)
            return parsed
        return validated


def _reject(status: int, problem: ErrorResponse) -> Response:
    service_metrics().rejected.labels(reason=REJECTION_REASONS[status]).inc()
    reasons = "; ".join(f"{e.field}: {e.reason}" for e in problem.errors) or problem.error
    more = problem.error_count - len(problem.errors)
    suffix = f" (+{more} more)" if more > 0 else ""
    log.warning(
        "rejected POST %s (%d): %s%s", PREDICT_PATH, status, reasons.replace("\n", " "), suffix
    )
    return Response(problem.model_dump_json(), status_code=status, media_type="application/json")


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it exceeds `limit` bytes."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


class StrictRequests:
    """ASGI middleware answering every malformed POST /predict itself (see module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PREDICT_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        response, body = await self._validate(scope, receive)
        if response is not None:
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _validate(self, scope: Scope, receive: Receive) -> tuple[Response | None, bytes]:
        headers = Headers(scope=scope)
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            error = f"Content-Type must be application/json, got {media_type or 'nothing'!r}"
            return _reject(415, ErrorResponse(error=error)), b""
        too_large = ErrorResponse(
            error=f"body exceeds {MAX_BODY_BYTES} bytes; send at most {MAX_BATCH_SIZE} flights"
        )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _reject(413, too_large), b""
        body = await _read_body(receive, MAX_BODY_BYTES)
        if body is None:
            return _reject(413, too_large), b""
        try:
            request = SCHEMA.request.model_validate_json(body)
        except ValidationError as exc:
            syntax = any(e["type"] == "json_invalid" for e in exc.errors())
            return _reject(400 if syntax else 422, describe(exc)), body
        # BentoML's IODescriptor validates about 6x slower than the plain model: construct it.
        scope[_VALIDATED] = PredictInput.model_construct(flights=request.flights)
        scope[_BODY] = body
        return None, body


async def _metadata(_: Request) -> Response:
    service = bentoml.get_current_service()
    return Response(service.metadata.model_dump_json(), media_type="application/json")


async def _goldens(_: Request) -> Response:
    """The test-month flights and offline probabilities stored with the model, for
    `contrail smoke`; 404 for a model packaged before goldens existed."""
    service = bentoml.get_current_service()
    goldens: bytes | None = service.goldens
    if goldens is None:
        tag = service.metadata.model_tag
        problem = ErrorResponse(
            error=f"{tag} has no {GOLDENS_FILE} (packaged by an older contrail): "
            "`contrail package` stores it again complete"
        )
        return Response(problem.model_dump_json(), status_code=404, media_type="application/json")
    return Response(goldens, media_type="application/json")


# BentoML API routes are POST-only; GET /metadata and /goldens are plain routes mounted beside.
metadata_app = Starlette(
    routes=[
        Route("/metadata", _metadata, methods=["GET"]),
        Route("/goldens", _goldens, methods=["GET"]),
    ]
)


@bentoml.asgi_app(metadata_app, path="/")
@bentoml.service(name="flight_delay", workers="cpu_count", traffic={"timeout": 30})
class FlightDelay:
    """Probability that a New York departure arrives more than 15 minutes late."""

    bento_model = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self._thread_limits = threadpool_limits(limits=1)
        stored = self.bento_model
        path = Path(stored.path)
        self.model = TrainedModel.load(path)
        self.version = str(stored.tag.version)
        self.threshold = self.model.card.threshold
        self.predictor = choose_predictor(self.model, read_verification(path / VERIFICATION_FILE))
        self.predictions = PredictionLog(log_directory())
        self.metrics = ModelMetrics(self.version, self.model.card.train_positive_rate)
        goldens = path / GOLDENS_FILE
        self.goldens = goldens.read_bytes() if goldens.exists() else None
        info = stored.info.metadata
        card = self.model.card
        self.metadata = Metadata(
            model_version=self.version,
            model_tag=str(stored.tag),
            train_start=card.train_start,
            train_end=card.train_end,
            train_rows=card.train_rows,
            threshold=card.threshold,
            features=card.features,
            metrics=info.get("metrics", {}),
            git_commit=info.get("git_commit", "unknown"),
            dvc_model_md5=info.get("dvc_model_md5", "unknown"),
            sklearn_version=card.sklearn_version,
            max_batch_size=MAX_BATCH_SIZE,
        )
        log.info(
            "serving %s (trained %s..%s) with %s; logging predictions to %s",
            stored.tag, card.train_start, card.train_end, type(self.predictor).__name__,
            self.predictions.directory,
        )  # fmt: skip

    @bentoml.on_shutdown  # type: ignore[untyped-decorator]  # bentoml: no py.typed
    def close_prediction_log(self) -> None:
        """Close and ship the file being written: uvicorn re-raises SIGTERM after shutdown,
        so the process dies by the signal and no atexit handler runs."""
        self.predictions.close()

    @bentoml.api(route=PREDICT_PATH, input_spec=PredictInput)  # type: ignore[untyped-decorator]  # bentoml: no py.typed
    async def predict(self, flights: FlightBatch, ctx: bentoml.Context) -> PredictResponse:
        """Delay probability, label at the model's threshold and model version, per flight."""
        columns = {
            name: np.array([getattr(flight, name) for flight in flights], dtype=dtype)
            for name, dtype in SCHEMA.dtypes.items()
        }
        features = self.predictor.features_for(columns)
        # On the event loop even for 1,000 flights (15 ms): a worker busy computing does not
        # accept new connections, so the kernel hands them to an idle worker. In a thread, one
        # worker could accept every connection while the other idled (seen with bench-serve).
        probability, unseen = self.predictor.predict(features)
        self.metrics.observe(probability)
        body = (
            ctx.request.scope.get(_BODY)
            or SCHEMA.request(flights=flights).model_dump_json().encode()
        )
        self.predictions.write(body, probability, self.threshold, self.version)
        unseen_names: list[list[str]] = [[]] * len(flights)
        for row in np.flatnonzero(unseen.any(axis=1)):
            unseen_names[row] = self.predictor.unseen_names(unseen[row])
        predictions = [
            {"probability": p, "delayed": d, "model_version": self.version, "unseen": names}
            for p, d, names in zip(
                probability.tolist(),
                (probability >= self.threshold).tolist(),
                unseen_names,
                strict=True,
            )
        ]
        # The annotation is BentoML's output spec (the OpenAPI response body); a Response, here
        # that body serialised with json.dumps, it sends as is.
        return Response(json.dumps({"predictions": predictions}), media_type="application/json")  # type: ignore[return-value]


# bentoml.service replaces the class with a Service, which mypy cannot see through a decorator.
FlightDelay.add_asgi_middleware(StrictRequests)  # type: ignore[attr-defined]
