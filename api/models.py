"""Response models: one public schema per resource, and the page envelope for lists.

Prices are strings (exact decimals, as on the wire); volumes and counters integers; every
record carries `time` (ISO-8601 UTC) and, where it has one, `ts_event` (int ns).
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a list: its items and the cursor of the next page (null: last page)."""

    data: list[T]
    next_cursor: str | None = Field(description="pass as `cursor` to get the next page")


class SymbolPublic(BaseModel):
    symbol: str
    kinds: list[Literal["trades", "bars", "vpin", "microstructure"]] = Field(
        description="which data the database holds for it"
    )


class SymbolsPublic(BaseModel):
    data: list[SymbolPublic]
    count: int


class TradePublic(BaseModel):
    symbol: str
    time: datetime
    ts_event: int
    price: str
    size: int
    aggressor: Literal["buy", "sell"] | None
    trade_id: str | None
    venue: str | None


class BarPublic(BaseModel):
    symbol: str
    interval: Literal["1m", "5m", "1h", "1d"]
    time: datetime = Field(description="start of the bar")
    open: str
    high: str
    low: str
    close: str
    volume: int
    trade_count: int
    vwap: float


class VpinReadingPublic(BaseModel):
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
    data: list[VpinReadingPublic]


class MicrostructurePublic(BaseModel):
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
    alert_id: str
    state: Literal["raised", "cleared"]
    time: datetime
    ts_event: int
    kind: str
    severity: str
    symbol: str | None
    message: str
    values: dict[str, float]


class EnginePublic(BaseModel):
    engine: str
    worker: str
    status: Literal["starting", "running", "degraded", "stopped", "stale"] = Field(
        description="the newest report's status; `stale` when the worker has not reported "
                    "for three health intervals without saying `stopped` (killed, hung or "
                    "cut off from the broker)")
    current: bool = Field(description="the engine runs on this worker now: it reports and "
                                      "has not stopped")
    time: datetime = Field(description="when this health report was made")
    ts_event: int
    stale: bool = Field(description="no report for over three health intervals")
    lag: int | None = Field(description="records in its input partitions not processed yet")
    events_in: int
    events_out: int
    errors: int
    dead_letters: int
    last_event_ts: int | None


class EnginesPublic(BaseModel):
    data: list[EnginePublic]


class GroupLag(BaseModel):
    group: str
    lag: int = Field(description="records after the group's committed offsets (listed only "
                                 "for groups that committed on the topic)")


class TopicPublic(BaseModel):
    name: str
    in_catalog: bool
    value_model: str | None
    partitions: int | None
    low: int
    high: int
    records: int
    consumer_groups: list[GroupLag]


class TopicsPublic(BaseModel):
    data: list[TopicPublic]
