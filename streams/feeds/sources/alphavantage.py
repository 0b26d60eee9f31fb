"""Alpha Vantage: company overviews (market capitalisation, book value, shares, EPS, revenue
and the like) onto market.fundamentals.

One request per ticker: `function=OVERVIEW` (https://www.alphavantage.co/documentation/
#company-overview). Each figure is a record: `period` and `period_end` are the overview's
LatestQuarter (the calendar quarter it ends in, `CY2024Q2`: Alpha Vantage gives no fiscal
label), `unit` its Currency (per-share figures `USD/share`), `form` empty. Values Alpha
Vantage has not ("None", "-") are counted as missing.

Alpha Vantage says neither when a figure was filed nor when it changed, so a figure is dated
when this source first saw it: ts_event is the time of the request that first returned it,
`filed` that day (UTC). A figure seen again unchanged keeps its first record (so polling
twice publishes nothing new); a changed one (market capitalisation moves daily) is a new
record.

The free tier allows 25 requests a day and one a second. The source asks at most once every
2 s, fetches each ticker at most once a UTC day (a later poll that day is answered from the
state of the first), and keeps a daily budget (ALPHAVANTAGE_DAILY_CALLS, default 25; retries
count) in `<cache dir>/alphavantage/state.json`, beside the first-seen dates, so the budget
holds across polls and restarts (the day is UTC's; Alpha Vantage does not document when its
day starts). A spent budget fails each remaining ticker with one clear reason and asks
nothing. Alpha Vantage answers its own limit with a 200 whose JSON is a "Note" or an
"Information": that ticker publishes nothing, the rest of the poll asks nothing, and where
the message names a daily limit the day's budget is spent.

TIME_SERIES_DAILY_ADJUSTED is not fetched: it is a premium function (a free key gets an
"Information" answer), and no topic holds daily bars (market.bars.1m is the bars engine's
one-minute output, built from trades); daily prices belong to a feed of their own.

Configuration: ALPHAVANTAGE_API_KEY (required; free: https://www.alphavantage.co/support/
#api-key), NAUTILUS_ALPHAVANTAGE_TICKERS, ALPHAVANTAGE_DAILY_CALLS, NAUTILUS_ALPHAVANTAGE_URL.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import ClassVar

import orjson
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from streams.feeds.sources.base import Fetched, Source, SourceConfig, SourceRecord, parse_tickers
from streams.feeds.sources.exceptions import PayloadError, RateLimitError
from streams.feeds.sources.http import HttpFetcher
from streams.schema import Fundamental

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000
NOT_AVAILABLE = {"", "None", "-", "none", "null"}
LIMIT_KEYS = ("Note", "Information")  # a 200 carrying one of these is a limit, not data
# OVERVIEW's key -> (field, per share)
OVERVIEW_FIELDS: dict[str, tuple[str, bool]] = {
    "MarketCapitalization": ("market_cap", False),
    "SharesOutstanding": ("shares_outstanding", False),
    "BookValue": ("book_value_per_share", True),
    "EPS": ("eps_ttm", True),
    "DilutedEPSTTM": ("diluted_eps_ttm", True),
    "RevenueTTM": ("revenue_ttm", False),
    "GrossProfitTTM": ("gross_profit_ttm", False),
    "EBITDA": ("ebitda", False),
    "DividendPerShare": ("dividend_per_share", True),
}


class AlphaVantageConfig(SourceConfig):
    """Alpha Vantage's variables; the source is off while ALPHAVANTAGE_API_KEY is unset."""

    api_key: SecretStr = Field(validation_alias="ALPHAVANTAGE_API_KEY")
    tickers: tuple[str, ...] = Field(default=(), validation_alias="NAUTILUS_ALPHAVANTAGE_TICKERS")
    daily_calls: int = Field(default=25, ge=1, validation_alias="ALPHAVANTAGE_DAILY_CALLS")
    url: str = Field(default="https://www.alphavantage.co/query", pattern=r"^https?://",
                     validation_alias="NAUTILUS_ALPHAVANTAGE_URL")

    @field_validator("tickers", mode="before")
    @classmethod
    def _ticker_list(cls, value: object) -> object:
        return parse_tickers(value) if isinstance(value, str) else value


class _Seen(BaseModel):
    """A ticker's last overview: the UTC day it was fetched and its records."""

    day: dt.date
    records: list[Fundamental]
    missing: int = 0


class _State(BaseModel):
    """What the source keeps between polls: the day's calls and each ticker's last overview."""

    day: dt.date | None = None
    calls: int = 0
    tickers: dict[str, _Seen] = {}


class AlphaVantageSource(Source[AlphaVantageConfig]):
    """Company overviews of Alpha Vantage, under its free tier's daily budget."""

    name = "alphavantage"
    topics = ("market.fundamentals",)
    config_model = AlphaVantageConfig
    requests_per_s: ClassVar[float] = 0.5  # the free tier: one a second
    burst: ClassVar[int] = 1

    def __init__(self, config: AlphaVantageConfig, http: HttpFetcher) -> None:
        super().__init__(config, http)
        cache_dir = http.policy.cache_dir
        self._path = cache_dir / self.name / "state.json" if cache_dir is not None else None
        self._state = _load_state(self._path)
        self._limited: str | None = None  # Alpha Vantage's limit answer, in this poll

    def items(self) -> list[str]:
        return list(self.config.tickers)

    def fetch(self, item: str, *, since: dt.date | None, ts_init: int) -> Fetched:
        ticker, day = item.upper(), _utc_day(ts_init)
        seen = self._state.tickers.get(ticker)
        if seen is None or seen.day != day:
            doc = self._overview(ticker, day)
            records, missing = overview_records(ticker, doc, ts_init, day,
                                                seen.records if seen is not None else [])
            seen = self._state.tickers[ticker] = _Seen(day=day, records=records,
                                                       missing=missing)
            self._save()
        kept: list[SourceRecord] = [r for r in seen.records
                                    if since is None or r.period_end >= since]
        return Fetched(item, kept, seen.missing)

    def _overview(self, ticker: str, day: dt.date) -> dict[str, object]:
        """The OVERVIEW document, within the day's budget; a RateLimitError when spent."""
        state = self._state
        if state.day != day:
            state.day, state.calls = day, 0
        if self._limited is not None:
            raise RateLimitError(f"Alpha Vantage {ticker}: not asked, Alpha Vantage refused "
                                 f"an earlier request of this poll: {self._limited}")
        if state.calls >= self.config.daily_calls:
            raise RateLimitError(f"Alpha Vantage {ticker}: not asked, the daily budget of "
                                 f"{self.config.daily_calls} requests is spent for {day} "
                                 "(UTC; ALPHAVANTAGE_DAILY_CALLS)")
        before = self.http.requests
        try:
            response = self.http.get(self.config.url, {"function": "OVERVIEW", "symbol": ticker},
                                     secret_params={"apikey": self.config.api_key
                                                    .get_secret_value()})
        finally:
            state.calls += self.http.requests - before
            self._save()
        doc = response.json(f"Alpha Vantage {ticker} overview")
        if not isinstance(doc, dict):
            raise PayloadError(f"Alpha Vantage {ticker} overview: malformed payload: not a "
                               "JSON object")
        self._refuse_limit(ticker, doc)
        return doc

    def _refuse_limit(self, ticker: str, doc: dict[str, object]) -> None:
        """A RateLimitError for a limit answer (a "Note" or "Information", status 200)."""
        message = next((str(doc[k]) for k in LIMIT_KEYS if k in doc), None)
        if message is None:
            return
        message = message.replace(self.config.api_key.get_secret_value(), "***")[:300]
        self._limited = message
        if "per day" in message or "daily" in message:
            self._state.calls = max(self._state.calls, self.config.daily_calls)
        self._save()
        log.warning("alphavantage limit reached ticker=%s message=%s", ticker, message)
        raise RateLimitError(f"Alpha Vantage {ticker}: rate limited, nothing published: "
                             f"{message}")

    def _save(self) -> None:
        if self._path is None:
            return
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".state.")
            with os.fdopen(fd, "wb") as out:
                out.write(self._state.model_dump_json().encode())
            os.replace(tmp, self._path)
        except OSError as exc:  # the budget then holds for this process only
            log.warning("alphavantage state not written path=%s error=%s", self._path, exc)


def overview_records(ticker: str, doc: dict[str, object], ts_init: int, day: dt.date,
                     previous: list[Fundamental]) -> tuple[list[Fundamental], int]:
    """The overview's figures as records, and how many it has not; a figure unchanged since
    `previous` keeps its record (its first-seen time)."""
    what = f"Alpha Vantage {ticker} overview"
    if not doc:
        raise PayloadError(f"{what}: empty (a ticker Alpha Vantage does not cover?)")
    if "Error Message" in doc:
        raise PayloadError(f"{what}: {str(doc['Error Message'])[:300]}")
    if str(doc.get("Symbol", "")).upper() != ticker:
        raise PayloadError(f"{what}: malformed payload: Symbol is {doc.get('Symbol')!r}")
    try:
        quarter = dt.date.fromisoformat(str(doc.get("LatestQuarter")))
    except ValueError:
        raise PayloadError(f"{what}: malformed payload: LatestQuarter is "
                           f"{doc.get('LatestQuarter')!r}, not a date") from None
    currency = str(doc.get("Currency", ""))
    if not currency.isalpha() or len(currency) > 8:
        raise PayloadError(f"{what}: malformed payload: Currency is {doc.get('Currency')!r}")
    kept = {(r.field, r.period_end, r.value, r.unit): r for r in previous}
    records, missing = [], 0
    for key, (field, per_share) in OVERVIEW_FIELDS.items():
        text = str(doc.get(key, "None")).strip()
        if text in NOT_AVAILABLE:
            missing += 1
            continue
        value = _number(text, f"{what}: {key}")
        unit = "shares" if field == "shares_outstanding" else (
            f"{currency}/share" if per_share else currency)
        try:
            records.append(kept.get((field, quarter, value, unit)) or Fundamental(
                ts_event=ts_init, ts_init=ts_init, source=AlphaVantageSource.name,
                symbol=ticker, field=field,
                period=f"CY{quarter.year}Q{(quarter.month - 1) // 3 + 1}",
                period_end=quarter, value=value, unit=unit, filed=day))
        except ValidationError as exc:
            raise PayloadError(f"{what}: {key}: {exc.errors()[0]['msg']}") from None
    return records, missing


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PayloadError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise PayloadError(f"{what}: {text!r} is not finite")
    return value


def _utc_day(ns: int) -> dt.date:
    return dt.datetime.fromtimestamp(ns / NS_PER_S, dt.UTC).date()


def _load_state(path: Path | None) -> _State:
    """The kept state; a fresh one where there is none or it cannot be read (then the day's
    budget starts again: logged)."""
    if path is None or not path.exists():
        return _State()
    try:
        return _State.model_validate(orjson.loads(path.read_bytes()))
    except (OSError, orjson.JSONDecodeError, ValidationError) as exc:
        log.warning("alphavantage state unreadable path=%s error=%s: starting afresh", path, exc)
        return _State()


SOURCE = AlphaVantageSource
