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

Every fake records each request (path, query, headers) and takes `tamper[item]`,
a function that rewrites the JSON document about to be sent (or returns bytes instead).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.feeds.sources.base import Source, read_config
from streams.feeds.sources.http import HttpFetcher, HttpPolicy, TokenBucket
from tests.streams.feeds.sources.loopback import Answer, LoopbackFake, Request

TE_KEY = "0123456789abcde:fedcba9876543210"  # made up, in Trading Economics' key:secret shape
FISCAL_PATH = "/services/api/fiscal_service/v2/accounting/od/avg_interest_rates"
Reply = tuple[int, Any]  # status, JSON document


def source_from(cls: type[Source], environ: Mapping[str, str]) -> Source:
    """`cls` configured from `environ` as `open_source` makes it, retries immediate."""
    config = read_config(cls, environ)
    assert not isinstance(config, str), config
    http = HttpFetcher(cls.name, HttpPolicy(backoff_s=0.0, max_retries=1),
                       TokenBucket(1_000, 1_000), headers=cls.http_headers(config),
                       sleep=lambda _: None)
    return cls(config, http)


@dataclass
class _JsonFake(LoopbackFake):
    tamper: dict[str, Callable[[Any], Any]] = field(default_factory=dict)

    def answer(self, path: str, params: dict[str, str]) -> tuple[str, Reply]:
        """The item asked for and the (status, JSON document) to send."""
        raise NotImplementedError

    def _serve(self, request: Request) -> Answer:
        item, (status, doc) = self.answer(request.path, request.params)
        if item in self.tamper:
            doc = self.tamper[item](doc)
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        return Answer(status, body, {"Content-Type": "application/json"})


@dataclass
class FakeDbnomics(_JsonFake):
    series: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, code: str, indexed_at: str, observations: dict[str, float | str]) -> None:
        """Series `provider/dataset/series` with its values by period, indexed at that time."""
        self.series[code] = {"indexed_at": indexed_at, "period": list(observations),
                             "value": list(observations.values())}

    def answer(self, path: str, params: dict[str, str]) -> tuple[str, Reply]:
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
class FakeYahoo(_JsonFake):
    bars: dict[str, list[tuple[int, float | None]]] = field(default_factory=dict)
    gmtoffset: int = -18_000  # New York in winter

    def answer(self, path: str, params: dict[str, str]) -> tuple[str, Reply]:
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
class FakeFiscalData(_JsonFake):
    rows: list[dict[str, str]] = field(default_factory=list)

    def add(self, security: str, record_date: str, rate: str) -> None:
        self.rows.append({"record_date": record_date, "security_type_desc": "Marketable",
                          "security_desc": security, "avg_interest_rate_amt": rate})

    def answer(self, path: str, params: dict[str, str]) -> tuple[str, Reply]:
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
class FakeTradingEconomics(_JsonFake):
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, country: str, indicator: str, end: str, value: float | None,
            frequency: str, last_update: str) -> None:
        self.rows.setdefault(f"{country}/{indicator}".lower(), []).append({
            "Country": country, "Category": indicator, "DateTime": f"{end}T00:00:00",
            "Value": value, "Frequency": frequency, "HistoricalDataSymbol": "SYM",
            "LastUpdate": last_update})

    def answer(self, path: str, params: dict[str, str]) -> tuple[str, Reply]:
        parts = path.split("/")  # '', historical, country, C, indicator, I
        item = f"{parts[3]}/{parts[5]}".lower() if len(parts) == 6 else path
        if params.get("c") != TE_KEY:
            return item, (401, {"Message": "Invalid credentials"})
        return item, (200, self.rows.get(item, []))
