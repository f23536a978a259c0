"""ASGI middleware that checks every prediction request before BentoML sees it.

BentoML alone answers an empty batch or `Infinity` with a 500, coerces "40" to 40, ignores
unknown top-level keys and logs each rejection at ERROR with a traceback. Here malformed
requests get 400 (invalid JSON), 413 (body too large), 415 (not JSON) or 422 (schema), naming
each field path and reason, one WARNING line in the log, and a count in `telemetry`.

A valid body is parsed once: the service reads the parsed request back with
`validated_request` (parsing a 1,000-flight batch twice would double its cost) and the body as
the client sent it with `request_body` (for the prediction log).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pydantic import ValidationError
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contrail.serving.api_contract import (
    MAX_BATCH_SIZE,
    MAX_BODY_BYTES,
    ErrorResponse,
    describe,
    one_error,
)
from contrail.serving.telemetry import count_rejection

if TYPE_CHECKING:
    from contrail.serving.api_contract import PredictRequest

# ASGI scope keys: the request StrictRequests parsed, and its body for the prediction log.
_VALIDATED = "contrail.validated"
_BODY = "contrail.body"
log = logging.getLogger("contrail.serving")


def validated_request(scope: Scope) -> PredictRequest | None:
    """The request StrictRequests parsed and validated, if it saw this one."""
    validated: PredictRequest | None = scope.get(_VALIDATED)
    return validated


def request_body(scope: Scope) -> bytes | None:
    """The body of a request StrictRequests validated, as the client sent it."""
    body: bytes | None = scope.get(_BODY)
    return body


async def _read_body(receive: Receive, limit: int) -> tuple[bytes | None, int]:
    """The whole request body, or None once it exceeds `limit` bytes; the bytes read."""
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return b"", size
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None, size
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks), size


def _too_large(size: str) -> ErrorResponse:
    """The 413's answer; `size` as far as it is known (declared, or read past the limit)."""
    return one_error(
        f"body exceeds {MAX_BODY_BYTES} bytes; send at most {MAX_BATCH_SIZE} flights",
        "<body>",
        f"{size} bytes, over the limit of {MAX_BODY_BYTES} bytes ({MAX_BATCH_SIZE} flights "
        "at most per request)",
    )


class StrictRequests:
    """Answers every malformed `POST path` itself (see module docstring); `request` is the
    served model's request schema."""

    def __init__(self, app: ASGIApp, *, path: str, request: type[PredictRequest]) -> None:
        self.app = app
        self.path = path
        self.request = request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
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
            got = repr(media_type) if media_type else "none"
            error = f"Content-Type must be application/json, got {got}"
            reason = f"got {got}, expected application/json"
            return self._reject(415, one_error(error, "Content-Type", reason)), b""
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return self._reject(413, _too_large(declared)), b""
        body, size = await _read_body(receive, MAX_BODY_BYTES)
        if body is None:
            return self._reject(413, _too_large(f"at least {size}")), b""
        try:
            scope[_VALIDATED] = self.request.model_validate_json(body)
        except ValidationError as exc:
            syntax = any(e["type"] == "json_invalid" for e in exc.errors())
            return self._reject(400 if syntax else 422, describe(exc)), body
        scope[_BODY] = body
        return None, body

    def _reject(self, status: int, problem: ErrorResponse) -> Response:
        count_rejection(status)
        reasons = "; ".join(f"{e.field}: {e.reason}" for e in problem.errors)
        more = problem.error_count - len(problem.errors)
        suffix = f" (+{more} more)" if more > 0 else ""
        log.warning(
            "rejected POST %s (%d): %s%s", self.path, status, reasons.replace("\n", " "), suffix
        )
        return Response(
            problem.model_dump_json(), status_code=status, media_type="application/json"
        )
