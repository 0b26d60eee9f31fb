"""A fake FRED: a real HTTP server on loopback serving `fred/series/observations` and
`fred/series/vintagedates` in FRED's documented JSON format
(https://fred.stlouisfed.org/docs/api/fred/series_observations.html, .../series_vintagedates.html),
built from observations the test adds; no recorded payloads, no real key.

Served: `api_key` checked (FRED's 400 error JSON when missing or unknown), `file_type=json`
required (else XML, FRED's default), `series_id` (400 "The series does not exist." for
another), `observation_start`, `limit`/`offset` pages with `count`. Observations are rows of
`output_type=1`, sorted by date then vintage, for the real-time window asked
(`realtime_start`/`realtime_end`, default today) as FRED gives them: rows whose real-time
period overlaps the window, their periods clipped to it, and a 400 when the window spans more
than `max_vintages` vintage dates (FRED: 2000). The vintage dates are the days rows start.
Each 200 carries an `ETag` of its body and a matching `If-None-Match` gets a 304.

Faults: `fail_next(status, retry_after=...)` answers the next requests with that status;
`tamper[series] = fn` rewrites an observations page's JSON document (a dict) or replaces it
(bytes) before it is sent. `requests` records every request's path, query (the key included)
and headers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from tests.streams.feeds.sources.loopback import Answer, LoopbackFake, Request

API_KEY = "0123456789abcdef0123456789abcdef"  # made up: FRED keys are 32 lower-case alnum
OPEN_END = "9999-12-31"
OBSERVATIONS = "/fred/series/observations"
VINTAGE_DATES = "/fred/series/vintagedates"


@dataclass
class _Fault:
    status: int
    retry_after: str | None


@dataclass
class FakeFred(LoopbackFake):
    rows: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    tamper: dict[str, Callable[[dict], dict | bytes]] = field(default_factory=dict)
    max_vintages: int = 2_000
    _faults: deque[_Fault] = field(default_factory=deque)

    def add(self, series: str, date: str, value: str, realtime_start: str,
            realtime_end: str = OPEN_END) -> None:
        """An observation: `value` of the period `date` as known from `realtime_start`."""
        self.rows.setdefault(series, []).append({"realtime_start": realtime_start,
                                                 "realtime_end": realtime_end,
                                                 "date": date, "value": value})

    def revise(self, series: str, date: str, value: str, on: str, last_day_before: str) -> None:
        """A new vintage of `date` from `on`; the current one then ended `last_day_before`."""
        for row in self.rows[series]:
            if row["date"] == date and row["realtime_end"] == OPEN_END:
                row["realtime_end"] = last_day_before
        self.add(series, date, value, on)

    def fail_next(self, status: int, *, retry_after: str | None = None, times: int = 1) -> None:
        self._faults.extend(_Fault(status, retry_after) for _ in range(times))

    @property
    def url(self) -> str:
        return f"{super().url}/fred"

    def _serve(self, request: Request) -> Answer:
        params = request.params
        if self._faults:
            fault = self._faults.popleft()
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return Answer(fault.status, b'{"error_code": %d}' % fault.status, headers)
        if request.path not in (OBSERVATIONS, VINTAGE_DATES):
            asked = f"{request.path}?{urlencode(params)}"  # echoes the query, key included
            return Answer(404, f"Not Found: {asked}".encode(), {})
        if params.get("api_key") != API_KEY:
            return _error("The value for variable api_key is not registered.  Read "
                          "https://fred.stlouisfed.org/docs/api/api_key.html for more "
                          "information.")
        if params.get("file_type") != "json":
            return Answer(200, b"<?xml version='1.0'?><observations/>", {})  # FRED's default
        if params.get("series_id") not in self.rows:
            return _error("The series does not exist.")
        if request.path == VINTAGE_DATES:
            return self._vintage_dates(request)
        return self._observations(request)

    def vintages(self, series: str) -> list[str]:
        return sorted({r["realtime_start"] for r in self.rows[series]})

    def _vintage_dates(self, request: Request) -> Answer:
        params = request.params
        start, end = _window(params)
        vintages = [v for v in self.vintages(params["series_id"]) if start <= v <= end]
        offset, limit = int(params.get("offset", 0)), int(params.get("limit", 10_000))
        return _json(request, {
            "realtime_start": start, "realtime_end": end, "order_by": "vintage_date",
            "sort_order": "asc", "count": len(vintages), "offset": offset, "limit": limit,
            "vintage_dates": vintages[offset:offset + limit]})

    def _observations(self, request: Request) -> Answer:
        params = request.params
        series = params["series_id"]
        start, end = _window(params)
        spanned = [v for v in self.vintages(series) if start <= v <= end]
        if len(spanned) > self.max_vintages:
            return _error(f"There are {len(spanned)} vintage dates in the specified "
                          f"real-time period: {start} to {end}.  This exceeds the maximum "
                          f"number of vintage dates allowed ({self.max_vintages}).")
        since = params.get("observation_start", "1776-07-04")
        rows = sorted(({**r, "realtime_start": max(r["realtime_start"], start),
                        "realtime_end": min(r["realtime_end"], end)}
                       for r in self.rows[series]
                       if r["date"] >= since and r["realtime_start"] <= end
                       and r["realtime_end"] >= start),
                      key=lambda r: (r["date"], r["realtime_start"]))
        offset, limit = int(params.get("offset", 0)), int(params.get("limit", 100_000))
        doc: dict | bytes = {
            "realtime_start": start, "realtime_end": end, "observation_start": since,
            "observation_end": OPEN_END, "units": "lin",
            "output_type": int(params.get("output_type", 1)), "file_type": "json",
            "order_by": "observation_date", "sort_order": "asc", "count": len(rows),
            "offset": offset, "limit": limit, "observations": rows[offset:offset + limit],
        }
        if series in self.tamper:
            doc = self.tamper[series](doc)
        return _json(request, doc)


def _json(request: Request, doc: dict | bytes) -> Answer:
    body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
    if request.headers.get("if-none-match") == etag:
        return Answer(304, b"", {"ETag": etag})
    return Answer(200, body, {"ETag": etag, "Content-Type": "application/json"})


def _window(params: dict[str, str]) -> tuple[str, str]:
    today = dt.date.today().isoformat()  # FRED's default real-time window: today
    return params.get("realtime_start", today), params.get("realtime_end", today)


def _error(message: str) -> Answer:
    """FRED's error document, as it answers a bad request."""
    body = json.dumps({"error_code": 400, "error_message": f"Bad Request.  {message}"})
    return Answer(400, body.encode(), {"Content-Type": "application/json"})
