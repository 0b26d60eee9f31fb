"""`/api/v1/fundamentals/{symbol}`: the figures a company reported (market.fundamentals), as
they were known at an instant.

Each figure (a `field` of a fiscal period) may be stated again by a later filing (a
restatement); `as_of` answers what a backtest could have seen then. See api/params.py for
`from` / `to`, `as_of` and cursor pagination.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import StringConstraints

from api.auth import AUTH_RESPONSES, RequireRead
from api.deps import ConnectionDep
from api.models import NO_NUL, FundamentalPublic, Page, example_of, ok
from api.params import (
    DEFAULT_LIMIT,
    AsOfParam,
    DateFromParam,
    DateToParam,
    LimitParam,
    cursor_date,
    date_range,
    decode_cursor,
    examples,
    keyed_cursor_query,
    not_stored,
    page_of,
    parse_as_of,
    source_query,
)
from api.queries import fundamentals, market
from streams.schema.base import SYMBOL_PATTERN

router = APIRouter(prefix="/api/v1", dependencies=[RequireRead], responses=AUTH_RESPONSES,
                   tags=["fundamentals"])

UNKNOWN_SYMBOL = not_stored("no figure of the symbol is stored")

SymbolPath = Annotated[str, Path(
    pattern=SYMBOL_PATTERN, description="the company's ticker",
    openapi_examples=examples(stock="AAPL"))]
SourceParam = Annotated[str | None, source_query(
    "only the figures of this source", edgar="edgar", alphavantage="alphavantage")]
FieldsParam = Annotated[list[Annotated[str, StringConstraints(max_length=1_000,
                                                              pattern=NO_NUL)]] | None, Query(
    description="only these fields: repeat it (`field=revenue&field=assets`) or list them "
                "(`field=revenue,assets`); absent or empty: every field",
    openapi_examples=examples(one=["revenue"], two=["revenue", "net_income"],
                              listed=["revenue,assets"]))]
_EXAMPLE = example_of(FundamentalPublic)
FundamentalsCursor = Annotated[str | None, keyed_cursor_query(
    _EXAMPLE["field"], _EXAMPLE["period_end"], _EXAMPLE["period"], _EXAMPLE["source"])]


@router.get("/fundamentals/{symbol:path}", response_model=Page[FundamentalPublic],
            responses={**ok(Page[FundamentalPublic]), **UNKNOWN_SYMBOL})
async def company_fundamentals(
    conn: ConnectionDep, symbol: SymbolPath, field: FieldsParam = None,
    source: SourceParam = None, start: DateFromParam = None, end: DateToParam = None,
    as_of: AsOfParam = None, limit: LimitParam = DEFAULT_LIMIT,
    cursor: FundamentalsCursor = None,
) -> Page[FundamentalPublic]:
    """The symbol's figures by field, period end, period and source (`from` / `to` bound the
    period end): for each of them the one stated by the latest filing known at `as_of`
    (a restatement replaces what the earlier filing said from the day it was filed on);
    without `as_of`, the latest filing stored. 404 when no figure of the symbol is
    stored."""
    lo, hi = date_range(start, end)
    as_of_ns = parse_as_of(as_of)
    key = decode_cursor(cursor, (str, str, str, str))
    after = (key[0], cursor_date(key[1]), key[2], key[3]) if key else None
    names = [name for given in field or () for part in given.split(",")
             if (name := part.strip())]
    rows = await fundamentals.figures(conn, symbol, source, names, lo, hi, as_of_ns, after,
                                      limit + 1)
    if not rows and not await market.symbol_in(conn, ["fundamentals"], symbol):
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"unknown symbol {symbol!r}: no fundamentals of it are stored")
    return page_of(FundamentalPublic, rows, limit, lambda r: [
        r["field"], r["period_end"].isoformat(), r["period"], r["source"]])
