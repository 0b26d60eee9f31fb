"""Bearer-token auth for every route but `/health` and `/ready`.

Routes declare what they need with `dependencies=[RequireRead]` (or `RequireAdmin`); the
websocket calls `websocket_scope_ok`. No token or an unknown/revoked one gives 401 with
`WWW-Authenticate: Bearer`; a valid token without the scope gives 403. Tokens are looked up
by SHA-256 (`streams.storage.tokens`) and the answer is cached in the process for
`NAUTILUS_API_TOKEN_CACHE_MS` (default 5 s), so a revocation takes effect within that time
and a busy route does not pay a database round trip per request.
"""

from __future__ import annotations

import math
import time
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, WebSocket, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from api.deps import SettingsDep, get_database
from api.models import ErrorBody
from streams.settings import Settings
from streams.storage.tokens import (
    TOKEN_PREFIX,
    Scope,
    active_scope,
    scope_allows,
    token_sha256,
)

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer nst_...`")
CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
_CACHE_MAX_ENTRIES = 10_000


async def token_scope(connection: HTTPConnection, token: str, settings: Settings) -> Scope | None:
    """The scope of an active token (None if unknown, revoked or expired), cached per process for
    NAUTILUS_API_TOKEN_CACHE_MS; only a miss takes a database connection."""
    cache: dict[str, tuple[Scope | None, float]] = connection.app.state.token_cache
    key = token_sha256(token)
    now = time.monotonic()
    hit = cache.get(key)
    if hit is not None and hit[1] > now:
        return hit[0]
    database = await get_database(connection, settings)
    async with database.connection() as conn:
        scope = await active_scope(conn, token)
    if len(cache) >= _CACHE_MAX_ENTRIES:
        cache.clear()
    cache[key] = (scope, now + settings.api_token_cache_ms / 1000)
    return scope


def require_scope(required: Scope):  # noqa: ANN201 - a FastAPI dependency callable
    """A dependency that lets the request through only with a token granting `required`."""

    async def check(request: Request, credentials: CredentialsDep, settings: SettingsDep) -> Scope:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise _unauthorized("a bearer token is required")
        scope = await token_scope(request, credentials.credentials, settings)
        if scope is None:
            raise _unauthorized("the token is unknown, revoked or expired")
        _take_rate(request, token_sha256(credentials.credentials), settings)
        if not scope_allows(scope, required):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {required!r} scope")
        return scope

    return check


def _take_rate(request: Request, key: str, settings: Settings) -> None:
    """One request of the token's budget: a token bucket per token and process of
    NAUTILUS_API_RATE_PER_S, holding up to NAUTILUS_API_RATE_BURST (0 per second: no limit);
    429 with Retry-After (whole seconds until a request is allowed) when it is empty."""
    rate = settings.api_rate_per_s
    if rate <= 0:
        return
    buckets: dict[str, tuple[float, float]] = request.app.state.rate_buckets
    now = time.monotonic()
    level, last = buckets.get(key, (float(settings.api_rate_burst), now))
    level = min(float(settings.api_rate_burst), level + (now - last) * rate)
    if level < 1:
        buckets[key] = (level, now)
        retry_after = math.ceil((1 - level) / rate)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit: {rate:g} requests/s per token, bursts of {settings.api_rate_burst} "
            f"(NAUTILUS_API_RATE_PER_S, NAUTILUS_API_RATE_BURST); retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)})
    if len(buckets) >= _CACHE_MAX_ENTRIES and key not in buckets:
        buckets.clear()
    buckets[key] = (level - 1, now)


RequireRead = Depends(require_scope("read"))
# What every route behind RequireRead / RequireAdmin may answer besides its own responses
# (tokens are checked against the database, so each of them may also answer 503).
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_401_UNAUTHORIZED: {
        "model": ErrorBody,
        "description": "no bearer token, or one that is unknown, revoked or expired "
                       "(`WWW-Authenticate: Bearer`)"},
    status.HTTP_403_FORBIDDEN: {
        "model": ErrorBody, "description": "the token's scope does not reach this route"},
    status.HTTP_429_TOO_MANY_REQUESTS: {
        "model": ErrorBody, "description": "the token's request rate is over its limit",
        "headers": {"Retry-After": {
            "description": "whole seconds until the token may send a request again",
            "schema": {"type": "integer", "minimum": 1}}}},
    status.HTTP_503_SERVICE_UNAVAILABLE: {
        "model": ErrorBody, "description": "the database (where tokens and data are read) or "
                                           "the broker is down or not configured"},
}
RequireAdmin = Depends(require_scope("admin"))


async def token_issuer(credentials: CredentialsDep) -> str:
    """Who issues a request, for audit trails: `api token <token_id>` (the id `token list`
    shows; a token is `nst_<token_id>_<secret>`). Use behind RequireRead or RequireAdmin,
    which have checked the token."""
    token = credentials.credentials if credentials is not None else ""
    return f"api token {token.removeprefix(TOKEN_PREFIX).partition('_')[0] or 'unknown'}"


IssuerDep = Annotated[str, Depends(token_issuer)]


async def websocket_scope_ok(websocket: WebSocket, required: Scope, settings: Settings) -> bool:
    """Whether a websocket's token grants `required`.

    Browsers cannot set headers on a websocket, so the token may also come as `?token=`.
    """
    header = websocket.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        token = websocket.query_params.get("token", "")
    if not token:
        return False
    scope = await token_scope(websocket, token.strip(), settings)
    return scope is not None and scope_allows(scope, required)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )
