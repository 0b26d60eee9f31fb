"""Which table each value model goes to, its columns and key, and how one record becomes a row.

A `Table` names its columns in COPY order, the key its primary key (the record's natural,
deterministic identity, see migrations 0001, 0002 and 0008) and what a conflict on that key
does: `nothing` (a re-delivered record is the same record) or `update` (a later version
replaces the row; bars that a late correction re-emits). An `update` whose values equal the
stored row's in every column but `ts_init` changes nothing: the row keeps the ts_init of the
version that first had those values (see writer.upsert_sql).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple

import orjson
from psycopg.types.json import Jsonb

from streams.catalog import Catalog
from streams.schema import (
    Alert,
    Bar,
    DeadLetter,
    EngineHealth,
    Event,
    MicrostructureFeatures,
    Trade,
    VpinReading,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Source(NamedTuple):
    """Where a record came from on the log (a tuple: one is made per record)."""

    topic: str
    partition: int
    offset: int


Row = tuple[object, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Table:
    """A sink table: name, columns in COPY order, primary key, conflict action, row builder.
    Compared and hashed by identity (one instance per table, a dict key once per record)."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    on_conflict: Literal["nothing", "update"]
    row: Callable[[Event, Source], Row]


def ns_to_time(ns: int) -> datetime:
    """ns since the epoch -> UTC datetime truncated to microseconds (ns_to_timestamptz())."""
    return EPOCH + timedelta(0, 0, ns // 1000)  # positional: twice as fast as microseconds=...


def _trade(e: Trade, src: Source) -> Row:
    uid = e.trade_id or f"{src.topic}/{src.partition}/{src.offset}"
    return (ns_to_time(e.ts_event), e.symbol, uid, e.ts_event, e.ts_init, e.price, e.size,
            e.aggressor, e.trade_id, e.venue, e.unreported, e.conditions)


def _bar(e: Bar, src: Source) -> Row:
    return (ns_to_time(e.start_ns), e.symbol, e.bar_id, e.start_ns, e.ts_event, e.ts_init,
            e.open, e.high, e.low, e.close, e.volume, e.trade_count, e.vwap)


def _vpin(e: VpinReading, src: Source) -> Row:
    return (ns_to_time(e.ts_event), e.symbol, e.bucket, e.ts_event, e.ts_init, e.bucket_volume,
            e.buy_volume, e.sell_volume, e.vpin, e.vpin_cdf)


def _microstructure(e: MicrostructureFeatures, src: Source) -> Row:
    return (ns_to_time(e.ts_event), e.symbol, e.ts_event, e.ts_init, e.spread, e.mid,
            e.microprice, e.imbalance_1, e.imbalance_5, e.imbalance_10, e.bid_depth,
            e.ask_depth, e.pressure)


def _alert(e: Alert, src: Source) -> Row:
    return (ns_to_time(e.ts_event), e.alert_id, e.state, e.ts_event, e.ts_init, e.kind,
            e.severity, e.symbol, e.message, Jsonb(e.values, dumps=_json))


def _json(values: object) -> str:
    return orjson.dumps(values).decode()


def _health(e: EngineHealth, src: Source) -> Row:
    return (ns_to_time(e.ts_event), e.engine, e.worker, e.ts_event, e.ts_init, e.status, e.lag,
            e.events_in, e.events_out, e.errors, e.dead_letters, e.last_event_ts)


def _dead_letter(e: DeadLetter, src: Source) -> Row:
    key = base64.b64decode(e.key_b64) if e.key_b64 is not None else None
    return (e.source_topic, e.source_partition, e.source_offset, ns_to_time(e.ts_event),
            e.ts_event, e.ts_init, e.reason, key, base64.b64decode(e.value_b64))


TABLES: dict[str, Table] = {
    "Trade": Table(
        "trades",
        ("time", "symbol", "trade_uid", "ts_event", "ts_init", "price", "size", "aggressor",
         "trade_id", "venue", "unreported", "conditions"),
        ("symbol", "time", "trade_uid"), "nothing", _trade),  # type: ignore[arg-type]
    "Bar": Table(
        "bars_1m",
        ("time", "symbol", "bar_id", "start_ns", "ts_event", "ts_init", "open", "high", "low",
         "close", "volume", "trade_count", "vwap"),
        ("symbol", "time"), "update", _bar),  # type: ignore[arg-type]
    "VpinReading": Table(
        "vpin_readings",
        ("time", "symbol", "bucket", "ts_event", "ts_init", "bucket_volume", "buy_volume",
         "sell_volume", "vpin", "vpin_cdf"),
        ("symbol", "bucket", "time"), "nothing", _vpin),  # type: ignore[arg-type]
    "MicrostructureFeatures": Table(
        "microstructure_features",
        ("time", "symbol", "ts_event", "ts_init", "spread", "mid", "microprice", "imbalance_1",
         "imbalance_5", "imbalance_10", "bid_depth", "ask_depth", "pressure"),
        ("symbol", "time"), "nothing", _microstructure),  # type: ignore[arg-type]
    "Alert": Table(
        "alerts",
        ("time", "alert_id", "state", "ts_event", "ts_init", "kind", "severity", "symbol",
         "message", "values"),
        ("alert_id", "state", "time"), "nothing", _alert),  # type: ignore[arg-type]
    "EngineHealth": Table(
        "engine_health",
        ("time", "engine", "worker", "ts_event", "ts_init", "status", "lag", "events_in",
         "events_out", "errors", "dead_letters", "last_event_ts"),
        ("engine", "worker", "time"), "nothing", _health),  # type: ignore[arg-type]
    "DeadLetter": Table(
        "dead_letters",
        ("source_topic", "source_partition", "source_offset", "time", "ts_event", "ts_init",
         "reason", "key", "value"),
        ("source_topic", "source_partition", "source_offset", "time"), "nothing",
        _dead_letter),  # type: ignore[arg-type]
}


@dataclass(frozen=True, slots=True)
class Route:
    """A topic the sink reads: the value model its records are validated against, and where
    they go."""

    topic: str
    model: str
    table: Table


def catalog_routes(catalog: Catalog) -> list[Route]:
    """Every catalog topic whose value model has a table."""
    return [Route(t.name, t.value, TABLES[t.value]) for t in catalog if t.value in TABLES]
