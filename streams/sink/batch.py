"""A consumed batch turned into rows per table, and dead letters for what fails.

Every record is validated against its topic's value model. A topic's records whose table
builds rows a batch at a time (`Table.frame`: trades) are read and checked together by Arrow
(`codec.decode_table`, the check the workers' columnar decode makes) and become one Arrow
table of rows; where any of them may be bad, or the frame cannot be built, each of them is
validated by its model (`codec.decode`) and mapped by `Table.row`, as every other topic's
records are. A record that fails, or that the database later refuses, becomes a `DeadLetter`
naming its source topic/partition/offset, the reason and the original bytes.
"""

from __future__ import annotations

import binascii
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from confluent_kafka import Message

from streams import codec
from streams.exceptions import DecodeError
from streams.schema import DeadLetter
from streams.sink.tables import Route, Source, Sources, Table
from streams.sink.writer import TableRows

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Batch:
    """Rows per table (with the message each came from, in the rows' order) and dead
    letters."""

    rows: dict[Table, TableRows] = field(default_factory=dict)
    messages: dict[Table, list[Message]] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())

    def rows_of(self, table: Table) -> tuple[TableRows, list[Message]]:
        if table not in self.rows:
            self.rows[table], self.messages[table] = TableRows(), []
        return self.rows[table], self.messages[table]


def decode_batch(messages: Sequence[Message], routes: Mapping[str, Route], now_ns: int) -> Batch:
    """Validate and map every message; nothing raises for a bad record."""
    by_topic: dict[str, list[Message]] = {}
    for msg in messages:
        by_topic.setdefault(msg.topic(), []).append(msg)
    batch = Batch()
    for topic, consumed in by_topic.items():
        route = routes[topic]
        if route.table.frame is None or not _add_frame(batch, route, consumed):
            _add_records(batch, route, consumed, now_ns)
    return batch


def _add_frame(batch: Batch, route: Route, messages: list[Message]) -> bool:
    """One topic's records as one frame of rows; False (nothing added) where any record may
    be bad or the frame cannot be built."""
    assert route.table.frame is not None
    records = codec.decode_table(route.model, [msg.value() or b"" for msg in messages])
    if records is None:
        return False
    sources = Sources(route.topic, np.array([m.partition() for m in messages], np.int32),
                      np.array([m.offset() for m in messages], np.int64))
    frame = route.table.frame(records, sources)
    if frame is None:
        return False
    rows, sent = batch.rows_of(route.table)
    rows.add_frame(frame)
    sent.extend(messages)
    return True


def _add_records(batch: Batch, route: Route, messages: list[Message], now_ns: int) -> None:
    """Each record validated by its model and mapped by `Table.row`."""
    rows, sent = batch.rows_of(route.table)
    for msg in messages:
        try:
            event = codec.decode(route.model, msg.value() or b"")
            row = route.table.row(event, Source(route.topic, msg.partition(), msg.offset()))
        except (DecodeError, ValueError, binascii.Error) as exc:
            batch.dead_letters.append(to_dead_letter(msg, str(exc), now_ns))
            continue
        rows.add(row)
        sent.append(msg)


def to_dead_letter(msg: Message, reason: str, now_ns: int) -> DeadLetter:
    """The dead letter of one consumed record; its event time is the record's timestamp."""
    _, timestamp_ms = msg.timestamp()
    log.warning("dead-lettered topic=%s partition=%d offset=%d reason=%s",
                msg.topic(), msg.partition(), msg.offset(), reason)
    return codec.dead_letter(
        topic=msg.topic(), partition=msg.partition(), offset=msg.offset(), key=msg.key(),
        value=msg.value(), reason=reason,
        ts_event=timestamp_ms * 1_000_000 if timestamp_ms > 0 else now_ns, ts_init=now_ns,
    )
