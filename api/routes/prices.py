"""`/api/v1/prices/{symbol}`: a symbol's daily prices (market.prices.1d) as they were known
at an instant, with the closes adjusted for the dividends and splits known then.

A vendor may correct a day later (a record of its own, a later time); `as_of` answers what a
backtest could have seen then, adjusted closes included: they are computed from the days
known at `as_of` (api/queries/prices.py), never stored. See api/params.py for `from` / `to`,
`as_of` and cursor pagination.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, status

from api.auth import AUTH_RESPONSES, RequireRead
from api.deps import ConnectionDep
from api.models import DailyPricePublic, Page, example_of, ok
from api.params import (
    DEFAULT_LIMIT,
    AsOfParam,
    DateFromParam,
    DateToParam,
    LimitParam,
    cursor_date,
    date_range,
    decode_cursor,
    keyed_cursor_query,
    not_stored,
    page_of,
    parse_as_of,
    source_query,
)
from api.queries import market, prices
from api.routes.fundamentals import SymbolPath

router = APIRouter(prefix="/api/v1", dependencies=[RequireRead], responses=AUTH_RESPONSES,
                   tags=["prices"])

UNKNOWN_SYMBOL = not_stored("no price of the symbol is stored")

SourceParam = Annotated[str | None, source_query("only the days of this vendor",
                                                  alphavantage="alphavantage")]
_EXAMPLE = example_of(DailyPricePublic)
PricesCursor = Annotated[str | None, keyed_cursor_query(_EXAMPLE["date"], _EXAMPLE["source"])]


@router.get("/prices/{symbol:path}", response_model=Page[DailyPricePublic],
            responses={**ok(Page[DailyPricePublic]), **UNKNOWN_SYMBOL})
async def daily_prices(
    conn: ConnectionDep, symbol: SymbolPath, source: SourceParam = None,
    start: DateFromParam = None, end: DateToParam = None, as_of: AsOfParam = None,
    limit: LimitParam = DEFAULT_LIMIT, cursor: PricesCursor = None,
) -> Page[DailyPricePublic]:
    """The symbol's days by date and source (`from` / `to` bound the date), unadjusted: for
    each the record known at `as_of` with the latest time (a correction replaces the day
    from its time on); without `as_of`, the latest stored. `adjusted_close` is the close
    adjusted (CRSP) for the dividends and splits of the source's later days known at
    `as_of`, up to the latest of them whatever `to` says: the vendor's adjusted series as
    of that instant, the same on every page; null where one of those days' actions is
    unknown. 404 when no price of the symbol is stored."""
    lo, hi = date_range(start, end)
    as_of_ns = parse_as_of(as_of)
    key = decode_cursor(cursor, (str, str))
    after = (cursor_date(key[0]), key[1]) if key else None
    rows = await prices.days(conn, symbol, source, lo, hi, as_of_ns, after, limit + 1)
    if not rows and not await market.symbol_in(conn, ["daily_prices"], symbol):
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"unknown symbol {symbol!r}: no prices of it are stored")
    return page_of(DailyPricePublic, rows, limit, lambda r: [
        r["date"].isoformat(), r["source"]])
