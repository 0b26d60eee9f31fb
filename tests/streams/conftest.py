"""Fixtures the tests under tests/streams share: the symbols of a factor model's inputs
written to the database (`factors model --from-database` / `--from-prices`)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.api.data import unique_symbol

# what the factor model reads: 1-minute bars and their rollups, and vendors' daily prices
FACTOR_INPUT_TABLES = ("bars_1m", "bars_5m", "bars_1h", "bars_1d", "daily_prices")


@pytest.fixture
def symbols(any_database_url: str) -> Iterator[list[str]]:
    """Six new symbols, sorted; their rows of FACTOR_INPUT_TABLES deleted afterwards."""
    yield from _symbols_deleted_after(any_database_url)


@pytest.fixture
def postgres_symbols(database_url: str) -> Iterator[list[str]]:
    """As `symbols`, on plain PostgreSQL only."""
    yield from _symbols_deleted_after(database_url)


def _symbols_deleted_after(database_url: str) -> Iterator[list[str]]:
    names = sorted(unique_symbol("F") for _ in range(6))
    yield names
    with psycopg.connect(database_url) as conn:
        for table in FACTOR_INPUT_TABLES:
            kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)",
                                (table,)).fetchone()
            if kind and kind[0] == "r":  # a table (the rollups are views on TimescaleDB)
                conn.execute(f"DELETE FROM {table} WHERE symbol = ANY(%s)", (names,))
