"""Alpha Vantage: company overviews (market capitalisation, book value, shares, EPS, revenue
and the like) onto market.fundamentals, and daily prices onto market.prices.1d.

Overviews: one request per ticker, `function=OVERVIEW` (https://www.alphavantage.co/
documentation/#company-overview). Each figure is a record: `period` and `period_end` are the
overview's LatestQuarter (the calendar quarter it ends in, `CY2024Q2`: Alpha Vantage gives no
fiscal label), `unit` its Currency (per-share figures `USD/share`), `form` empty. Values
Alpha Vantage has not ("None", "-") are counted as missing. Alpha Vantage says neither when a
figure was filed nor when it changed, so a figure is dated when this source first saw it:
ts_event is the time of the request that first returned it, `filed` that day (UTC). A figure
seen again unchanged keeps its first record (so polling twice publishes nothing new); a
changed one (market capitalisation moves daily) is a new record.

Daily prices: one request per ticker, its item `<ticker>:daily`. ALPHAVANTAGE_DAILY chooses
the function: `adjusted` (default), TIME_SERIES_DAILY_ADJUSTED (https://www.alphavantage.co/
documentation/#dailyadj), whose days carry the dividend going ex and the split coefficient;
`raw`, TIME_SERIES_DAILY, unadjusted OHLCV only (dividend and split None: no adjusted prices
can be derived); `off`. Alpha Vantage made TIME_SERIES_DAILY_ADJUSTED a premium function
(its support said so in July 2023): a free key gets an "Information" naming a premium
endpoint, which fails the ticker's daily item with a line saying to set
ALPHAVANTAGE_DAILY=raw (or use a premium key); the rest of that UTC day no daily item asks
again, overviews go on. ALPHAVANTAGE_OUTPUTSIZE: `compact` (default: the latest 100 days) or
`full` (20+ years; premium for some functions, refused the same way). Each day is a
DailyPrice of the unadjusted prices (Alpha Vantage's own adjusted close is not kept: it
carries the later actions into day D; processors.kit.adjustment derives adjusted closes as of
any instant). A day is published once it is over: ts_event the end of the day, UTC (after
US/Eastern's session, the series' time zone); the current day's running figures are left for
the first poll after midnight UTC. A ticker's prices are asked at most once a UTC day (a
later poll that day is answered with the same records, so what a failed delivery left out
is published then); a day seen since with other values is a correction, published dated
when seen (streams.feeds.sources.poll.Known).

The free tier allows 25 requests a day and one a second: overviews and daily prices share
them (two a ticker a day). The source asks at most once every 2 s, asks each item at most
once a UTC day (a later poll that day is answered from the state of the first, with its
records), and keeps a daily budget
(ALPHAVANTAGE_DAILY_CALLS, default 25; retries count) in `<cache dir>/alphavantage/
state.json`, beside the first-seen dates, so the budget holds across polls and restarts (the
day is UTC's; Alpha Vantage does not document when its day starts). A spent budget fails
each remaining item with one clear reason and asks nothing. Alpha Vantage answers its own
limit with a 200 whose JSON is a "Note" or an "Information": that item publishes nothing,
the rest of the poll asks nothing, and where the message names a daily limit the day's
budget is spent.

Configuration: ALPHAVANTAGE_API_KEY (required; free: https://www.alphavantage.co/support/
#api-key), NAUTILUS_ALPHAVANTAGE_TICKERS, ALPHAVANTAGE_DAILY, ALPHAVANTAGE_OUTPUTSIZE,
ALPHAVANTAGE_DAILY_CALLS, NAUTILUS_ALPHAVANTAGE_URL.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
import tempfile
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import ClassVar, Literal

import orjson
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from streams.feeds.sources.base import Fetched, Source, SourceConfig, SourceRecord, parse_tickers
from streams.feeds.sources.exceptions import EntitlementError, PayloadError, RateLimitError
from streams.feeds.sources.http import HttpFetcher
from streams.feeds.sources.parsing import day_end_ns
from streams.schema import DailyPrice, Fundamental

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000
PREMIUM_HINT = ("set ALPHAVANTAGE_DAILY=raw for unadjusted prices without dividends and "
                "splits (free), or ALPHAVANTAGE_OUTPUTSIZE=compact, or use a premium key")
NOT_AVAILABLE = {"", "None", "-", "none", "null"}
LIMIT_KEYS = ("Note", "Information")  # a 200 carrying one of these is a limit, not data
PREMIUM = re.compile(r"premium (endpoint|feature|function)", re.IGNORECASE)
DAILY_ITEM = ":daily"  # `IBM:daily`: the ticker's daily prices
DAILY_FUNCTIONS = {"adjusted": "TIME_SERIES_DAILY_ADJUSTED", "raw": "TIME_SERIES_DAILY"}
# a day's key -> DailyPrice field, per function (its documented JSON)
DAILY_FIELDS = {
    "adjusted": {"1. open": "open", "2. high": "high", "3. low": "low", "4. close": "close",
                 "6. volume": "volume", "7. dividend amount": "dividend",
                 "8. split coefficient": "split"},
    "raw": {"1. open": "open", "2. high": "high", "3. low": "low", "4. close": "close",
            "5. volume": "volume"},
}
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
    daily: Literal["adjusted", "raw", "off"] = Field(default="adjusted",
                                                     validation_alias="ALPHAVANTAGE_DAILY")
    outputsize: Literal["compact", "full"] = Field(default="compact",
                                                   validation_alias="ALPHAVANTAGE_OUTPUTSIZE")
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


class _SeenDays(BaseModel):
    """A ticker's last daily prices: the UTC day they were fetched and their records."""

    day: dt.date
    records: list[DailyPrice]
    missing: int = 0


class _State(BaseModel):
    """What the source keeps between polls: the day's calls, each ticker's last overview and
    daily prices, and the day a premium function was refused."""

    day: dt.date | None = None
    calls: int = 0
    tickers: dict[str, _Seen] = {}
    prices: dict[str, _SeenDays] = {}
    premium_refused: dict[str, dt.date] = {}  # `function outputsize` -> the day refused


class AlphaVantageSource(Source[AlphaVantageConfig]):
    """Company overviews and daily prices of Alpha Vantage, under its free tier's daily
    budget."""

    name = "alphavantage"
    topics = ("market.fundamentals", "market.prices.1d")
    config_model = AlphaVantageConfig
    requests_per_s: ClassVar[float] = 0.5  # the free tier: one a second
    burst: ClassVar[int] = 1
    dated_when_seen: ClassVar[bool] = True

    def __init__(self, config: AlphaVantageConfig, http: HttpFetcher) -> None:
        super().__init__(config, http)
        cache_dir = http.policy.cache_dir
        self._path = cache_dir / self.name / "state.json" if cache_dir is not None else None
        self._state = _load_state(self._path)
        self._limited: str | None = None  # Alpha Vantage's limit answer, in this poll

    def items(self) -> list[str]:
        """Each ticker's overview (`IBM`), then, unless ALPHAVANTAGE_DAILY=off, its daily
        prices (`IBM:daily`)."""
        daily = self.config.daily != "off"
        return [item for ticker in self.config.tickers
                for item in ([ticker, ticker + DAILY_ITEM] if daily else [ticker])]

    def fetch(self, item: str, *, since: dt.date | None, ts_init: int) -> Fetched:
        if item.endswith(DAILY_ITEM):
            return self._daily(item, since, ts_init)
        ticker, day = item.upper(), _utc_day(ts_init)
        seen = self._state.tickers.get(ticker)
        if seen is None or seen.day != day:
            doc = self._query(f"{ticker} overview", {"function": "OVERVIEW", "symbol": ticker},
                              day)
            records, missing = overview_records(ticker, doc, ts_init, day,
                                                seen.records if seen is not None else [])
            seen = self._state.tickers[ticker] = _Seen(day=day, records=records,
                                                       missing=missing)
            self._save()
        kept: list[SourceRecord] = [r for r in seen.records
                                    if since is None or r.period_end >= since]
        return Fetched(item, kept, seen.missing)

    def _daily(self, item: str, since: dt.date | None, ts_init: int) -> Fetched:
        """The ticker's days as DailyPrice records: asked once a UTC day, a later poll that day
        answered with the same records (the poll publishes those the topic lacks)."""
        ticker, day = item.removesuffix(DAILY_ITEM).upper(), _utc_day(ts_init)
        seen = self._state.prices.get(ticker)
        if seen is None or seen.day != day:
            records, missing = daily_records(ticker, self._daily_answer(ticker, day),
                                             self.config.daily, ts_init)
            seen = self._state.prices[ticker] = _SeenDays(day=day, records=records,
                                                          missing=missing)
            self._save()
        return Fetched(item, [r for r in seen.records if since is None or r.date >= since],
                       seen.missing)

    def _daily_answer(self, ticker: str, day: dt.date) -> dict[str, object]:
        """The ticker's daily series of ALPHAVANTAGE_DAILY's function; an EntitlementError,
        remembered for the day, where it is premium."""
        function = DAILY_FUNCTIONS.get(self.config.daily)
        if function is None:
            raise PayloadError(f"Alpha Vantage {ticker}{DAILY_ITEM}: daily prices are off "
                               "(ALPHAVANTAGE_DAILY=off)")
        what = f"{ticker} daily prices ({function})"
        request = f"{function} {self.config.outputsize}"
        if self._state.premium_refused.get(request) == day:
            raise EntitlementError(f"Alpha Vantage {what}: not asked, refused earlier today "
                                   f"as premium; {PREMIUM_HINT}")
        try:
            return self._query(what, {"function": function, "symbol": ticker,
                                      "outputsize": self.config.outputsize}, day)
        except EntitlementError:
            self._state.premium_refused[request] = day
            self._save()
            raise

    def _query(self, what: str, params: dict[str, str], day: dt.date) -> dict[str, object]:
        """One answer of Alpha Vantage, within the day's budget: a RateLimitError when spent
        or refused, an EntitlementError for a premium function."""
        state = self._state
        if state.day != day:
            state.day, state.calls = day, 0
        if self._limited is not None:
            raise RateLimitError(f"Alpha Vantage {what}: not asked, Alpha Vantage refused "
                                 f"an earlier request of this poll: {self._limited}")
        if state.calls >= self.config.daily_calls:
            raise RateLimitError(f"Alpha Vantage {what}: not asked, the daily budget of "
                                 f"{self.config.daily_calls} requests is spent for {day} "
                                 "(UTC; ALPHAVANTAGE_DAILY_CALLS)")
        before = self.http.requests
        try:
            response = self.http.get(self.config.url, params,
                                     secret_params={"apikey": self.config.api_key
                                                    .get_secret_value()})
        finally:
            state.calls += self.http.requests - before
            self._save()
        doc = response.json(f"Alpha Vantage {what}")
        if not isinstance(doc, dict):
            raise PayloadError(f"Alpha Vantage {what}: malformed payload: not a JSON object")
        self._refuse_limit(what, doc)
        return doc

    def _refuse_limit(self, what: str, doc: dict[str, object]) -> None:
        """A RateLimitError for a limit answer (a "Note" or "Information", status 200), an
        EntitlementError for a premium one."""
        message = next((str(doc[k]) for k in LIMIT_KEYS if k in doc), None)
        if message is None:
            return
        message = message.replace(self.config.api_key.get_secret_value(), "***")[:300]
        if PREMIUM.search(message):
            log.warning("alphavantage premium function refused %s message=%s", what, message)
            raise EntitlementError(f"Alpha Vantage {what}: refused as premium, nothing "
                                   f"published: {message}; {PREMIUM_HINT}")
        self._limited = message
        if "per day" in message or "daily" in message:
            self._state.calls = max(self._state.calls, self.config.daily_calls)
        self._save()
        log.warning("alphavantage limit reached %s message=%s", what, message)
        raise RateLimitError(f"Alpha Vantage {what}: rate limited, nothing published: "
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


def daily_records(ticker: str, doc: dict[str, object], kind: str, ts_init: int
                  ) -> tuple[list[DailyPrice], int]:
    """The days of a TIME_SERIES_DAILY(_ADJUSTED) document that are over at `ts_init`, as
    records, and how many days lack a value; a PayloadError for a document that is not one,
    naming the day and field."""
    what = f"Alpha Vantage {ticker} daily prices"
    if "Error Message" in doc:
        raise PayloadError(f"{what}: {str(doc['Error Message'])[:300]}")
    meta, series = doc.get("Meta Data"), doc.get("Time Series (Daily)")
    if not isinstance(meta, dict) or not isinstance(series, dict):
        raise PayloadError(f"{what}: malformed payload: no 'Meta Data' and 'Time Series "
                           "(Daily)' objects")
    if str(meta.get("2. Symbol", "")).upper() != ticker:
        raise PayloadError(f"{what}: malformed payload: the symbol is "
                           f"{meta.get('2. Symbol')!r}")
    fields = DAILY_FIELDS[kind]
    records, missing = [], 0
    for key, values in series.items():
        try:
            day = dt.date.fromisoformat(key)
        except ValueError:
            raise PayloadError(f"{what}: malformed payload: {key!r} is not a date") from None
        if day_end_ns(day) > ts_init:
            continue  # the running day is left for the first poll after midnight UTC
        if not isinstance(values, dict) or any(k not in values for k in fields):
            raise PayloadError(f"{what} {day}: malformed payload: expected the fields "
                               f"{', '.join(fields)} (a partial answer?)")
        if any(str(values[k]).strip() in NOT_AVAILABLE for k in fields):
            missing += 1
            continue
        row: dict[str, object] = {}
        for key_name, field in fields.items():
            text = str(values[key_name]).strip()
            row[field] = (_integer(text, f"{what} {day}: {key_name}") if field == "volume"
                          else _decimal(text, f"{what} {day}: {key_name}"))
        if kind == "adjusted":
            row["split"] = float(row["split"])  # type: ignore[arg-type]
        try:
            records.append(DailyPrice(ts_event=day_end_ns(day), ts_init=ts_init,
                                      source=AlphaVantageSource.name, symbol=ticker, date=day,
                                      **row))  # type: ignore[arg-type]
        except ValidationError as exc:
            first = exc.errors()[0]
            raise PayloadError(f"{what} {day}: {'.'.join(map(str, first['loc']))}: "
                               f"{first['msg']}") from None
    if not series:
        raise PayloadError(f"{what}: no days in the answer")
    records.sort(key=lambda r: r.date)
    return records, missing


def _decimal(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise PayloadError(f"{what}: {text!r} is not a number") from None
    if not value.is_finite():
        raise PayloadError(f"{what}: {text!r} is not finite")
    return value


def _integer(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise PayloadError(f"{what}: {text!r} is not a whole number") from None


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
