"""Fakes of DBnomics, Yahoo Finance's chart endpoint, Fiscal Data (Data.gov) and Trading
Economics: real HTTP servers on loopback serving each provider's documented JSON, built from
values the test adds; no recorded payloads, no real key.

- DBnomics (https://db.nomics.world/docs/web-api/, API v22): `/v22/series/{p}/{d}/{s}` with
  `observations=1` gives `series.docs` (one doc: codes, `indexed_at`, `period`, `value`
  arrays, "NA" kept), `num_found`, `limit`, `offset`; an unknown series is a 404 with
  `message`.
- Yahoo: `/v8/finance/chart/{symbol}?interval=1d&period1&period2`: `chart.result[0]` with
  `meta` (symbol, gmtoffset, dataGranularity), `timestamp`, `indicators.quote[0].close`; an
  unknown symbol is a 404 with `chart.error` {code, description}.
- Fiscal Data (https://fiscaldata.treasury.gov/api-documentation/): `avg_interest_rates` with
  `filter` (field:eq:value, field:gte:value, comma-joined), `sort`, `page[number]`,
  `page[size]`; the answer has `data` (string values, "null" when missing), `meta` (count,
  total-count, total-pages) and `links`.
- Trading Economics (https://docs.tradingeconomics.com/): `/historical/country/{c}/indicator/
  {i}?c=KEY&f=json` gives a list of rows (Country, Category, DateTime, Value, Frequency,
  HistoricalDataSymbol, LastUpdate); a wrong key is a 401 with a message.

Every fake records each request (path, query without keys, headers) and takes `tamper[item]`,
a function that rewrites the JSON document about to be sent (or returns bytes instead).
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from streams.feeds.sources.base import Source, read_config
from streams.feeds.sources.http import HttpFetcher, HttpPolicy, TokenBucket

TE_KEY = "0123456789abcde:fedcba9876543210"  # made up, in Trading Economics' key:secret shape
FISCAL_PATH = "/services/api/fiscal_service/v2/accounting/od/avg_interest_rates"
Answer = tuple[int, Any]


def source_from(cls: type[Source], environ: Mapping[str, str]) -> Source:
    """`cls` configured from `environ` as `open_source` makes it, retries immediate."""
    config = read_config(cls, environ)
    assert not isinstance(config, str), config
    http = HttpFetcher(cls.name, HttpPolicy(backoff_s=0.0, max_retries=1),
                       TokenBucket(1_000, 1_000), headers=cls.http_headers(config),
                       sleep=lambda _: None)
    return cls(config, http)


@dataclass
class Request:
    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class _Loopback:
    tamper: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)

    def answer(self, path: str, params: dict[str, str]) -> tuple[str, Answer]:
        """The item asked for and the (status, JSON document) to send."""
        raise NotImplementedError

    def __enter__(self):  # type: ignore[no-untyped-def]
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
        return f"http://127.0.0.1:{self._server.server_port}"

    def _serve(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        parsed = urlparse(handler.path)
        params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        path = unquote(parsed.path)
        item, (status, doc) = self.answer(path, params)
        params.pop("c", None)
        self.requests.append(Request(path, params, dict(handler.headers.items())))
        if item in self.tamper:
            doc = self.tamper[item](doc)
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


@dataclass
class FakeDbnomics(_Loopback):
    series: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, code: str, indexed_at: str, observations: dict[str, float | str]) -> None:
        """Series `provider/dataset/series` with its values by period, indexed at that time."""
        self.series[code] = {"indexed_at": indexed_at, "period": list(observations),
                             "value": list(observations.values())}

    def answer(self, path: str, params: dict[str, str]) -> tuple[str, Answer]:
        code = path.removeprefix("/v22/series/")
        if code not in self.series or params.get("observations") != "1":
            return code, (404, {"message": f"Series {code!r} not found"})
        provider, dataset, series = code.split("/")
        doc = {"provider_code": provider, "dataset_code": dataset, "series_code": series,
               "series_name": series, "@frequency": "annual", **self.series[code]}
        return code, (200, {"_meta": {"version": "22.1.17"},
                            "series": {"docs": [doc], "limit": 1000, "num_found": 1,
                                       "offset": 0}})


@dataclass
class FakeYahoo(_Loopback):
    bars: dict[str, list[tuple[int, float | None]]] = field(default_factory=dict)
    gmtoffset: int = -18_000  # New York in winter

    def answer(self, path: str, params: dict[str, str]) -> tuple[str, Answer]:
        symbol = path.removeprefix("/v8/finance/chart/")
        if symbol not in self.bars:
            return symbol, (404, {"chart": {"result": None, "error": {
                "code": "Not Found", "description": "No data found, symbol may be delisted"}}})
        start, end = int(params["period1"]), int(params["period2"])
        bars = [(ts, close) for ts, close in self.bars[symbol] if start <= ts < end]
        meta = {"currency": "USD", "symbol": symbol, "exchangeName": "CBO",
                "instrumentType": "INDEX", "gmtoffset": self.gmtoffset, "timezone": "EST",
                "exchangeTimezoneName": "America/New_York", "dataGranularity": "1d",
                "range": ""}
        return symbol, (200, {"chart": {"result": [{
            "meta": meta, "timestamp": [ts for ts, _ in bars],
            "indicators": {"quote": [{"open": [c for _, c in bars], "close":
                                      [c for _, c in bars]}],
                           "adjclose": [{"adjclose": [c for _, c in bars]}]}}],
            "error": None}})


@dataclass
class FakeFiscalData(_Loopback):
    rows: list[dict[str, str]] = field(default_factory=list)

    def add(self, security: str, record_date: str, rate: str) -> None:
        self.rows.append({"record_date": record_date, "security_type_desc": "Marketable",
                          "security_desc": security, "avg_interest_rate_amt": rate})

    def answer(self, path: str, params: dict[str, str]) -> tuple[str, Answer]:
        if path != FISCAL_PATH:
            return path, (404, {"error": "Invalid Query Param", "message": path})
        rows = list(self.rows)
        item = ""
        for condition in params.get("filter", "").split(","):
            name, op, value = condition.split(":", 2)
            rows = [r for r in rows if (r[name] == value if op == "eq" else r[name] >= value)]
            item = value if name == "security_desc" else item
        rows.sort(key=lambda r: r[params.get("sort", "record_date").lstrip("-")])
        fields = params.get("fields", "").split(",")
        number, size = int(params.get("page[number]", 1)), int(params.get("page[size]", 100))
        page = [{f: r[f] for f in fields} for r in rows[(number - 1) * size:number * size]]
        pages = -(-len(rows) // size)
        return item, (200, {
            "data": page,
            "meta": {"count": len(page), "labels": {f: f for f in fields},
                     "total-count": len(rows), "total-pages": pages},
            "links": {"self": f"&page%5Bnumber%5D={number}&page%5Bsize%5D={size}",
                      "first": f"&page%5Bnumber%5D=1&page%5Bsize%5D={size}",
                      "prev": None, "next": None, "last": None}})


@dataclass
class FakeTradingEconomics(_Loopback):
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, country: str, indicator: str, end: str, value: float | None,
            frequency: str, last_update: str) -> None:
        self.rows.setdefault(f"{country}/{indicator}".lower(), []).append({
            "Country": country, "Category": indicator, "DateTime": f"{end}T00:00:00",
            "Value": value, "Frequency": frequency, "HistoricalDataSymbol": "SYM",
            "LastUpdate": last_update})

    def answer(self, path: str, params: dict[str, str]) -> tuple[str, Answer]:
        parts = path.split("/")  # '', historical, country, C, indicator, I
        item = f"{parts[3]}/{parts[5]}".lower() if len(parts) == 6 else path
        if params.get("c") != TE_KEY:
            return item, (401, {"Message": "Invalid credentials"})
        return item, (200, self.rows.get(item, []))
