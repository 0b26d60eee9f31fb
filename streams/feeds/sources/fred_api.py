"""FRED's web API, as `streams.feeds.sources.fred` reads it: every real-time period of every
observation of a series, in FRED's documented JSON (file_type=json).

FRED answers `fred/series/observations` for at most 2000 vintage dates at once ("Bad Request.
There are N vintage dates in the specified real-time period ... This exceeds the maximum
number of vintage dates allowed (2000)"), which daily series in ALFRED exceed. So the series'
vintage dates come first (`fred/series/vintagedates`), and the real-time range is cut into
windows of at most that many, each asked for with output_type=1 ("observations by real-time
period"). FRED clips the real-time periods it returns to the window asked for: a value that
held across a window boundary comes back twice, ending at the boundary and again starting
there with the same value. The second row is the same real-time period and is dropped, so
each (date, realtime_start) is the day the value was first known.

A poll that already holds the series asks only from its newest vintage on (`realtime_from`):
the vintage dates from that day, and windows starting there. The first window also returns
every value still valid that day, its real-time period clipped to start there; those are
values the caller holds (`held`), and skips. Where one is not (a period the caller has no
vintage of, or another value: a gap, say after a poll with `since`), dating it at the cut
would make it late and lose its vintages, so the whole history is read instead.

Both endpoints page with limit/offset up to the response's `count`; a malformed page, a count
that changes between pages, pages that repeat rows or fall short of the count are a
PayloadError: the caller then publishes nothing of the series.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streams.feeds.sources.exceptions import PayloadError
from streams.feeds.sources.http import HttpFetcher, Page, next_offset, paginate

FIRST_REALTIME = dt.date(1776, 7, 4)  # FRED's earliest and latest real-time dates
LAST_REALTIME = dt.date(9999, 12, 31)
MAX_PAGE_SIZE = 100_000  # the largest `limit` of fred/series/observations
MAX_VINTAGE_PAGE_SIZE = 10_000  # the largest `limit` of fred/series/vintagedates
MAX_VINTAGES_PER_REQUEST = 2_000  # vintage dates one observations request may span
ONE_DAY = dt.timedelta(days=1)

MISSING = "."  # FRED's value of an observation it has no number for

PageT = TypeVar("PageT", bound="_CountedPage")
log = logging.getLogger(__name__)


class Observation(BaseModel):
    """One row: the value of the period `date` during one real-time period ("." missing)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    realtime_start: dt.date
    realtime_end: dt.date
    date: dt.date
    value: str


class _CountedPage(BaseModel):
    """A page of a FRED list: `count` items in all, this page's in a field of its own."""

    model_config = ConfigDict(extra="ignore")

    count: int = Field(ge=0)

    def items(self) -> Sequence[object]:
        raise NotImplementedError


class _ObservationsPage(_CountedPage):
    observations: list[Observation]

    def items(self) -> list[Observation]:
        return self.observations


class _VintageDatesPage(_CountedPage):
    vintage_dates: list[dt.date]

    def items(self) -> list[dt.date]:
        return self.vintage_dates


class FredApi:
    """Requests to FRED for one key, through the source's HTTP fetcher."""

    def __init__(self, http: HttpFetcher, url: str, api_key: str, *,
                 page_size: int = MAX_PAGE_SIZE,
                 vintages_per_request: int = MAX_VINTAGES_PER_REQUEST) -> None:
        self._http, self._url, self._key = http, url.rstrip("/"), api_key
        self._page_size, self._vintages_per_request = page_size, vintages_per_request

    def observations(self, series: str, since: dt.date | None, *,
                     realtime_from: dt.date | None = None,
                     held: Mapping[dt.date, float] | None = None) -> list[Observation]:
        """Every real-time period of every observation of `series` (periods from `since`
        on), each starting the day its value was first known, by date then vintage. With
        `realtime_from` (the newest vintage held) and `held` (each period's newest value
        held), only the real-time periods from that day on, unless a value valid that day is
        not held: then all of them."""
        if realtime_from is not None:
            rows = self._observations(series, since, realtime_from)
            if _all_held(rows, realtime_from, held or {}):
                return rows
            log.info("fred series=%s: a value valid on %s is not held, reading every vintage",
                     series, realtime_from)
        return self._observations(series, since, FIRST_REALTIME)

    def _observations(self, series: str, since: dt.date | None,
                      first: dt.date) -> list[Observation]:
        rows: list[Observation] = []
        open_at_boundary: dict[dt.date, str] = {}  # date -> value, of rows reaching the cut
        for start, end in self.windows(self.vintage_dates(series, first), first):
            window = self._all_pages(_ObservationsPage, "series/observations", series, {
                "output_type": "1", "realtime_start": start.isoformat(),
                "realtime_end": end.isoformat(), "sort_order": "asc",
                **({"observation_start": since.isoformat()} if since is not None else {}),
            }, self._page_size)
            _no_repeats(series, window)
            rows += [r for r in window if not (r.realtime_start == start
                                               and open_at_boundary.get(r.date) == r.value)]
            open_at_boundary = {r.date: r.value for r in window if r.realtime_end == end}
        return sorted(rows, key=lambda r: (r.date, r.realtime_start))  # as one window gives

    def vintage_dates(self, series: str, first: dt.date = FIRST_REALTIME) -> list[dt.date]:
        """The days from `first` on that the series was revised or released, oldest first."""
        return self._all_pages(_VintageDatesPage, "series/vintagedates", series, {
            "realtime_start": first.isoformat(),
            "realtime_end": LAST_REALTIME.isoformat(), "sort_order": "asc",
        }, MAX_VINTAGE_PAGE_SIZE)

    def windows(self, vintages: list[dt.date], first: dt.date = FIRST_REALTIME
                ) -> list[tuple[dt.date, dt.date]]:
        """Real-time windows covering `first` to the end of time, each spanning at most
        `vintages_per_request` of `vintages` (those from `first` on)."""
        cuts = vintages[self._vintages_per_request::self._vintages_per_request]
        starts = [first, *cuts]
        return list(zip(starts, [*(c - ONE_DAY for c in cuts), LAST_REALTIME], strict=True))

    def _all_pages(self, model: type[PageT], endpoint: str, series: str,
                   params: dict[str, str], page_size: int) -> list[Any]:
        what = f"FRED {series} {endpoint}"
        count: int | None = None  # the first page's

        def page(offset: int) -> Page[int, object]:
            nonlocal count
            body = self._get(model, endpoint, series, {**params, "limit": str(page_size),
                                                       "offset": str(offset)})
            if count is None:
                count = body.count
            elif body.count != count:
                raise PayloadError(f"{what}: the count changed from {count} to {body.count} "
                                   "between pages (updated meanwhile: poll again)")
            return Page(body.items(), next_offset(offset, len(body.items()), body.count, what))

        items = list(paginate(page, 0))
        if len(items) != count:
            raise PayloadError(f"{what}: {len(items)} received, the count says {count} "
                               "(partial payload)")
        return items

    def _get(self, model: type[PageT], endpoint: str, series: str,
             params: dict[str, str]) -> PageT:
        what = f"FRED {series} {endpoint} (offset {params['offset']})"
        response = self._http.get(f"{self._url}/{endpoint}",
                                  {"series_id": series, "file_type": "json", **params},
                                  secret_params={"api_key": self._key})
        return _validated(model.model_validate, response.json(what), what)


def _all_held(rows: list[Observation], cut: dt.date, held: Mapping[dt.date, float]) -> bool:
    """Whether every number valid on `cut` (a row starting there) is the value held for its
    period."""
    for row in rows:
        if row.realtime_start != cut or row.value.strip() == MISSING:
            continue
        try:
            if held.get(row.date) != float(row.value):
                return False
        except ValueError:
            return False  # the full read reports it
    return True


def _validated(validate: Callable[[object], PageT], document: object, what: str) -> PageT:
    try:
        return validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PayloadError(f"{what}: malformed payload: {where}: {first['msg']}") from None


def _no_repeats(series: str, rows: list[Observation]) -> None:
    if len({(r.date, r.realtime_start) for r in rows}) != len(rows):
        raise PayloadError(f"FRED {series} series/observations: pages repeat observations "
                           "(an offset ignored?), so others are missing")
