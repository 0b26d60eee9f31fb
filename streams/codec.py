"""Wire codec: JSON (orjson), and whole batches as numpy columns for every catalog model.

`encode` / `decode` handle one record of any catalog model. `decode_columns` turns a batch of
raw values straight into columns, laid out as streams/schema/columns.py declares (Trade: price
float64 + price_scale int8, aggressor int8 via SIDE_CODES; DepthSnapshot: (n, 10) level
matrices, NaN / 0 where a level is missing; every `Side` field int8; optional floats and
prices NaN where None; text, optional ints, lists and dicts object arrays). The batch is
read by Arrow and checked column by column (streams/columnar.py); the records any check
doubts, and only those, go through the per-row path, each validated by its pydantic model,
and those that fail come back as `Rejected` with a named reason, so the caller can
dead-letter them and go on; the others keep their places among the rows. A batch Arrow
cannot tell anything of is retried a chunk at a time. `event_columns` lays model objects out
the same way.
"""

from __future__ import annotations

import base64
import functools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from streams.cells import MAX_PRICE_SCALE, Columns, model_columns, price_scale, price_scales
from streams.columnar import arrow_rows, arrow_table
from streams.exceptions import DecodeError
from streams.schema import DeadLetter, Event
from streams.schema.base import INT64_MAX, INT64_MIN
from streams.schema.columns import LAYOUTS, SIDE_CODES, Kind, Layout

__all__ = [
    "MAX_PRICE_SCALE", "SIDE_CODES", "Columns", "Rejected", "dead_letter",
    "decode", "decode_columns", "decode_table", "encode", "event_columns", "price_scale",
    "price_scales",
]

# A batch Arrow cannot tell anything of (bad JSON it cannot place, in a batch of several parse
# blocks) is retried a chunk at a time: each of one block, in which such a record is found.
CHUNK_ROWS = 4096
# A large batch (a topic replay's) is decoded in pieces, two at once: while one holds the
# interpreter (joining bytes, laying out columns), Arrow parses the other (each piece on one
# thread: Arrow's own threads on top made it a third slower on two cores).
PIECE_ROWS = 65_536
DECODE_THREADS = 2
SHOWN_CHARS = 80  # of a bad value, in its record's reason
# What a dead letter keeps of its record's key and value: a letter must fit in one record of
# the log (about 1 MB on Kafka, Redpanda and Faust's producer; base64 takes 4/3 of the
# bytes), and a longer value is garbage whose start is what tells what it was. The whole
# record stays at the letter's source offset while the source topic retains it.
DEAD_LETTER_KEY_BYTES = 1024
DEAD_LETTER_VALUE_BYTES = 256 * 1024
REASON_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record of a batch that could not be decoded: its index in the batch and why."""

    index: int
    reason: str


def encode(event: Event) -> bytes:
    """Serialize a model to its wire bytes (JSON; prices as decimal strings)."""
    return event.__pydantic_serializer__.to_json(event)


def decode(model_name: str, raw: bytes) -> Event:
    """Validate wire bytes against a catalog model; raises DecodeError with a reason."""
    layout = _layout(model_name)
    try:
        return layout.model.model_validate_json(raw)
    except ValidationError as exc:
        raise DecodeError(_reason(layout, exc)) from exc


def dead_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    reason: str,
    ts_event: int,
    ts_init: int,
) -> DeadLetter:
    """The logic.deadletter record for one bad input record: its key and value, cut to
    their first DEAD_LETTER_KEY_BYTES / DEAD_LETTER_VALUE_BYTES (the reason says so), and the
    reason cut to REASON_CHARS."""
    value = value or b""
    cuts = [f"{name} cut to its first {limit:,} of {len(data):,} bytes"
            for name, data, limit in (("key", key or b"", DEAD_LETTER_KEY_BYTES),
                                      ("value", value, DEAD_LETTER_VALUE_BYTES))
            if len(data) > limit]
    if cuts:
        note = "; " + "; ".join(cuts)
        reason = reason[:REASON_CHARS - len(note)] + note
    return DeadLetter(
        ts_event=ts_event,
        ts_init=ts_init,
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        reason=reason[:REASON_CHARS],
        key_b64=base64.b64encode(key[:DEAD_LETTER_KEY_BYTES]).decode() if key is not None
        else None,
        value_b64=base64.b64encode(value[:DEAD_LETTER_VALUE_BYTES]).decode(),
    )


def decode_columns(model_name: str, values: Sequence[bytes]) -> tuple[Columns, list[Rejected]]:
    """Decode a batch of values of any catalog model into columns; bad rows are returned, not
    raised. No model object is built but for the records a column check doubts. A batch of
    more than PIECE_ROWS records is decoded in pieces of at most that, on DECODE_THREADS
    threads."""
    layout = _layout(model_name)
    n = len(values)
    if n <= PIECE_ROWS:
        return _decode_piece(layout, values, threads=True)
    pieces = DECODE_THREADS * -(-n // (DECODE_THREADS * PIECE_ROWS))  # even work per thread
    size = -(-n // pieces)
    starts = range(0, n, size)
    decoded = _pool().map(
        lambda start: _decode_piece(layout, values[start:start + size], threads=False), starts)
    return _joined(list(zip(starts, decoded, strict=True)))


def _decode_piece(layout: Layout, values: Sequence[bytes], *, threads: bool
                  ) -> tuple[Columns, list[Rejected]]:
    """`decode_columns` of one piece: all at once, or a chunk at a time where Arrow cannot
    tell anything of it as a whole (`threads` as in `arrow_rows`)."""
    decoded = arrow_rows(layout, values, threads=threads)
    if decoded is not None or len(values) <= CHUNK_ROWS:
        return _with_doubtful(layout, values, decoded)
    return _joined([(start, _with_doubtful(layout, chunk,
                                           arrow_rows(layout, chunk, threads=threads)))
                    for start in range(0, len(values), CHUNK_ROWS)
                    for chunk in [values[start:start + CHUNK_ROWS]]])


def _joined(parts: list[tuple[int, tuple[Columns, list[Rejected]]]]
            ) -> tuple[Columns, list[Rejected]]:
    """Decoded parts of a batch (each with where it starts) as one."""
    columns = {name: np.concatenate([part[name] for _, (part, _) in parts])
               for name in parts[0][1][0]}
    return columns, [Rejected(start + r.index, r.reason) for start, (_, bad) in parts
                     for r in bad]


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="decode")


os.register_at_fork(after_in_child=_pool.cache_clear)  # a forked child has none of its threads


def decode_table(model_name: str, values: Sequence[bytes]) -> pa.Table | None:
    """A batch of values as Arrow's table of the records as written (a price's text, not its
    float), when every record is valid as `decode_columns` checks them; None where any may be
    bad: `decode` each record to tell which."""
    checked = arrow_table(_layout(model_name), values)
    return None if checked is None else checked[0]


def event_columns(model_name: str, events: Sequence[Event]) -> Columns:
    """Model objects as columns, exactly as `decode_columns` lays out their wire records."""
    return model_columns(_layout(model_name), events)


def _layout(model_name: str) -> Layout:
    try:
        return LAYOUTS[model_name]
    except KeyError:
        raise DecodeError(f"unknown value model {model_name!r}") from None


def _decode_rows(layout: Layout, values: Sequence[bytes]) -> tuple[Columns, list[Rejected]]:
    """Each record validated by the model itself; the bad ones named."""
    validate = layout.model.model_validate_json
    events: list[Event] = []
    rejected: list[Rejected] = []
    for i, raw in enumerate(values):
        try:
            events.append(validate(raw))
        except ValidationError as exc:
            rejected.append(Rejected(i, _reason(layout, exc)))
    return model_columns(layout, events), rejected


def _with_doubtful(
    layout: Layout, values: Sequence[bytes], decoded: tuple[Columns, np.ndarray] | None
) -> tuple[Columns, list[Rejected]]:
    """`arrow_rows`' columns with its doubtful records decoded per row, those the model
    accepts in their places; every record per row where it gave nothing."""
    if decoded is None:
        return _decode_rows(layout, values)
    columns, doubtful = decoded
    if not len(doubtful):
        return columns, []
    by_row, bad = _decode_rows(layout, [values[i] for i in doubtful.tolist()])
    accepted = np.delete(doubtful, [r.index for r in bad])
    fast = np.delete(np.arange(len(values)), doubtful)
    order = np.argsort(np.concatenate([fast, accepted]), kind="stable")
    merged = {name: np.concatenate([column, by_row[name]])[order]
              for name, column in columns.items()}
    return merged, [Rejected(int(doubtful[r.index]), r.reason) for r in bad]


def _reason(layout: Layout, exc: ValidationError) -> str:
    """A bad record's first errors, each naming the field and what it must be."""
    return "; ".join(_error_reason(layout, e) for e in exc.errors(include_url=False)[:3])


def _error_reason(layout: Layout, error: ErrorDetails) -> str:
    kind, loc = error["type"], error["loc"]
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "json_invalid":
        return f"invalid JSON: {error['ctx']['error']}"
    if kind == "model_type":
        return "not a JSON object"
    if not loc:  # a model validator's own message
        return message
    where = str(loc[0]) + "".join(f"[{part}]" for part in loc[1:])
    if kind == "missing":
        return f"missing field {where!r}"
    if kind == "extra_forbidden":
        return f"unknown field {where!r}"
    column = layout.by_field.get(str(loc[0]))
    if column is None or column.kind is Kind.OBJECT:
        return f"{where}: {message}"
    expects = column.expects(item=len(loc) > 1)
    bound = error.get("ctx", {})
    if bound.get("le") == INT64_MAX or bound.get("ge") == INT64_MIN:
        expects += " within int64"
    why = f" ({message})" if kind == "value_error" else ""  # a field validator's own words
    return f"{where} must be {expects}, got {_shown(error['input'])}{why}"


def _shown(value: object) -> str:
    """A bad value as a reason shows it: its repr, cut short (a reason is logged, and a
    record may carry a megabyte of it)."""
    text = repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    return f"{text[:SHOWN_CHARS]}... ({len(text):,} characters)"
