"""market.*: facts from outside (trades, quotes, depth, bars, executions, macro, fundamentals,
filings, vendors' daily prices)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StrictBool, model_validator

from streams.schema.base import (
    Event,
    Money,
    NonNegativeMoney,
    NonNegativeNs,
    NonNegativeSize,
    PositivePrice,
    PositiveSize,
    Price,
    ShortText,
    Symbol,
)
from streams.schema.storage import Stored

Side = Literal["buy", "sell"]
DEPTH_LEVELS = 10


class Trade(Event):
    """One trade print. `aggressor` is the side that crossed the spread, when the venue says.

    `unreported` marks a print that is not part of the regular tape: IB's AllLast sends odd
    lots, combo legs, derivative and average-price trades flagged so; bars and VPIN leave them
    out unless told otherwise. `conditions` is the venue's sale-condition codes as sent (IB's
    specialConditions). The defaults describe a regular trade, so older records read as such.
    """

    STORED = Stored("trades", ("symbol", "time", "trade_uid"), retention="tick")

    symbol: Symbol
    price: PositivePrice
    size: PositiveSize
    aggressor: Side | None = None
    trade_id: ShortText | None = None
    venue: ShortText | None = None
    unreported: StrictBool = False
    conditions: ShortText | None = None


class Quote(Event):
    """Top of book."""

    symbol: Symbol
    bid_price: Price
    bid_size: NonNegativeSize
    ask_price: Price
    ask_size: NonNegativeSize
    venue: ShortText | None = None

    @model_validator(mode="after")
    def _not_crossed(self) -> Quote:
        if self.bid_price > self.ask_price:
            raise ValueError(f"crossed quote: bid {self.bid_price} > ask {self.ask_price}")
        return self


class DepthSnapshot(Event):
    """Order book snapshot: up to 10 levels per side, best first."""

    symbol: Symbol
    bid_prices: list[Price] = Field(max_length=DEPTH_LEVELS)
    bid_sizes: list[NonNegativeSize] = Field(max_length=DEPTH_LEVELS)
    ask_prices: list[Price] = Field(max_length=DEPTH_LEVELS)
    ask_sizes: list[NonNegativeSize] = Field(max_length=DEPTH_LEVELS)
    venue: ShortText | None = None

    @model_validator(mode="after")
    def _consistent(self) -> DepthSnapshot:
        if len(self.bid_prices) != len(self.bid_sizes):
            raise ValueError("bid_prices and bid_sizes differ in length")
        if len(self.ask_prices) != len(self.ask_sizes):
            raise ValueError("ask_prices and ask_sizes differ in length")
        if any(a <= b for a, b in zip(self.bid_prices, self.bid_prices[1:], strict=False)):
            raise ValueError("bid_prices must strictly decrease from the best level")
        if any(a >= b for a, b in zip(self.ask_prices, self.ask_prices[1:], strict=False)):
            raise ValueError("ask_prices must strictly increase from the best level")
        if self.bid_prices and self.ask_prices and self.bid_prices[0] >= self.ask_prices[0]:
            raise ValueError("crossed book: best bid >= best ask")
        return self


class Bar(Event):
    """OHLCV bar. `start_ns` opens the interval; `ts_event` is its end (start + interval).

    `bar_id` is `symbol@interval@start_ns`: deterministic, so a re-delivered bar upserts.
    Open, high, low and close are trade prices as the trades wrote them; `vwap` is the
    volume-weighted mean price rounded half-even to 9 decimals. The bars engine fills
    `trade_count` and `vwap`; a bar read from a bar file (OHLCV only) has None for both.
    """

    STORED = Stored("bars_1m", ("symbol", "time"), on_conflict="update", time_from="start_ns")
    SEQUENCE = ("start_ns",)  # a published bar is never rewritten (processors/bars.py)

    bar_id: str
    symbol: Symbol
    interval: Literal["1m"] = "1m"
    start_ns: NonNegativeNs
    open: Price
    high: Price
    low: Price
    close: Price
    volume: PositiveSize
    trade_count: PositiveSize | None = None
    vwap: Price | None = None


class Execution(Event):
    """A fill of one of our orders, as the broker reported it."""

    STORED = Stored("executions", ("exec_id", "time"), retention=None, served=True)

    exec_id: str
    order_id: str
    account: str
    symbol: Symbol
    side: Side
    price: Price
    quantity: PositiveSize
    commission: Money = Money(0)
    venue: ShortText | None = None


SourceName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
"""A data source's name as its feed module calls it (`fred`, `edgar`, `dbnomics`, ...)."""


class MacroObservation(Event):
    """One observation of a macro series as it was known from `realtime_start` on (a vintage,
    as FRED/ALFRED write it): the value of `series` for the period that starts on `date`.

    `ts_event` is when the value became known: its release, or when the source gives no time,
    the start (UTC) of `realtime_start`; a replay delivers it then and never before. A revision
    is a new record with a later `realtime_start`, never an overwrite: the natural key is the
    source, the series, the period and the vintage. `series` is the source's own id (FRED's
    `DGS10`, DBnomics' `provider/dataset/series`).
    """

    STORED = Stored("macro_observations", ("source", "series", "date", "realtime_start", "time"),
                    retention=None)

    source: SourceName
    series: str = Field(min_length=1, max_length=200)
    date: dt.date
    realtime_start: dt.date
    value: float = Field(allow_inf_nan=False)
    unit: str | None = Field(default=None, max_length=64)


class Fundamental(Event):
    """One figure a company reported (market.fundamentals): `field` (revenue, net_income,
    assets, equity, shares_outstanding, operating_cash_flow, ...) for its fiscal `period`
    (`FY2023`, `2024Q1`) that ends on `period_end`, as filed on `filed` in the `form` named.

    `ts_event` is when it became known: the filing's acceptance time, else a time by which it
    surely was (EDGAR: the end, UTC, of `filed`; Alpha Vantage, which dates nothing: when
    first seen), never earlier. A restated figure in a later filing is a new record (a later
    `filed`), never an overwrite. `period` is part of a figure's identity: one filing reports
    a year (`FY2023`) and its last quarter (`2023Q4`) with the same end date.
    """

    STORED = Stored("fundamentals",
                    ("source", "symbol", "field", "period", "period_end", "filed", "time"),
                    retention=None)

    source: SourceName
    symbol: Symbol
    field: str = Field(min_length=1, max_length=64)
    period: str = Field(min_length=1, max_length=16)
    period_end: dt.date
    value: float = Field(allow_inf_nan=False)
    unit: str | None = Field(default=None, max_length=32)
    filed: dt.date
    form: ShortText | None = None


Accession = Annotated[str, Field(pattern=r"^\d{10}-\d{2}-\d{6}$")]
"""An SEC accession number (`0000320193-24-000123`): one filing."""


class Filing(Event):
    """One filing a company made with the SEC (market.filings), as EDGAR's filings list
    states it: its `form` (`10-K`, `8-K`, `4`, ...), the day it was `filed`, the period it
    reports on (`report_date`, None for forms without one), its main document and, for an
    8-K, the `items` it reports (`2.02,9.01`).

    `ts_event` is EDGAR's acceptance time (read as New York time, never early: see
    streams/feeds/sources/edgar.py): a replay sees a filing once EDGAR had it. A filing is
    identified by its accession number; an amendment is a filing of its own (`10-K/A`).
    """

    STORED = Stored("filings", ("source", "accession", "time"), retention=None)

    source: SourceName
    symbol: Symbol
    cik: PositiveSize  # the SEC's company number: a positive int64
    accession: Accession
    form: ShortText = Field(min_length=1)
    filed: dt.date
    report_date: dt.date | None = None
    primary_document: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=200)
    items: str | None = Field(default=None, max_length=200)

class DailyPrice(Event):
    """One trading day of a symbol as a data vendor reports it (market.prices.1d): the day's
    unadjusted open, high, low, close and volume, and the corporate actions that take effect
    on it: `dividend`, the cash per share that goes ex on `date`, and `split`, the split
    coefficient that day (2.0: two shares for one; 0.5: one for two; 1.0: none). Both are None
    where the vendor's series does not say (Alpha Vantage's free TIME_SERIES_DAILY).

    Adjusted prices are not stored: a dividend or split rescales every earlier price, so an
    adjusted close stored with day D would carry what happened after D into a replay of D.
    They are derived as of any instant from the records known then
    (`processors.kit.adjustment`). `ts_event` is the end (UTC) of `date`, after the session of
    the exchanges a vendor reports: a day is published once it is over, final. A correction
    the vendor makes later is a new record dated when it was seen, never an overwrite.
    """

    STORED = Stored("daily_prices", ("source", "symbol", "date", "time"), retention=None)

    source: SourceName
    symbol: Symbol
    date: dt.date
    open: PositivePrice
    high: PositivePrice
    low: PositivePrice
    close: PositivePrice
    volume: NonNegativeSize
    dividend: NonNegativeMoney | None = None
    split: float | None = Field(default=None, gt=0, allow_inf_nan=False)

