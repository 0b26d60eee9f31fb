"""A consumed batch turned into rows per table, and dead letters for what fails.

Every record is validated against its topic's value model (`codec.decode`); one that fails,
or that the database later refuses, becomes a `DeadLetter` naming its source
topic/partition/offset, the reason and the original bytes.
"""

from __future__ import annotations

import binascii
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from confluent_kafka import Message

from streams import codec
from streams.exceptions import DecodeError
from streams.schema import DeadLetter
from streams.sink.tables import Route, Row, Source, Table

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Batch:
    """Rows per table (with the message each came from, same order) and dead letters."""

    rows: dict[Table, list[Row]] = field(default_factory=dict)
    messages: dict[Table, list[Message]] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return sum(len(rows) for rows in self.rows.values())


def decode_batch(messages: Sequence[Message], routes: Mapping[str, Route], now_ns: int) -> Batch:
    """Validate and map every message; nothing raises for a bad record."""
    batch = Batch()
    for msg in messages:
        topic = msg.topic()
        route = routes[topic]
        try:
            event = codec.decode(route.model, msg.value() or b"")
            row = route.table.row(event, Source(topic, msg.partition(), msg.offset()))
        except (DecodeError, ValueError, binascii.Error) as exc:
            batch.dead_letters.append(to_dead_letter(msg, str(exc), now_ns))
            continue
        table = route.table
        if table in batch.rows:
            batch.rows[table].append(row)
            batch.messages[table].append(msg)
        else:
            batch.rows[table] = [row]
            batch.messages[table] = [msg]
    return batch


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
