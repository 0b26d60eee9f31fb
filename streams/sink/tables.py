"""Which table each value model goes to, its columns and key, and how one record becomes a row.

Table name, key, conflict action and time column come from the model's storage descriptor
(`Model.STORED`, streams/schema/storage.py); nothing here names them again. A `Table` adds
the columns in COPY order and the row builder. Most models are stored as they are on the
wire: `time` (from the descriptor's `time_from`) and every field but `schema_version`, under
the field's name, dicts as jsonb (`generic_shape`). Models with a row shape of their own
(trades' `trade_uid`, bars without `interval`, health without `params`, dead letters' bytes)
are in ROW_SHAPES. On a conflict on the key, `nothing` keeps the stored row (a re-delivered
record is the same record) and `update` replaces it with the later version (bars that a late
correction re-emits); an `update` whose values equal the stored row's in every column but
`ts_init` changes nothing: the row keeps the ts_init of the version that first had those
values (see writer.upsert_sql). The hot topics' tables (FRAMES: trades) also build a whole
batch's rows at once from Arrow's reading of it (`Table.frame`): the values `row` gives.
"""

from __future__ import annotations

import base64
import operator
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from psycopg.types.json import Jsonb

from streams.catalog import Catalog
from streams.schema import (
    MODELS,
    STORED,
    Bar,
    DeadLetter,
    EngineHealth,
    Event,
    Trade,
)
from streams.schema.storage import TIME_COLUMN

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Source(NamedTuple):
    """Where a record came from on the log (a tuple: one is made per record)."""

    topic: str
    partition: int
    offset: int


Row = tuple[object, ...]


class Sources(NamedTuple):
    """Where each record of one topic's batch came from (arrays in the batch's order)."""

    topic: str
    partitions: np.ndarray
    offsets: np.ndarray


FrameBuilder = Callable[[pa.Table, Sources], "pa.Table | None"]
"""Records of one topic's batch (as `codec.decode_table` read them, all valid) -> the table's
rows as Arrow columns in COPY order, the values `Table.row` gives for the same records; None
where it cannot tell them that way (each record then takes `row`)."""


@dataclass(frozen=True, slots=True, eq=False)
class Table:
    """A sink table: name, columns in COPY order, primary key, conflict action, row builder,
    and the builder of a whole batch's rows where the table has one (`frame`). Compared and
    hashed by identity (one instance per table, a dict key once per record)."""

    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    on_conflict: Literal["nothing", "update"]
    row: Callable[[Event, Source], Row]
    frame: FrameBuilder | None = None


def ns_to_time(ns: int) -> datetime:
    """ns since the epoch -> UTC datetime truncated to microseconds (ns_to_timestamptz())."""
    return EPOCH + timedelta(0, 0, ns // 1000)  # positional: twice as fast as microseconds=...


def _trade(e: Trade, src: Source) -> Row:
    uid = e.trade_id or f"{src.topic}/{src.partition}/{src.offset}"
    return (ns_to_time(e.ts_event), e.symbol, uid, e.ts_event, e.ts_init, e.price, e.size,
            e.aggressor, e.trade_id, e.venue, e.unreported, e.conditions)


# A price as written that PostgreSQL's numeric reads as exactly the Decimal the model makes
# of it (digits, scale and all); any other text (an exponent, a sign, blanks) takes `row`.
_PLAIN_DECIMAL = r"^[0-9]+(\.[0-9]+)?$"
_TEXT = pa.string()


def _trade_frame(records: pa.Table, sources: Sources) -> pa.Table | None:
    """`_trade` for a whole batch: the same trade_uid rule (the trade id unless empty)."""
    n = records.num_rows
    price = records["price"]
    if pa.types.is_int64(price.type):
        price = pc.cast(price, _TEXT)
    elif not pc.all(pc.match_substring_regex(price, _PLAIN_DECIMAL)).as_py():
        return None
    ts_event = records["ts_event"]
    trade_id = _text_or_null(records, "trade_id")
    fallback = pc.binary_join_element_wise(
        sources.topic, pc.cast(pa.array(sources.partitions), _TEXT),
        pc.cast(pa.array(sources.offsets), _TEXT), "/")
    has_id = pc.fill_null(pc.greater(pc.utf8_length(trade_id), 0), False)
    unreported = (records["unreported"] if "unreported" in records.column_names
                  else pa.array(np.zeros(n, np.bool_)))
    return pa.table([
        pc.cast(pc.divide(ts_event, 1000), pa.timestamp("us")), records["symbol"],
        pc.if_else(has_id, trade_id, fallback), ts_event, records["ts_init"], price,
        records["size"], _text_or_null(records, "aggressor"), trade_id,
        _text_or_null(records, "venue"), unreported, _text_or_null(records, "conditions"),
    ], names=list(ROW_SHAPES[Trade][0]))


def _text_or_null(records: pa.Table, field: str) -> pa.ChunkedArray | pa.Array:
    """An optional text field's column; nulls where no record has it."""
    if field not in records.column_names:
        return pa.nulls(records.num_rows, _TEXT)
    return pc.cast(records[field], _TEXT)  # a column of nulls only is Arrow's null type


def _bar(e: Bar, src: Source) -> Row:
    return (ns_to_time(e.start_ns), e.symbol, e.bar_id, e.start_ns, e.ts_event, e.ts_init,
            e.open, e.high, e.low, e.close, e.volume, e.trade_count, e.vwap)


def _json(values: object) -> str:
    return orjson.dumps(values).decode()


def _health(e: EngineHealth, src: Source) -> Row:
    return (ns_to_time(e.ts_event), e.engine, e.worker, e.ts_event, e.ts_init, e.status, e.lag,
            e.events_in, e.events_out, e.errors, e.dead_letters, e.last_event_ts, e.restarts)


def _dead_letter(e: DeadLetter, src: Source) -> Row:
    key = base64.b64decode(e.key_b64) if e.key_b64 is not None else None
    return (e.source_topic, e.source_partition, e.source_offset, ns_to_time(e.ts_event),
            e.ts_event, e.ts_init, e.reason, key, base64.b64decode(e.value_b64))


RowShape = tuple[tuple[str, ...], Callable[[Event, Source], Row]]
"""Columns in COPY order, and the function making a record's row in that order."""

ROW_SHAPES: dict[type[Event], RowShape] = {
    Trade: (("time", "symbol", "trade_uid", "ts_event", "ts_init", "price", "size", "aggressor",
             "trade_id", "venue", "unreported", "conditions"), _trade),  # type: ignore[dict-item]
    Bar: (("time", "symbol", "bar_id", "start_ns", "ts_event", "ts_init", "open", "high", "low",
           "close", "volume", "trade_count", "vwap"), _bar),  # type: ignore[dict-item]
    EngineHealth: (("time", "engine", "worker", "ts_event", "ts_init", "status", "lag",
                    "events_in", "events_out", "errors", "dead_letters", "last_event_ts",
                    "restarts"),
                   _health),  # type: ignore[dict-item]
    DeadLetter: (("source_topic", "source_partition", "source_offset", "time", "ts_event",
                  "ts_init", "reason", "key", "value"), _dead_letter),  # type: ignore[dict-item]
}


def generic_shape(model: type[Event]) -> RowShape:
    """`time` from the descriptor's `time_from`, then every wire field but `schema_version`
    under its own name; fields holding a dict go to jsonb."""
    stored = model.STORED
    assert stored is not None, f"{model.__name__} is not stored"
    fields = tuple(f for f in model.model_fields if f != "schema_version")
    values = operator.attrgetter(*fields)
    to_time = operator.attrgetter(stored.time_from)
    jsonb = [i for i, f in enumerate(fields) if _holds_dict(model.model_fields[f].annotation)]

    def row(e: Event, src: Source) -> Row:
        out = [ns_to_time(to_time(e)), *values(e)]
        for i in jsonb:
            if out[i + 1] is not None:
                out[i + 1] = Jsonb(out[i + 1], dumps=_json)
        return tuple(out)

    return (TIME_COLUMN, *fields), row


def _holds_dict(annotation: object) -> bool:
    if typing.get_origin(annotation) is dict or annotation is dict:
        return True
    return any(_holds_dict(arg) for arg in typing.get_args(annotation))


FRAMES: dict[type[Event], FrameBuilder] = {Trade: _trade_frame}
"""Models whose batches are turned into rows a batch at a time (the hot topics)."""


def _table(model: type[Event]) -> Table:
    stored = model.STORED
    assert stored is not None
    columns, row = ROW_SHAPES.get(model) or generic_shape(model)
    return Table(stored.table, columns, stored.key, stored.on_conflict, row, FRAMES.get(model))


TABLES: dict[str, Table] = {name: _table(MODELS[name]) for name in STORED}
"""Model name -> its table, for every stored model."""


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
