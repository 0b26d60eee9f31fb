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
(bytes) before it is sent. `requests` records every request's path, query (the key left out),
`If-None-Match` and `User-Agent`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

API_KEY = "0123456789abcdef0123456789abcdef"  # made up: FRED keys are 32 lower-case alnum
OPEN_END = "9999-12-31"
OBSERVATIONS = "/fred/series/observations"
VINTAGE_DATES = "/fred/series/vintagedates"


@dataclass
class _Fault:
    status: int
    retry_after: str | None


@dataclass
class Request:
    path: str
    params: dict[str, str]
    if_none_match: str | None
    user_agent: str | None


@dataclass
class FakeFred:
    rows: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    tamper: dict[str, Callable[[dict], dict | bytes]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
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

    def __enter__(self) -> FakeFred:
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                fake._serve(self)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/fred"

    def _serve(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        parsed = urlparse(handler.path)
        params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        key = params.pop("api_key", None)
        self.requests.append(Request(parsed.path, params, handler.headers.get("If-None-Match"),
                                     handler.headers.get("User-Agent")))
        if self._faults:
            fault = self._faults.popleft()
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            _send(handler, fault.status, b'{"error_code": %d}' % fault.status, headers)
            return
        if parsed.path not in (OBSERVATIONS, VINTAGE_DATES):
            _send(handler, 404, f"Not Found: {handler.path}".encode())  # echoes the query
        elif key != API_KEY:
            _error(handler, "The value for variable api_key is not registered.  Read "
                   "https://fred.stlouisfed.org/docs/api/api_key.html for more information.")
        elif params.get("file_type") != "json":
            _send(handler, 200, b"<?xml version='1.0'?><observations/>")  # FRED's default: XML
        elif params.get("series_id") not in self.rows:
            _error(handler, "The series does not exist.")
        elif parsed.path == VINTAGE_DATES:
            self._vintage_dates(handler, params)
        else:
            self._observations(handler, params)

    def vintages(self, series: str) -> list[str]:
        return sorted({r["realtime_start"] for r in self.rows[series]})

    def _vintage_dates(self, handler: http.server.BaseHTTPRequestHandler,
                       params: dict[str, str]) -> None:
        start, end = _window(params)
        vintages = [v for v in self.vintages(params["series_id"]) if start <= v <= end]
        offset, limit = int(params.get("offset", 0)), int(params.get("limit", 10_000))
        self._json(handler, {
            "realtime_start": start, "realtime_end": end, "order_by": "vintage_date",
            "sort_order": "asc", "count": len(vintages), "offset": offset, "limit": limit,
            "vintage_dates": vintages[offset:offset + limit]})

    def _observations(self, handler: http.server.BaseHTTPRequestHandler,
                      params: dict[str, str]) -> None:
        series = params["series_id"]
        start, end = _window(params)
        spanned = [v for v in self.vintages(series) if start <= v <= end]
        if len(spanned) > self.max_vintages:
            _error(handler, f"There are {len(spanned)} vintage dates in the specified "
                   f"real-time period: {start} to {end}.  This exceeds the maximum number of "
                   f"vintage dates allowed ({self.max_vintages}).")
            return
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
        self._json(handler, doc)

    def _json(self, handler: http.server.BaseHTTPRequestHandler, doc: dict | bytes) -> None:
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        if handler.headers.get("If-None-Match") == etag:
            _send(handler, 304, b"", {"ETag": etag})
            return
        _send(handler, 200, body, {"ETag": etag, "Content-Type": "application/json"})


def _window(params: dict[str, str]) -> tuple[str, str]:
    today = dt.date.today().isoformat()  # FRED's default real-time window: today
    return params.get("realtime_start", today), params.get("realtime_end", today)


def _error(handler: http.server.BaseHTTPRequestHandler, message: str) -> None:
    """FRED's error document, as it answers a bad request."""
    body = json.dumps({"error_code": 400, "error_message": f"Bad Request.  {message}"})
    _send(handler, 400, body.encode(), {"Content-Type": "application/json"})


def _send(handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes,
          headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
