"""The writer's upserts on both databases: a later version of a bar replaces the row, and a
version equal to the stored one (re-delivered, or re-emitted with a newer ts_init) leaves the
row untouched: same xmin, no new row version, no invalidation of the rollups above it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest

from tests.api.data import write
from tests.factories import MINUTE_NS, T0, event


@pytest.fixture
def symbol(any_database_url: str) -> Iterator[str]:
    name = f"W{uuid.uuid4().hex[:8].upper()}"
    yield name
    with psycopg.connect(any_database_url) as conn:
        conn.execute("DELETE FROM bars_1m WHERE symbol = %s", (name,))


def stored(url: str, symbol: str) -> tuple[int, int, Decimal]:
    """The bar's row version (xmin), its ts_init and its close."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT xmin::text::bigint, ts_init, close FROM bars_1m"
                           " WHERE symbol = %s", (symbol,)).fetchone()
    assert row is not None
    return row


def test_an_unchanged_bar_is_not_rewritten_and_a_changed_one_is(
    any_database_url: str, symbol: str
) -> None:
    start = T0 + 7 * MINUTE_NS
    bar = event("Bar", symbol=symbol, bar_id=f"{symbol}@1m@{start}", start_ns=start,
                ts_event=start + MINUTE_NS, ts_init=start + MINUTE_NS + 5)
    write(any_database_url, bar)
    first = stored(any_database_url, symbol)

    write(any_database_url, bar)  # re-delivered
    write(any_database_url, bar.model_copy(update={"ts_init": bar.ts_init + 10}))  # re-emitted

    assert stored(any_database_url, symbol) == first
    corrected = bar.model_copy(update={"close": Decimal("101.00"), "ts_init": bar.ts_init + 20})
    write(any_database_url, corrected)
    xmin, ts_init, close = stored(any_database_url, symbol)
    assert xmin != first[0] and (ts_init, close) == (corrected.ts_init, Decimal("101.00"))
