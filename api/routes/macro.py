"""`/api/v1/macro`, `/api/v1/macro/{series}`: macro series (market.macro) and their
observations as they were known at an instant, or every vintage of them.

A series is the source's own id (FRED's `DGS10`, DBnomics' `provider/dataset/series`, slashes
and all). Each observation (a `date`) may have several vintages (`realtime_start`, as
FRED/ALFRED date them); `as_of` answers what a backtest could have seen then. See
api/params.py for `from` / `to`, `as_of` and cursor pagination.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status

from api.auth import AUTH_RESPONSES, RequireRead
from api.deps import ConnectionDep
from api.models import (
    NO_NUL,
    ErrorBody,
    MacroObservationPublic,
    MacroSeriesListPublic,
    MacroSeriesPublic,
    Page,
    example_of,
    ok,
)
from api.params import (
    DEFAULT_LIMIT,
    AsOfParam,
    DateFromParam,
    DateToParam,
    LimitParam,
    cursor_date,
    cursor_time,
    date_range,
    decode_cursor,
    examples,
    keyed_cursor_query,
    micros,
    page_of,
    parse_as_of,
    source_query,
)
from api.queries import macro

router = APIRouter(prefix="/api/v1", dependencies=[RequireRead], responses=AUTH_RESPONSES,
                   tags=["macro"])

UNKNOWN_SERIES: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"model": ErrorBody,
                                "description": "no observation of the series (of `source`, "
                                               "when given) is stored"},
    status.HTTP_409_CONFLICT: {"model": ErrorBody,
                               "description": "the series id is stored under several sources "
                                              "and no `source` says which (the body names "
                                              "them)"},
}

SeriesPath = Annotated[str, Path(
    min_length=1, max_length=200, pattern=NO_NUL,
    description="the source's id of the series; may hold slashes (DBnomics)",
    openapi_examples=examples(fred="DGS10", dbnomics="AMECO/ZUTN/EA19.1.0.0.0.ZUTN"))]
SourceParam = Annotated[str | None, source_query(
    "the series' source; needed only where its id is stored under more than one",
    fred="fred", dbnomics="dbnomics")]
VintagesParam = Annotated[bool, Query(
    description="every vintage known at `as_of` (by date, then realtime_start), not only "
                "the newest of each date",
    openapi_examples=examples(newest=False, every_vintage=True))]
_EXAMPLE = example_of(MacroObservationPublic)
MacroCursor = Annotated[str | None, keyed_cursor_query(
    _EXAMPLE["date"], _EXAMPLE["realtime_start"], 1_704_240_000_000_000)]


@router.get("/macro", response_model=MacroSeriesListPublic, responses=ok(MacroSeriesListPublic))
async def list_macro_series(conn: ConnectionDep) -> MacroSeriesListPublic:
    """Every stored macro series by source and id: its unit, first and last observation
    date, and its newest vintage."""
    data = [MacroSeriesPublic.model_validate(row) for row in await macro.series_list(conn)]
    return MacroSeriesListPublic(data=data, count=len(data))


@router.get("/macro/{series:path}", response_model=Page[MacroObservationPublic],
            responses={**ok(Page[MacroObservationPublic]), **UNKNOWN_SERIES})
async def macro_observations(
    conn: ConnectionDep, series: SeriesPath, source: SourceParam = None,
    start: DateFromParam = None, end: DateToParam = None, as_of: AsOfParam = None,
    vintages: VintagesParam = False, limit: LimitParam = DEFAULT_LIMIT,
    cursor: MacroCursor = None,
) -> Page[MacroObservationPublic]:
    """Observations of a series by date (`from` / `to` bound the date): for each date the
    vintage known at `as_of` with the latest realtime_start, i.e. what a backtest could have
    seen then (a date that was not published yet is left out); without `as_of`, the newest
    vintage stored. `vintages=true` lists every vintage known at `as_of` instead. 404 for a
    series not stored; 409 when its id is stored under several sources and `source` is
    not given."""
    lo, hi = date_range(start, end)
    as_of_ns = parse_as_of(as_of)
    key = decode_cursor(cursor, (str, str, int))
    after = (cursor_date(key[0]), cursor_date(key[1]), cursor_time(key[2])) if key else None
    chosen = await _source_of(conn, series, source)
    rows = await macro.observations(conn, chosen, series, lo, hi, as_of_ns, vintages, after,
                                    limit + 1)
    return page_of(MacroObservationPublic, rows, limit, lambda r: [
        r["date"].isoformat(), r["realtime_start"].isoformat(), micros(r["time"])])


async def _source_of(conn: ConnectionDep, series: str, source: str | None) -> str:
    """The source to read `series` of: `source` where given, else the only one it has;
    404 when it has none (or not `source`), 409 when it has several and none is named."""
    sources = await macro.sources_of(conn, series)
    if source is not None and source in sources:
        return source
    stored_under = f" (it is stored under {', '.join(sources)})" if sources else ""
    if source is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"no macro series {series!r} of source {source!r}{stored_under}")
    if not sources:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown macro series {series!r}")
    if len(sources) > 1:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"macro series {series!r} is stored under several sources "
                            f"({', '.join(sources)}): name one with `source`")
    return sources[0]
