"""The BentoML service: strict `POST /predict`, `GET /metadata`, probes and metrics on one port.

Run it with `contrail serve` (or `bentoml serve contrail.serving.service:FlightDelay` once the
model is in the store). The model is declared at class level, so `bentoml build` packs it into
the Bento; `model_store` says which one and checks it at import.

The API follows that model: its request schema is built at import from the stored model's
feature list, and predictions go through `predictor.choose_predictor` (the compiled fast path
when it is proven equal to the pipeline, else the pipeline itself), never the model directly.
Wired here: `strict_requests` (malformed requests answered before BentoML sees them),
`telemetry` (contrail's series on `/metrics`), `model_routes` (`GET /metadata` and `/goldens`)
and the prediction log.
"""

from __future__ import annotations

import os

from contrail import cpus
from contrail.startup import loading

# Before numpy and scikit-learn start their thread pools: the worker processes, one per CPU the
# process may use, are the parallelism; OpenMP threads contending for the same cores only add
# latency to small batches. Set over inherited values: `contrail serve` passes on the command's
# own (a thread per CPU, for fitting).
os.environ.update(cpus.thread_environment(1))

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

# BentoML's main process imports this module before it starts the workers, which import it
# again: these imports pause the collector as the workers' model load does (together about
# 0.4 s of the image's time to ready, `make bench-image`).
with loading():
    import bentoml
    import numpy as np
    from starlette.requests import Request
    from starlette.responses import Response
    from threadpoolctl import threadpool_limits

    from contrail.serving.api_contract import STRICT, PredictResponse, request_schema
    from contrail.serving.model_routes import model_metadata, model_routes
    from contrail.serving.model_store import GOLDENS_FILE, MODEL_TAG, VERIFICATION_FILE, stored_card
    from contrail.serving.prediction_log.format import log_directory
    from contrail.serving.prediction_log.writer import (
        PredictionLog,
        UnwritableLogFolder,
        check_folder,
    )
    from contrail.serving.strict_requests import StrictRequests, request_body, validated_request
    from contrail.serving.telemetry import ModelMetrics

PREDICT_PATH = "/predict"
log = logging.getLogger("contrail.serving")

try:
    check_folder(log_directory())
except UnwritableLogFolder as exc:
    # At import, this ends `bentoml serve` (and a container) before any worker starts. BentoML
    # prints a traceback for any other exception here; for SystemExit, its message alone.
    raise SystemExit(f"contrail service cannot start: {exc}") from None

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
        validated = validated_request(request.scope)
        if validated is None:
            parsed: PredictInput = await super().from_http_request(request, serde)
            return parsed
        # BentoML's IODescriptor validates about 6x slower than the plain model: construct it.
        constructed: PredictInput = cls.model_construct(flights=validated.flights)
        return constructed


@bentoml.asgi_app(model_routes, path="/")
@bentoml.service(name="flight_delay", workers=cpus.usable_cpus(), traffic={"timeout": 30})
class FlightDelay:
    """Probability that a New York departure arrives more than 15 minutes late."""

    bento_model = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        stored = self.bento_model
        path = Path(stored.path)
        with loading():
            # Here, in the workers only: BentoML's main process imports this module as well, to
            # read the service's configuration, and scikit-learn would add a second to its start.
            from contrail.model import TrainedModel
            from contrail.serving.package import read_verification
            from contrail.serving.predictor import choose_predictor

            self.model = TrainedModel.load(path)
            verification = read_verification(path / VERIFICATION_FILE)
            self.predictor = choose_predictor(self.model, verification)
        # After the imports, which load the thread pools it limits.
        self._thread_limits = threadpool_limits(limits=1)
        card = self.model.card
        self.version = str(stored.tag.version)
        self.threshold = card.threshold
        self.predictions = PredictionLog(log_directory())
        self.metrics = ModelMetrics(self.version, card.train_positive_rate)
        goldens = path / GOLDENS_FILE
        self.goldens = goldens.read_bytes() if goldens.exists() else None
        self.metadata = model_metadata(stored, card)
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
            request_body(ctx.request.scope)
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
FlightDelay.add_asgi_middleware(StrictRequests, path=PREDICT_PATH, request=SCHEMA.request)  # type: ignore[attr-defined]
