"""`/api/v1/vpin`, `/api/v1/vpin/latest`, `/api/v1/microstructure`, `/api/v1/alerts`: what the
engines concluded. See api/params.py for time formats and cursor pagination."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status

from api.auth import AUTH_RESPONSES, RequireRead
from api.deps import ConnectionDep, SettingsDep, get_database
from api.models import (
    AlertPublic,
    MicrostructurePublic,
    Page,
    VpinLatest,
    VpinReadingPublic,
    example_of,
    ok,
)
from api.params import (
    DEFAULT_LIMIT,
    NOT_FOUND,
    FromParam,
    LimitParam,
    OptionalSymbolParam,
    SymbolParam,
    ToParam,
    cursor_query,
    cursor_time,
    decode_cursor,
    examples,
    micros,
    page_of,
    require_symbol,
    time_range,
)
from api.queries import logic
from streams import endpoints
from streams.settings import Settings

router = APIRouter(prefix="/api/v1", dependencies=[RequireRead], responses=AUTH_RESPONSES)
VpinCursor = Annotated[str | None, cursor_query(example_of(VpinReadingPublic)["bucket"])]
MicrostructureCursor = Annotated[str | None, cursor_query()]
_ALERT = example_of(AlertPublic)
AlertCursor = Annotated[str | None, cursor_query(_ALERT["alert_id"], _ALERT["state"])]


@router.get("/vpin/latest", response_model=VpinLatest, responses={**ok(VpinLatest), **NOT_FOUND},
            tags=["vpin"])
async def vpin_latest(
    request: Request, settings: SettingsDep, symbol: OptionalSymbolParam = None,
) -> Response:
    """The newest reading of every symbol, or of one, by event time (a restarted run's
    bucket 3 is newer than an earlier run's bucket 80). An answer is reused for
    NAUTILUS_API_LATEST_CACHE_MS (default 250 ms): dashboards poll this route, readings
    arrive once per completed bucket."""
    # (database, symbol) -> (when the answer was made, its JSON)
    cache: dict[tuple[str, str | None], tuple[float, bytes]] = request.app.state.latest_cache
    key = (endpoints.database_url(settings), symbol)
    hit = cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < settings.api_latest_cache_ms / 1000:
        return Response(hit[1], media_type="application/json")
    # On a miss, one query answers every request that misses meanwhile (no stampede of
    # identical queries each time the answer expires under load).
    pending: dict[tuple[str, str | None], asyncio.Future[bytes]] = \
        request.app.state.latest_pending
    answer = pending.get(key)
    if answer is None:
        answer = pending[key] = asyncio.ensure_future(_latest_answer(request, settings, symbol))
        answer.add_done_callback(lambda _: pending.pop(key, None))
    body = await asyncio.shield(answer)  # a client that goes away does not cancel the others'
    cache[key] = (time.monotonic(), body)
    return Response(body, media_type="application/json")


async def _latest_answer(request: Request, settings: Settings, symbol: str | None) -> bytes:
    database = await get_database(request, settings)
    async with database.connection() as conn:
        rows = await logic.vpin_latest(conn, symbol)
    if symbol is not None and not rows:  # not cached: only symbols with readings are
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no VPIN readings for {symbol!r}")
    return VpinLatest.model_validate({"data": rows}).model_dump_json().encode()


@router.get("/vpin", response_model=Page[VpinReadingPublic],
            responses={**ok(Page[VpinReadingPublic]), **NOT_FOUND}, tags=["vpin"])
async def vpin_series(
    conn: ConnectionDep, symbol: SymbolParam, start: FromParam = None, end: ToParam = None,
    limit: LimitParam = DEFAULT_LIMIT, cursor: VpinCursor = None,
) -> Page[VpinReadingPublic]:
    """VPIN readings of one symbol in event-time order, the bucket breaking ties (one bar
    can complete several buckets). Several runs of the log in one database follow each
    other by time, each numbering its buckets from 1."""
    lo, hi = time_range(start, end)
    key = decode_cursor(cursor, (int, int))
    await require_symbol(conn, symbol)
    after = (cursor_time(key[0]), key[1]) if key else None
    rows = await logic.vpin_series(conn, symbol, lo, hi, after, limit + 1)
    return page_of(VpinReadingPublic, rows, limit, lambda r: [micros(r["time"]), r["bucket"]])


@router.get("/microstructure", response_model=Page[MicrostructurePublic],
            responses={**ok(Page[MicrostructurePublic]), **NOT_FOUND}, tags=["microstructure"])
async def microstructure(
    conn: ConnectionDep, symbol: SymbolParam, start: FromParam = None, end: ToParam = None,
    limit: LimitParam = DEFAULT_LIMIT, cursor: MicrostructureCursor = None,
) -> Page[MicrostructurePublic]:
    """Order-book features of one symbol in time order."""
    lo, hi = time_range(start, end)
    key = decode_cursor(cursor, (int,))
    await require_symbol(conn, symbol)
    after = cursor_time(key[0]) if key else None
    rows = await logic.microstructure(conn, symbol, lo, hi, after, limit + 1)
    return page_of(MicrostructurePublic, rows, limit, lambda r: [micros(r["time"])])


@router.get("/alerts", response_model=Page[AlertPublic],
            responses={**ok(Page[AlertPublic]), **NOT_FOUND}, tags=["alerts"])
async def list_alerts(
    conn: ConnectionDep, symbol: OptionalSymbolParam = None,
    severity: Annotated[Literal["info", "warning", "critical"] | None, Query(
        description="one severity; all when absent",
        openapi_examples=examples(warning="warning", critical="critical"))] = None,
    start: FromParam = None, end: ToParam = None,
    limit: LimitParam = DEFAULT_LIMIT, cursor: AlertCursor = None,
) -> Page[AlertPublic]:
    """Alert transitions (raised, cleared) in time order, optionally for one symbol or
    severity."""
    lo, hi = time_range(start, end)
    key = decode_cursor(cursor, (int, str, str))
    if symbol is not None:
        await require_symbol(conn, symbol)
    after = (cursor_time(key[0]), key[1], key[2]) if key else None
    rows = await logic.alerts(conn, symbol, severity, lo, hi, after, limit + 1)
    return page_of(
        AlertPublic, rows, limit, lambda r: [micros(r["time"]), r["alert_id"], r["state"]]
    )
