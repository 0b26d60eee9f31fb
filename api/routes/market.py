"""`/api/v1/symbols`, `/api/v1/trades`, `/api/v1/bars`: what the market did.

See api/params.py for time formats, `from`/`to` semantics and cursor pagination.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.auth import AUTH_RESPONSES, RequireRead
from api.deps import ConnectionDep
from api.models import (
    BarPublic,
    Page,
    SymbolPublic,
    SymbolsPublic,
    TradePublic,
    example_of,
    ok,
)
from api.params import (
    DEFAULT_LIMIT,
    NOT_FOUND,
    FromParam,
    LimitParam,
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
from api.queries import market

router = APIRouter(prefix="/api/v1", dependencies=[RequireRead], responses=AUTH_RESPONSES)
# a trade's trade_uid is its venue trade id where it has one
TradeCursor = Annotated[str | None, cursor_query(example_of(TradePublic)["trade_id"])]
BarCursor = Annotated[str | None, cursor_query()]


@router.get("/symbols", response_model=SymbolsPublic, responses=ok(SymbolsPublic),
            tags=["market"])
async def list_symbols(conn: ConnectionDep) -> SymbolsPublic:
    """Every symbol the database holds data for, and which kinds."""
    found = await market.symbols(conn)
    data = [SymbolPublic(symbol=s, kinds=k) for s, k in found.items()]  # type: ignore[arg-type]
    return SymbolsPublic(data=data, count=len(data))


@router.get("/trades", response_model=Page[TradePublic],
            responses={**ok(Page[TradePublic]), **NOT_FOUND}, tags=["market"])
async def list_trades(
    conn: ConnectionDep, symbol: SymbolParam, start: FromParam = None, end: ToParam = None,
    limit: LimitParam = DEFAULT_LIMIT, cursor: TradeCursor = None,
) -> Page[TradePublic]:
    """Trades of one symbol in time order."""
    lo, hi = time_range(start, end)
    key = decode_cursor(cursor, (int, str))
    await require_symbol(conn, symbol)
    after = (cursor_time(key[0]), key[1]) if key else None
    rows = await market.trades(conn, symbol, lo, hi, after, limit + 1)
    return page_of(TradePublic, rows, limit, lambda r: [micros(r["time"]), r["trade_uid"]])


@router.get("/bars", response_model=Page[BarPublic],
            responses={**ok(Page[BarPublic]), **NOT_FOUND}, tags=["market"])
async def list_bars(
    conn: ConnectionDep, symbol: SymbolParam, start: FromParam = None, end: ToParam = None,
    interval: Literal["1m", "5m", "1h", "1d"] = Query(
        "1m", description="bar length",
        openapi_examples=examples(one_minute="1m", five_minutes="5m", one_day="1d")),
    limit: LimitParam = DEFAULT_LIMIT, cursor: BarCursor = None,
) -> Page[BarPublic]:
    """OHLCV bars of one symbol by start time; 5m, 1h and 1d are rolled up from 1m bars
    (UTC buckets aligned to the epoch; a day starts at UTC midnight)."""
    lo, hi = time_range(start, end)
    key = decode_cursor(cursor, (int,))
    await require_symbol(conn, symbol)
    after = cursor_time(key[0]) if key else None
    rows = await market.bars(conn, symbol, interval, lo, hi, after, limit + 1)
    for row in rows:
        row["interval"] = interval
    return page_of(BarPublic, rows, limit, lambda r: [micros(r["time"])])
