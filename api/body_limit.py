"""The request body limit, NAUTILUS_API_MAX_BODY_BYTES: 413 above it, as JSON (`ErrorBody`).

A body declared larger (`Content-Length`) is refused before the app runs and before a byte
of it is read; a streamed one (chunked) when what was read passes the limit, through the
app's HTTPException handler. Both answers are the same JSON `{"detail": ...}` as every other
error, with the secure headers (api/security.py). FastAPI's own `max_body_size` answered the
declared case in plain text, from outside every middleware.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.models import ErrorBody

# What a route that reads a body may answer besides its own responses
BODY_TOO_LARGE: dict[int | str, dict[str, Any]] = {status.HTTP_413_CONTENT_TOO_LARGE: {
    "model": ErrorBody,
    "description": "the body is over NAUTILUS_API_MAX_BODY_BYTES (64 KiB unless configured), "
                   "declared or streamed"}}


def too_large_detail(max_body_bytes: int) -> str:
    """The 413 answer's `detail`."""
    return (f"the request body is over {max_body_bytes} bytes "
            "(NAUTILUS_API_MAX_BODY_BYTES)")


class BodyLimit:
    """ASGI middleware refusing HTTP request bodies over `max_body_bytes` with a JSON 413."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.detail = too_large_detail(max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.max_body_bytes:
            response = JSONResponse({"detail": self.detail},
                                    status_code=status.HTTP_413_CONTENT_TOO_LARGE)
            await response(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, self.detail)
            return message

        await self.app(scope, receive_within_limit, send)


def _declared_length(scope: Scope) -> int:
    """The request's Content-Length; 0 without one (a chunked body, which
    `receive_within_limit` counts) or with one that is not a number (the server refuses it)."""
    value = Headers(scope=scope).get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else 0
