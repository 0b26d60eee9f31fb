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

Both endpoints page with limit/offset up to the response's `count`; a malformed page, a count
that changes between pages, pages that repeat rows or fall short of the count are a
PayloadError: the caller then publishes nothing of the series.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
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

PageT = TypeVar("PageT", bound="_CountedPage")


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

    def observations(self, series: str, since: dt.date | None) -> list[Observation]:
        """Every real-time period of every observation of `series` (periods from `since`
        on), each starting the day its value was first known, by date then vintage."""
        rows: list[Observation] = []
        open_at_boundary: dict[dt.date, str] = {}  # date -> value, of rows reaching the cut
        for start, end in self.windows(self.vintage_dates(series)):
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

    def vintage_dates(self, series: str) -> list[dt.date]:
        """The days the series was revised or released, oldest first."""
        return self._all_pages(_VintageDatesPage, "series/vintagedates", series, {
            "realtime_start": FIRST_REALTIME.isoformat(),
            "realtime_end": LAST_REALTIME.isoformat(), "sort_order": "asc",
        }, MAX_VINTAGE_PAGE_SIZE)

    def windows(self, vintages: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
        """Real-time windows covering all time, each spanning at most
        `vintages_per_request` of `vintages`."""
        cuts = vintages[self._vintages_per_request::self._vintages_per_request]
        starts = [FIRST_REALTIME, *cuts]
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
