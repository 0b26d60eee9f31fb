"""Yahoo Finance (UNOFFICIAL): daily closes of index and rate symbols (^VIX, ^TNX, ...), onto
market.macro.

Yahoo publishes no API and no terms for this use: the chart endpoint
(`v8/finance/chart/{symbol}`) that websites and libraries call may change or refuse requests
at any time, and its data may not be redistributed. Use it for research; prefer FRED
(VIXCLS, DGS10) where a series exists there.

Why the chart endpoint through our HttpFetcher and not the yfinance library (1.7.0): yfinance
is the maintained client, but it brings its own HTTP stack (curl_cffi impersonating a browser,
with its own retries and an SQLite cache), pandas frames and cookie/crumb handling, none of
which can be pointed at a fake server in tests, rate-limited by our token bucket or cached
with our conditional requests; for one JSON endpoint the direct request is smaller and keeps
the source like every other one. The price: when Yahoo changes the endpoint, this module (not
a library upgrade) follows.

One request per symbol: `interval=1d` from `period1` (`since`, else NAUTILUS_YAHOO_HISTORY_DAYS
before today) to `period2` (the end of today), both 00:00 UTC. Each bar's trading day is its
timestamp in the exchange's time (`meta.gmtoffset`); its close becomes the value of series
`<symbol>` for that day. A null close (no trade that day) gives no record and is counted.

Time: Yahoo has no vintages, and a close is final once its session ends. A record's
`realtime_start` is its trading day and its ts_event the end of that day, UTC (as FRED's
vintages): after the close of the exchanges such symbols come from (New York's index and rate
sessions end by 21:15 UTC; Europe and Asia-Pacific earlier), so a replay sees day D's close
only once day D is over, never during its session. A bar whose ts_event is still ahead of the
fetch (today's session, possibly running) is not published yet: the first poll after midnight
UTC publishes it, final.

Configuration: NAUTILUS_YAHOO_SYMBOLS (comma-separated, e.g. `^VIX,^TNX`; unset: the source is
off), NAUTILUS_YAHOO_HISTORY_DAYS, NAUTILUS_YAHOO_URL. At most one request a second.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Mapping
from typing import Annotated, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streams.feeds.sources.base import Fetched, Source, SourceConfig, SourceRecord
from streams.feeds.sources.exceptions import PayloadError
from streams.feeds.sources.http import HttpFetcher
from streams.feeds.sources.parsing import SPLIT_COMMAS, day_end_ns, day_start_ns, validated
from streams.schema import MacroObservation

log = logging.getLogger(__name__)

Symbol = Annotated[str, Field(pattern=r"^[A-Za-z0-9^=.\-]{1,32}$")]
NS_PER_S = 1_000_000_000
USER_AGENT = "Mozilla/5.0 (compatible; nautilus-streams)"  # Yahoo refuses library agents


class YahooConfig(SourceConfig):
    """Yahoo's variables; the source is off while NAUTILUS_YAHOO_SYMBOLS is unset."""

    symbols: Annotated[tuple[Symbol, ...], SPLIT_COMMAS] = Field(
        validation_alias="NAUTILUS_YAHOO_SYMBOLS")
    history_days: int = Field(default=3650, ge=1, validation_alias="NAUTILUS_YAHOO_HISTORY_DAYS")
    url: str = Field(default="https://query1.finance.yahoo.com", pattern=r"^https?://",
                     validation_alias="NAUTILUS_YAHOO_URL")


class _Meta(BaseModel):
    model_config = ConfigDict(extra="ignore")

    symbol: str
    gmtoffset: int
    dataGranularity: str  # noqa: N815 (Yahoo's name)


class _Quote(BaseModel):
    model_config = ConfigDict(extra="ignore")

    close: list[float | None] = Field(default_factory=list)  # absent when there is no bar


class _Indicators(BaseModel):
    model_config = ConfigDict(extra="ignore")

    quote: list[_Quote] = Field(min_length=1, max_length=1)


class _Result(BaseModel):
    model_config = ConfigDict(extra="ignore")

    meta: _Meta
    timestamp: list[int] = Field(default_factory=list)  # absent when there is no bar
    indicators: _Indicators


class _ChartError(BaseModel):
    code: str
    description: str | None = None


class _Chart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    result: list[_Result] | None
    error: _ChartError | None = None


class _ChartResponse(BaseModel):
    """The chart endpoint's JSON (fields we do not use ignored)."""

    model_config = ConfigDict(extra="ignore")

    chart: _Chart


class YahooSource(Source[YahooConfig]):
    """Daily closes of Yahoo Finance symbols (unofficial), known at the end of their day,
    onto market.macro."""

    name = "yahoo"
    topics = ("market.macro",)
    config_model = YahooConfig
    requests_per_s: ClassVar[float] = 1.0

    def __init__(self, config: YahooConfig, http: HttpFetcher) -> None:
        super().__init__(config, http)
        log.warning("source yahoo is UNOFFICIAL: Yahoo Finance's chart endpoint has no API "
                    "terms and may change or refuse requests without notice")

    @classmethod
    def http_headers(cls, config: SourceConfig) -> Mapping[str, str]:
        return {"User-Agent": USER_AGENT}

    def items(self) -> list[str]:
        return list(self.config.symbols)

    def fetch(self, item: str, *, since: dt.date | None, ts_init: int) -> Fetched:
        what = f"Yahoo (unofficial) {item}"
        result = self._chart(item, since, ts_init, what)
        closes = result.indicators.quote[0].close
        if len(closes) != len(result.timestamp):
            raise PayloadError(f"{what}: {len(result.timestamp)} timestamps but {len(closes)} "
                               "closes (partial payload)")
        by_day: dict[dt.date, float] = {}
        missing = 0
        offset = dt.timedelta(seconds=result.meta.gmtoffset)
        for ts, close in zip(result.timestamp, closes, strict=True):
            day = (dt.datetime.fromtimestamp(ts, dt.UTC) + offset).date()
            if day_end_ns(day) > ts_init:
                continue  # not final yet: the first poll after midnight UTC publishes it
            if close is None:
                missing += 1
                continue
            if not math.isfinite(close):
                raise PayloadError(f"{what} {day}: close {close!r} is not a number")
            if by_day.setdefault(day, close) != close:
                raise PayloadError(f"{what}: two different closes for {day}")
        records: list[SourceRecord] = []
        for day, close in by_day.items():
            if since is not None and day < since:
                continue
            try:
                records.append(MacroObservation(
                    ts_event=day_end_ns(day), ts_init=ts_init, source=self.name,
                    series=item, date=day, realtime_start=day, value=close))
            except ValidationError as exc:
                raise PayloadError(f"{what} {day}: {exc.errors()[0]['msg']}") from None
        return Fetched(item, records, missing)

    def _chart(self, item: str, since: dt.date | None, ts_init: int, what: str) -> _Result:
        today = dt.datetime.fromtimestamp(ts_init / NS_PER_S, dt.UTC).date()
        start = since or today - dt.timedelta(days=self.config.history_days)
        end = today + dt.timedelta(days=1)  # whole days: one URL (one cache entry) a day
        url = f"{self.config.url.rstrip('/')}/v8/finance/chart/{quote(item, safe='')}"
        response = self.http.get(url, {"interval": "1d",
                                       "period1": str(day_start_ns(start) // NS_PER_S),
                                       "period2": str(day_start_ns(end) // NS_PER_S),
                                       "includePrePost": "false"})
        chart = validated(_ChartResponse, response.json(what), what).chart
        if chart.error is not None or not chart.result:
            reason = (f"{chart.error.code}: {chart.error.description}" if chart.error
                      else "no result")
            raise PayloadError(f"{what}: {reason}")
        result = chart.result[0]
        if result.meta.symbol.upper() != item.upper() or result.meta.dataGranularity != "1d":
            raise PayloadError(f"{what}: got {result.meta.symbol} at "
                               f"{result.meta.dataGranularity}, not {item} daily")
        return result


SOURCE = YahooSource
