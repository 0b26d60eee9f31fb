"""Response models: one public schema per resource, and the page envelope for lists.

Prices are strings (exact decimals, as on the wire); volumes and counters integers; every
record carries `time` (ISO-8601 UTC) and `ts_event` (int ns). Each model has an example, which
/docs shows; `ok(model)` puts it on a route's 200 answer.
"""

from __future__ import annotations

import datetime as dt
import functools
from datetime import date, datetime
from decimal import Decimal
from types import UnionType
from typing import Annotated, Any, Generic, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, create_model

from streams.schema import Event
from streams.schema.logic import TradingState

T = TypeVar("T")
# 2026-11-20T14:30:00Z, the time of the examples
EXAMPLE_NS = 1_795_185_000_000_000_000
# Text the API takes in holds no NUL: PostgreSQL text cannot hold one, so no stored value has
# one, the driver refuses to send one, and a command carrying one could not be stored
NO_NUL = r"^[^\x00]*$"
EXAMPLE_TIME = "2026-11-20T14:30:00Z"
EXAMPLE_CURSOR = "WzE3OTUxODUwMDAwMDAwMDBd"  # a next_cursor: [µs of the last item's time]


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


def example_of(model: type[BaseModel]) -> dict[str, Any]:
    """The first example of a model's JSON Schema."""
    return model.model_json_schema()["examples"][0]  # type: ignore[no-any-return]


def ok(model: type[BaseModel], status_code: int = 200) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: its answer (200 unless said) with the model's example."""
    return {status_code: {"content": {"application/json": {"example": example_of(model)}}}}


def _page_example(schema: dict[str, Any], page: type[BaseModel]) -> None:
    """A page's example: one item (the item model's example) and a next_cursor."""
    (item,) = get_args(page.model_fields["data"].annotation)
    if isinstance(item, type) and issubclass(item, BaseModel):
        schema["examples"] = [{"data": [example_of(item)], "next_cursor": EXAMPLE_CURSOR}]


@functools.cache  # one schema per model: the generic list and /portfolio share them
def record_model(model: type[Event]) -> type[BaseModel]:
    """The public schema of a stored wire model, for the generic list routes: `time` (the
    stored event time) and every wire field but `schema_version`, typed as on the wire (so
    prices and money are exact decimal strings), with an example built from the types."""
    fields = {name: (info.annotation, info) for name, info in model.model_fields.items()
              if name != "schema_version"}
    example = {"time": EXAMPLE_TIME, **{name: _example_value(name, info.annotation)
                                        for name, info in model.model_fields.items()
                                        if name != "schema_version"}}
    public = create_model(  # type: ignore[call-overload]
        f"{model.__name__}Record", __config__=_examples(example),
        __doc__=model.__doc__ or f"A {model.__name__} record.",
        time=(datetime, Field(description="the event time, ISO-8601 UTC (µs)")), **fields)
    public.model_validate(example)  # the example is a valid answer
    return public  # type: ignore[no-any-return]


def _example_value(name: str, annotation: Any) -> Any:
    """A valid example for a field: the first of a Literal, a non-null value of an optional."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return args[0]
    if origin is Annotated:
        return _example_value(name, args[0])
    if origin in (Union, UnionType):
        return _example_value(name, next(a for a in args if a is not type(None)))
    if origin is dict and get_origin(args[1]) is dict:  # named rows of named numbers
        return {"value": _example_value(name, args[1])}
    examples: dict[Any, Any] = {
        dict: {"value": 1.5}, list: [100, 200], bool: False, float: 0.5, Decimal: "187.42",
        date: "2024-01-02",
        int: EXAMPLE_NS if name.startswith("ts_") else 60 * 10**9 if name.endswith("_ns") else 100,
        str: "AAPL" if name == "symbol" else f"{name.removesuffix('_id')}-1",
    }
    return examples[origin or annotation]


class Page(BaseModel, Generic[T]):
    """A page of a list: its items and the cursor of the next page (null: last page)."""

    model_config = ConfigDict(json_schema_extra=_page_example)

    data: list[T]
    next_cursor: str | None = Field(description="pass as `cursor` to get the next page")


class SymbolPublic(BaseModel):
    model_config = _examples({"symbol": "AAPL", "kinds": ["trades", "bars", "vpin"]})

    symbol: str
    kinds: list[Literal["trades", "bars", "vpin", "microstructure", "fundamentals", "filings",
                        "prices"]] = Field(
        description="which data the database holds for it: the tape's (trades, bars, VPIN, "
                    "microstructure) and the data beyond it (a company's figures, SEC filings, "
                    "a vendor's daily prices)"
    )


class SymbolsPublic(BaseModel):
    model_config = _examples({"data": [{"symbol": "AAPL", "kinds": ["trades", "bars", "vpin"]}],
                              "count": 1})

    data: list[SymbolPublic]
    count: int


class TradePublic(BaseModel):
    model_config = _examples({
        "symbol": "AAPL", "time": "2026-11-20T14:30:00.125Z", "ts_event": EXAMPLE_NS + 125_000_000,
        "price": "187.42", "size": 100, "aggressor": "buy", "trade_id": "64211", "venue": "XNAS",
        "unreported": False, "conditions": None,
    })

    symbol: str
    time: datetime
    ts_event: int
    price: str
    size: int
    aggressor: Literal["buy", "sell"] | None
    trade_id: str | None
    venue: str | None
    unreported: bool = Field(description="a print outside the regular tape (odd lot, combo, "
                                         "average-price trade); bars and VPIN leave it out "
                                         "by default")
    conditions: str | None = Field(description="the venue's sale-condition codes as sent")


class BarPublic(BaseModel):
    model_config = _examples({
        "symbol": "AAPL", "interval": "5m", "time": EXAMPLE_TIME,
        "ts_event": EXAMPLE_NS + 300_000_000_000, "open": "187.42", "high": "187.90",
        "low": "187.31", "close": "187.85", "volume": 48_200, "trade_count": 311,
        "vwap": 187.6342,
    })

    symbol: str
    interval: Literal["1m", "5m", "1h", "1d"]
    time: datetime = Field(description="start of the bar")
    ts_event: int = Field(description="end of the bar (start + interval), int ns, as on "
                                      "market.bars.1m")
    open: str
    high: str
    low: str
    close: str
    volume: int
    trade_count: int | None = Field(description="trades in the bar; null for bars from a bar "
                                                "file (a rollup: unless every minute has it)")
    vwap: float | None = Field(description="volume-weighted mean price, 9 decimals; null as "
                                           "trade_count is")


_MACRO_EXAMPLE = {
    "source": "fred", "series": "DGS10", "date": "2024-01-02", "realtime_start": "2024-01-03",
    "value": 3.95, "unit": "percent", "time": "2024-01-03T00:00:00Z",
    "ts_event": 1_704_240_000_000_000_000,
}


class MacroObservationPublic(BaseModel):
    """One vintage of one observation of a macro series (market.macro)."""

    model_config = _examples(_MACRO_EXAMPLE)

    source: str = Field(description="the data source (fred, dbnomics, ...)")
    series: str = Field(description="the source's own id of the series")
    date: dt.date = Field(description="the period the value is for (its first day)")
    realtime_start: dt.date = Field(description="the vintage: the first day this value was "
                                                "the one published for `date`")
    value: float
    unit: str | None
    time: datetime = Field(description="when this value became known (its release), "
                                       "ISO-8601 UTC")
    ts_event: int = Field(description="the same, int ns")


_MACRO_SERIES_EXAMPLE = {
    "source": "fred", "series": "DGS10", "unit": "percent", "first_date": "1962-01-02",
    "last_date": "2024-01-02", "newest_vintage": "2024-01-03",
}


class MacroSeriesPublic(BaseModel):
    model_config = _examples(_MACRO_SERIES_EXAMPLE)

    source: str
    series: str
    unit: str | None = Field(description="the unit of the newest record")
    first_date: dt.date = Field(description="the earliest observation date stored")
    last_date: dt.date = Field(description="the latest observation date stored")
    newest_vintage: dt.date = Field(description="the realtime_start of the record that "
                                                "became known last")


class MacroSeriesListPublic(BaseModel):
    model_config = _examples({"data": [_MACRO_SERIES_EXAMPLE], "count": 1})

    data: list[MacroSeriesPublic]
    count: int


class FundamentalPublic(BaseModel):
    """One figure a company reported, as one filing stated it (market.fundamentals)."""

    model_config = _examples({
        "source": "edgar", "symbol": "AAPL", "field": "revenue", "period": "FY2023",
        "period_end": "2023-09-30", "value": 383_285_000_000.0, "unit": "USD",
        "filed": "2023-11-03", "form": "10-K", "time": "2023-11-03T00:00:00Z",
        "ts_event": 1_698_969_600_000_000_000,
    })

    source: str
    symbol: str
    field: str = Field(description="revenue, net_income, assets, equity, shares_outstanding, "
                                   "operating_cash_flow, ...")
    period: str = Field(description="the fiscal period (FY2023, 2024Q1)")
    period_end: dt.date
    value: float
    unit: str | None
    filed: dt.date = Field(description="the day of the filing that stated this value")
    form: str | None = Field(description="the filing's form (10-K, 10-Q, ...)")
    time: datetime = Field(description="when it became known (the filing), ISO-8601 UTC")
    ts_event: int = Field(description="the same, int ns")


class FilingPublic(BaseModel):
    """One filing a company made with the SEC (market.filings), as EDGAR's filings list
    states it, and where its main document is on EDGAR."""

    model_config = _examples({
        "source": "edgar", "symbol": "AAPL", "cik": 320193,
        "accession": "0000320193-23-000106", "form": "10-K", "filed": "2023-11-03",
        "report_date": "2023-09-30", "primary_document": "aapl-20230930.htm",
        "description": "10-K", "items": None,
        "url": "https://www.sec.gov/Archives/edgar/data/320193/000032019323000106/"
               "aapl-20230930.htm",
        "time": "2023-11-02T22:08:27Z", "ts_event": 1_698_962_907_000_000_000,
    })

    source: str
    symbol: str
    cik: int = Field(description="the SEC's number of the company")
    accession: str = Field(description="the filing's accession number, its id on EDGAR")
    form: str = Field(description="10-K, 10-Q, 8-K, 4, 10-K/A, ...")
    filed: dt.date = Field(description="the day EDGAR dates the filing")
    report_date: dt.date | None = Field(description="the end of the period it reports on; "
                                                    "null for forms without one")
    primary_document: str | None = Field(description="its main document's file name")
    description: str | None = Field(description="EDGAR's description of that document")
    items: str | None = Field(description="an 8-K's items (`2.02,9.01`)")
    url: str | None = Field(description="the main document on EDGAR: https://www.sec.gov/"
                                        "Archives/edgar/data/{cik}/{accession without dashes}/"
                                        "{primary_document}; null without one")
    time: datetime = Field(description="when EDGAR accepted the filing (read as New York "
                                       "time, never early), ISO-8601 UTC")
    ts_event: int = Field(description="the same, int ns")


class DailyPricePublic(BaseModel):
    """One day of a symbol as a vendor reported it (market.prices.1d), unadjusted, with the
    close adjusted for the dividends and splits of the later days known at `as_of`."""

    model_config = _examples({
        "source": "alphavantage", "symbol": "IBM", "date": "2024-05-09", "open": "167.50",
        "high": "168.25", "low": "166.50", "close": "167.15", "volume": 3_148_234,
        "dividend": "1.67", "split": 1.0, "adjusted_close": 162.53,
        "time": "2024-05-09T23:59:59.999999Z", "ts_event": 1_715_299_199_999_999_999,
    })

    source: str
    symbol: str
    date: dt.date
    open: str
    high: str
    low: str
    close: str
    volume: int
    dividend: str | None = Field(description="cash per share going ex on `date`; null where "
                                             "the vendor does not say")
    split: float | None = Field(description="the split coefficient on `date` (2.0: two shares "
                                            "for one; 1.0: none); null where the vendor does "
                                            "not say")
    adjusted_close: float | None = Field(
        description="`close` times the CRSP factor of the dividends and splits of the "
                    "source's later days known at `as_of`, up to the latest of them (whatever "
                    "`to`); null when one of those days' actions is unknown")
    time: datetime = Field(description="when this record became known: the end (UTC) of "
                                       "`date`, or a correction's later time; ISO-8601 UTC")
    ts_event: int = Field(description="the same, int ns")


_VPIN_EXAMPLE = {
    "symbol": "AAPL", "bucket": 412, "time": EXAMPLE_TIME, "ts_event": EXAMPLE_NS,
    "bucket_volume": 10_000, "buy_volume": 6_120.5, "sell_volume": 3_879.5, "vpin": 0.2713,
    "vpin_cdf": 0.82,
}


class VpinReadingPublic(BaseModel):
    model_config = _examples(_VPIN_EXAMPLE)

    symbol: str
    bucket: int
    time: datetime
    ts_event: int
    bucket_volume: int
    buy_volume: float
    sell_volume: float
    vpin: float | None = Field(description="null until the symbol has `window` buckets")
    vpin_cdf: float | None


class VpinLatest(BaseModel):
    model_config = _examples({"data": [_VPIN_EXAMPLE]})

    data: list[VpinReadingPublic]


class MicrostructurePublic(BaseModel):
    model_config = _examples({
        "symbol": "AAPL", "time": EXAMPLE_TIME, "ts_event": EXAMPLE_NS, "spread": 0.01,
        "mid": 187.425, "microprice": 187.4275, "imbalance_1": 0.5, "imbalance_5": 0.12,
        "imbalance_10": 0.08, "bid_depth": [300, 500, 800, 900, 1_000, 1_100, 1_150, 1_200,
                                            1_260, 1_300],
        "ask_depth": [100, 400, 600, 700, 800, 950, 1_000, 1_100, 1_140, 1_200],
        "pressure": 0.21,
    })

    symbol: str
    time: datetime
    ts_event: int
    spread: float | None
    mid: float | None
    microprice: float | None
    imbalance_1: float
    imbalance_5: float
    imbalance_10: float
    bid_depth: list[int]
    ask_depth: list[int]
    pressure: float


class AlertPublic(BaseModel):
    model_config = _examples({
        "alert_id": "vpin:AAPL:1795185000000000000", "state": "raised", "time": EXAMPLE_TIME,
        "ts_event": EXAMPLE_NS, "kind": "vpin", "severity": "warning", "symbol": "AAPL",
        "message": "VPIN CDF 0.93 >= 0.9", "values": {"vpin": 0.41, "vpin_cdf": 0.93},
    })

    alert_id: str
    state: Literal["raised", "cleared"]
    time: datetime
    ts_event: int
    kind: str
    severity: str
    symbol: str | None
    message: str
    values: dict[str, float]


_ENGINE_EXAMPLE = {
    "engine": "bars", "worker": "host-1-4242", "status": "running", "time": EXAMPLE_TIME,
    "ts_event": EXAMPLE_NS, "stale": False, "current": True, "lag": 0, "events_in": 1_204_113,
    "events_out": 20_071, "errors": 0, "dead_letters": 2, "last_event_ts": EXAMPLE_NS - 41_000,
    "restarts": 0,
}


class EnginePublic(BaseModel):
    model_config = _examples(_ENGINE_EXAMPLE)

    engine: str
    worker: str
    status: Literal["starting", "running", "degraded", "stopped", "stale"] = Field(
        description="the newest report's status; `stale` when the worker has not reported "
                    "for three health intervals without saying `stopped` (killed, hung or "
                    "cut off from the broker)")
    current: bool = Field(description="the engine runs on this worker now: it reports and "
                                      "has not stopped")
    time: datetime = Field(description="when this health report was made")
    ts_event: int = Field(description="the same, int ns")
    stale: bool = Field(description="no report for over three health intervals")
    lag: int | None = Field(description="records in its input partitions not processed yet")
    events_in: int
    events_out: int
    errors: int
    dead_letters: int
    last_event_ts: int | None
    restarts: int = Field(description="how often `up` restarted this process after it exited "
                                      "(0: never; processes run otherwise report 0)")


class EnginesPublic(BaseModel):
    model_config = _examples({"data": [_ENGINE_EXAMPLE]})

    data: list[EnginePublic]


class GroupLag(BaseModel):
    model_config = _examples({"group": "nautilus-streams", "lag": 12})

    group: str
    lag: int = Field(description="records after the group's committed offsets (listed only "
                                 "for groups that committed on the topic)")


_TOPIC_EXAMPLE = {
    "name": "market.trades", "in_catalog": True, "value_model": "Trade", "partitions": 6,
    "low": 0, "high": 1_204_125, "records": 1_204_125,
    "consumer_groups": [{"group": "nautilus-streams", "lag": 12},
                        {"group": "nautilus-sink", "lag": 0}],
}


class TopicPublic(BaseModel):
    model_config = _examples(_TOPIC_EXAMPLE)

    name: str
    in_catalog: bool
    value_model: str | None
    partitions: int | None
    low: int
    high: int
    records: int
    consumer_groups: list[GroupLag]


class TopicsPublic(BaseModel):
    model_config = _examples({"data": [_TOPIC_EXAMPLE]})

    data: list[TopicPublic]


def _portfolio_example() -> dict[str, Any]:
    from streams.schema import PortfolioSnapshot, Position

    return {"account": "paper", "snapshot": example_of(record_model(PortfolioSnapshot)),
            "positions": [example_of(record_model(Position))]}


def _portfolio_model() -> type[BaseModel]:
    from streams.schema import PortfolioSnapshot, Position

    snapshot, position = record_model(PortfolioSnapshot), record_model(Position)
    return create_model(  # type: ignore[call-overload,no-any-return]
        "PortfolioPublic", __config__=_examples(_portfolio_example()),
        __doc__="An account's latest portfolio snapshot and its latest position per symbol.",
        account=(str, ...),
        snapshot=(snapshot | None, Field(description="the newest snapshot by event time; "
                                                     "null before the first")),
        positions=(list[position], Field(  # type: ignore[valid-type]
            description="the newest record of each symbol's position, by symbol")),
    )


PortfolioPublic = _portfolio_model()


def _command_example() -> dict[str, Any]:
    from streams.schema import RiskCommand

    return {**example_of(record_model(RiskCommand)), "command_id": _COMMAND_ID,
            "account": "paper", "action": "halt", "reason": "desk limit breached",
            "issued_by": "api token 3f9a1c2b7d4e"}


_COMMAND_ID = "0b6f3c2e-9d41-4d7a-8a55-2f1e6c9b7a10"


def _risk_models() -> tuple[type[BaseModel], ...]:
    """The schemas of the risk and margin routes, built on the stored models' records."""
    from streams.schema import MarginState, RiskCommand, RiskReport

    command = record_model(RiskCommand)
    halted = {"state": "HALTED", "command": _command_example()}
    state = create_model(  # type: ignore[call-overload]
        "TradingStatePublic", __config__=_examples(halted),
        __doc__="An account's trading state: the action of its newest risk command (halt: "
                "HALTED, reduce: REDUCING, resume: ACTIVE); ACTIVE before any command.",
        state=(TradingState, ...),
        command=(command | None, Field(  # type: ignore[arg-type]
            description="the newest command of the account; null when none was issued")))
    risk = create_model(  # type: ignore[call-overload]
        "RiskPublic", __config__=_examples({
            "account": "paper", "trading_state": halted,
            "report": example_of(record_model(RiskReport))}),
        __doc__="An account's trading state and its newest RiskReport.",
        account=(str, ...), trading_state=(state, ...),
        report=(record_model(RiskReport) | None, Field(  # type: ignore[arg-type]
            description="the newest report by event time; null before the first")))
    margin = create_model(  # type: ignore[call-overload]
        "MarginPublic", __config__=_examples({
            "account": "paper", "margin": example_of(record_model(MarginState))}),
        __doc__="An account's newest MarginState.",
        account=(str, ...),
        margin=(record_model(MarginState) | None, Field(  # type: ignore[arg-type]
            description="the newest margin state by event time; null before the first")))
    sent = create_model(  # type: ignore[call-overload]
        "RiskCommandSent", __config__=_examples({
            "command": _command_example(), "topic": "logic.risk.commands", "partition": 1,
            "offset": 17}),
        __doc__="A risk command the broker acknowledged; the pretrade engine applies it "
                "within one batch.",
        command=(command, ...), topic=(str, ...), partition=(int, ...), offset=(int, ...))
    return state, risk, margin, sent


TradingStatePublic, RiskPublic, MarginPublic, RiskCommandSent = _risk_models()


class RiskCommandRequest(BaseModel):
    """What an operator may say with a halt, reduce or resume: why (kept with the command)."""

    model_config = _examples({"reason": "desk limit breached"})

    # no NUL: the stored command would be dead-lettered (see NO_NUL)
    reason: str = Field(default="", max_length=500, pattern=NO_NUL,
                        description="why; stored with the command on logic.risk.commands")


_ACCOUNT_EXAMPLE = {
    "account": "paper", "trading_state": "ACTIVE", "equity": "1004250.10",
    "equity_from": "margin", "ts_event": EXAMPLE_NS, "time": EXAMPLE_TIME,
    "excess_liquidity": "874250.10", "call_probability": 0.0012,
}


class AccountPublic(BaseModel):
    model_config = _examples(_ACCOUNT_EXAMPLE)

    account: str
    trading_state: TradingState = Field(
        description="the action of the account's newest risk command; ACTIVE before any")
    equity: Decimal | None = Field(description="the newest margin state's equity, else the "
                                               "newest portfolio snapshot's; exact")
    equity_from: Literal["margin", "portfolio"] | None = Field(
        description="which record `equity` (and `time`) come from; null: neither exists")
    time: datetime | None
    ts_event: int | None
    excess_liquidity: Decimal | None = Field(
        description="equity - maintenance margin of the newest margin state")
    call_probability: float | None = Field(
        description="of a margin call within the margin state's horizon")


class AccountsPublic(BaseModel):
    model_config = _examples({"data": [_ACCOUNT_EXAMPLE], "count": 1})

    data: list[AccountPublic]
    count: int


class ErrorBody(BaseModel):
    """The body of an error answer: 401, 403, 413, 429, 503 (422 lists its errors)."""

    model_config = _examples({"detail": "the token is unknown, revoked or expired"})

    detail: str = Field(description="what went wrong, for a person")
