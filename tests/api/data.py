"""Committed rows for API tests, written through the sink's real writer, for symbols unique to
each test and deleted afterwards (the API reads through its own connection pool)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import psycopg

from streams.schema import Event
from streams.sink.tables import TABLES, Source
from streams.sink.writer import TableRows, Writer

SYMBOL_TABLES = ("trades", "bars_1m", "bars_5m", "bars_1h", "bars_1d", "vpin_readings",
                 "microstructure_features", "alerts", "fundamentals", "filings", "daily_prices")


def unique_symbol(prefix: str = "A") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8].upper()}"


def utc_ns(moment: str) -> int:
    """An ISO-8601 instant with its offset as ns since the epoch."""
    return int(datetime.fromisoformat(moment).timestamp()) * 1_000_000_000


def day_ns(day: str) -> int:
    """The start of `day` (ISO, UTC) in ns since the epoch: when a macro vintage or a filing
    of that day became known, where its source gives no time."""
    start = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)
    return int(start.timestamp()) * 1_000_000_000


def write(database_url: str, *events: Event) -> None:
    """Write events as the sink would (one batch, one transaction)."""
    batch: dict = {}
    for i, e in enumerate(events):
        table = TABLES[type(e).__name__]
        batch.setdefault(table, TableRows()).add(table.row(e, Source("test", 0, i)))
    writer = Writer(database_url)
    try:
        assert writer.write(batch) == {}
    finally:
        writer.close()


@contextmanager
def cleanup(database_url: str, symbols: list[str], engines: list[str] = ()) -> Iterator[None]:
    """Delete every row of these symbols (and engines' health) afterwards."""
    try:
        yield
    finally:
        with psycopg.connect(database_url) as conn:
            for table in SYMBOL_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE symbol = ANY(%s)", (symbols,))
            conn.execute("DELETE FROM engine_health WHERE engine = ANY(%s)", (list(engines),))
