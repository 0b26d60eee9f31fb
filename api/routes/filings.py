"""`/api/v1/filings/{symbol}`: the filings a company made with the SEC (market.filings),
newest first, as they were known at an instant.

A filing is known from the time EDGAR accepted it on; `as_of` answers which filings a backtest
could have seen then. See api/params.py for `from` / `to`, `as_of` and cursor pagination.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import StringConstraints

from api.auth import AUTH_RESPONSES, RequireRead
from api.deps import ConnectionDep
from api.models import NO_NUL, FilingPublic, Page, example_of, ok
from api.params import (
    DEFAULT_LIMIT,
    AsOfParam,
    DateFromParam,
    DateToParam,
    LimitParam,
    cursor_time,
    date_range,
    decode_cursor,
    examples,
    keyed_cursor_query,
    micros,
    not_stored,
    page_of,
    parse_as_of,
    source_query,
)
from api.queries import filings, market
from api.routes.fundamentals import SymbolPath

router = APIRouter(prefix="/api/v1", dependencies=[RequireRead], responses=AUTH_RESPONSES,
                   tags=["filings"])

UNKNOWN_SYMBOL = not_stored("no filing of the symbol is stored")

SourceParam = Annotated[str | None, source_query("only the filings of this source",
                                                  edgar="edgar")]
FormsParam = Annotated[list[Annotated[str, StringConstraints(max_length=1_000,
                                                             pattern=NO_NUL)]] | None, Query(
    description="only these forms, exactly as EDGAR names them: repeat it "
                "(`form=10-K&form=10-Q`) or list them (`form=10-K,10-Q`); absent or empty: "
                "every form",
    openapi_examples=examples(annual=["10-K"], periodic=["10-K", "10-Q"],
                              listed=["8-K,10-K/A"]))]
_EXAMPLE = example_of(FilingPublic)
FilingsCursor = Annotated[str | None, keyed_cursor_query(
    _EXAMPLE["ts_event"] // 1000, _EXAMPLE["accession"], _EXAMPLE["source"])]


@router.get("/filings/{symbol:path}", response_model=Page[FilingPublic],
            responses={**ok(Page[FilingPublic]), **UNKNOWN_SYMBOL})
async def company_filings(
    conn: ConnectionDep, symbol: SymbolPath, form: FormsParam = None,
    source: SourceParam = None, start: DateFromParam = None, end: DateToParam = None,
    as_of: AsOfParam = None, limit: LimitParam = DEFAULT_LIMIT, cursor: FilingsCursor = None,
) -> Page[FilingPublic]:
    """The symbol's filings newest first: by the time EDGAR accepted them, latest first, then
    by accession number (`from` / `to` bound the day `filed`); only those accepted by
    `as_of`, where given. `url` is the filing's main document on EDGAR. 404 when no filing of
    the symbol is stored."""
    lo, hi = date_range(start, end)
    as_of_ns = parse_as_of(as_of)
    key = decode_cursor(cursor, (int, str, str))
    after = (cursor_time(key[0]), key[1], key[2]) if key else None
    forms = [name for given in form or () for part in given.split(",")
             if (name := part.strip())]
    rows = await filings.filings(conn, symbol, source, forms, lo, hi, as_of_ns, after,
                                 limit + 1)
    if not rows and not await market.symbol_in(conn, ["filings"], symbol):
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"unknown symbol {symbol!r}: no filings of it are stored")
    return page_of(FilingPublic, rows, limit, lambda r: [
        micros(r["time"]), r["accession"], r["source"]])
