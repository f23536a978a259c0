"""The GET routes that describe the served model: `/metadata` and `/goldens`.

BentoML API routes are POST-only; these are plain Starlette routes mounted beside them. Each
answers from the worker's service instance, which holds `metadata` (built by `model_metadata`)
and `goldens`: the golden requests stored with the model (`package.golden_requests`), which
`contrail smoke --url URL` replays against any deployment without the repository.
"""

from __future__ import annotations

from typing import Any

import bentoml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contrail.model_card import ModelCard
from contrail.serving.api_contract import MAX_BATCH_SIZE, ErrorResponse, Metadata
from contrail.serving.model_store import GOLDENS_FILE


# bentoml's stored model has no type information (no py.typed): Any.
def model_metadata(stored: Any, card: ModelCard) -> Metadata:
    """What GET /metadata answers: the stored model's tag and packaging metadata, its card."""
    info = stored.info.metadata
    return Metadata(
        model_version=str(stored.tag.version),
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


model_routes = Starlette(
    routes=[
        Route("/metadata", _metadata, methods=["GET"]),
        Route("/goldens", _goldens, methods=["GET"]),
    ]
)
