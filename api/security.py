"""Response headers every answer of the API carries (OWASP's secure headers for an API).

- `X-Content-Type-Options: nosniff`: a browser takes JSON as JSON, never as a script or page;
- `X-Frame-Options: DENY`: no page of the API (the docs, the dashboard) inside another
  site's frame (clickjacking);
- `Referrer-Policy: no-referrer`: links out of the docs or dashboard leak no URL.

A route that sets one of them itself (the dashboard, with its Content-Security-Policy) keeps
its own value. Request bodies are bounded in api/body_limit.py (NAUTILUS_API_MAX_BODY_BYTES,
413 above it).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """ASGI middleware adding `HEADERS` to every HTTP response that lacks them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
