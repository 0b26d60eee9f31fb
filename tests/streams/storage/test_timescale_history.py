"""The TimescaleDB branch over a database's life, each test on a TimescaleDB of its own (PGlite,
tests/pglite): retention dropping 1-minute bars under materialized rollups, the rollups'
compression and retention, a policy change the database refuses, and a database that went
through migration 0006, compressed chunks, then 0007, taking re-delivered rows. Background
jobs do not run there by themselves; the tests run them with `CALL run_job`."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from streams.exceptions import StorageError
from streams.schema import Event
from streams.sink.tables import TABLES, Source
from streams.sink.writer import TableRows, Writer
from streams.storage import migrate as migrations
from streams.storage import timescale
from tests.api.data import write
from tests.factories import MINUTE_NS, event
from tests.streams.sink.test_rollups import assert_rollups, make_bars
from tests.streams.storage.test_migrate import db_cli

DAY_NS = 24 * 60 * MINUTE_NS
HYPERTABLES = ("alerts", "bars_1m", "engine_health", "microstructure_features", "trades",
               "vpin_readings")
ROLLUPS = ("bars_5m", "bars_1h", "bars_1d")


def days_ago(days: int) -> int:
    """UTC midnight `days` days before today, in ns."""
    return (time.time_ns() // DAY_NS - days) * DAY_NS


def run_job(url: str, proc: str, relation: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT job_id FROM timescaledb_information.jobs"
                           " WHERE proc_name = %s AND hypertable_name = %s",
                           (proc, relation)).fetchone()
        assert row is not None, f"no {proc} job on {relation}"
        conn.execute("CALL run_job(%s)", row)


def count(url: str, table: str, symbol: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE symbol = %s", (symbol,)
                           ).fetchone()
    assert row is not None
    return int(row[0])


def jobs(url: str) -> list[tuple[str, str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT proc_name::text, hypertable_name::text, config::text"
                            " FROM timescaledb_information.jobs WHERE hypertable_name"
                            " IS NOT NULL ORDER BY 1, 2").fetchall()


def test_refresh_rollups_keeps_the_rollups_of_minute_bars_retention_dropped(
    fresh_timescale_url: str, base_env: dict[str, str]
) -> None:
    url = fresh_timescale_url
    assert db_cli(url, base_env, "migrate").returncode == 0
    old = make_bars("OLD", 30 * 60, seed=7, first_ns=days_ago(500))
    recent = make_bars("RECENT", 30 * 60, seed=8, first_ns=days_ago(10))
    write(url, *old, *recent)
    first = db_cli(url, base_env, "refresh-rollups")  # nothing dropped yet: all history
    assert first.returncode == 0, first.stderr
    assert_rollups(url, "OLD", old)
    keep = db_cli(url, base_env, "migrate", NAUTILUS_STORAGE_READING_RETENTION="400d")
    assert keep.returncode == 0, keep.stderr

    run_job(url, "policy_retention", "bars_1m")

    assert count(url, "bars_1m", "OLD") == 0 and count(url, "bars_1m", "RECENT") == len(recent)
    # a correction 10 days back, older than every refresh policy's window but bars_1d's
    corrected = recent[3].model_copy(update={"volume": recent[3].volume + 100})
    write(url, corrected)
    fixed = [*recent[:3], corrected, *recent[4:]]
    for retention in ("400d", "off"):  # and once retention is switched off again
        refresh = db_cli(url, base_env, "refresh-rollups",
                         NAUTILUS_STORAGE_READING_RETENTION=retention)
        assert refresh.returncode == 0, refresh.stderr
        assert_rollups(url, "OLD", old)  # materialized before the drop, kept
        assert_rollups(url, "RECENT", fixed)  # the refresh still folds in corrections


def test_rollups_old_chunks_are_compressed_and_dropped_after_the_rollup_retention(
    fresh_timescale_url: str
) -> None:
    url = fresh_timescale_url
    migrations.migrate(url)
    ancient = make_bars("ANCIENT", 3 * 60, seed=9, first_ns=days_ago(800))
    old = make_bars("OLD", 3 * 60, seed=10, first_ns=days_ago(500))
    write(url, *ancient, *old)
    timescale.configure(url, timescale.Horizons(), materialize=True)
    timescale.configure(url, timescale.Horizons(
        compress_after=timedelta(days=3), reading_retention=timedelta(days=400),
        rollup_retention=timedelta(days=600)))

    for view in ROLLUPS:
        run_job(url, "policy_compression", view)
        run_job(url, "policy_retention", view)

    horizons = {(proc, relation): json.loads(config).get(option)
                for proc, relation, config in jobs(url) if relation in ROLLUPS
                for option in ("compress_after", "drop_after") if option in config}
    # compressed once older than compress_after and than the aggregate's refresh window
    assert horizons == {
        ("policy_compression", "bars_5m"): "3 days", ("policy_compression", "bars_1h"): "7 days",
        ("policy_compression", "bars_1d"): "35 days",
        **{("policy_retention", view): "600 days" for view in ROLLUPS},
    }
    with psycopg.connect(url) as conn:
        compressed = conn.execute(
            "SELECT c.view_name::text, bool_and(k.is_compressed), count(*)"
            " FROM timescaledb_information.continuous_aggregates AS c"
            " JOIN timescaledb_information.chunks AS k"
            "   ON k.hypertable_name = c.materialization_hypertable_name"
            " GROUP BY 1 ORDER BY 1").fetchall()
    assert compressed == [(view, True, 1) for view in sorted(ROLLUPS)]  # OLD's chunk only
    assert [count(url, view, "ANCIENT") for view in ROLLUPS] == [0, 0, 0]
    assert_rollups(url, "OLD", old)  # read back from compressed chunks


def test_a_policy_change_the_database_refuses_leaves_every_policy_as_it_was(
    fresh_timescale_url: str
) -> None:
    url = fresh_timescale_url
    migrations.migrate(url)
    timescale.configure(url, timescale.Horizons())
    with psycopg.connect(url, autocommit=True) as conn:  # someone turned one table's off
        conn.execute("SELECT remove_compression_policy('vpin_readings')")
        conn.execute("ALTER TABLE vpin_readings SET (timescaledb.compress = false)")
    before = jobs(url)

    with pytest.raises(StorageError, match='columnstore not enabled on hypertable "vpin_'):
        timescale.configure(url, timescale.Horizons(compress_after=timedelta(days=3),
                                                    tick_retention=timedelta(days=30)))

    assert jobs(url) == before


def migrations_until(version: int, directory: Path) -> Path:
    """A migrations directory holding the shipped migrations up to `version`."""
    for migration in migrations.load():
        if migration.version <= version:
            shutil.copy(migrations.MIGRATIONS_DIR / f"{migration.label}.sql", directory)
    return directory


def one_of_each(first_ns: int) -> list[Event]:
    """Rows for every hypertable over an hour from `first_ns`: three symbols, two engines."""
    events: list[Event] = []
    for s, symbol in enumerate(("AAA", "BBB", "CCC")):
        for i in range(30):
            ts = first_ns + i * MINUTE_NS + s
            events += [
                event("Trade", symbol=symbol, trade_id=f"{symbol}-{ts}", ts_event=ts,
                      ts_init=ts),
                event("Bar", symbol=symbol, bar_id=f"{symbol}@1m@{ts - s}", start_ns=ts - s,
                      ts_event=ts - s + MINUTE_NS, ts_init=ts - s + MINUTE_NS),
                event("VpinReading", symbol=symbol, bucket=first_ns // MINUTE_NS + i,
                      ts_event=ts, ts_init=ts),
                event("MicrostructureFeatures", symbol=symbol, ts_event=ts, ts_init=ts),
                event("Alert", symbol=symbol, alert_id=f"{symbol}-{ts}",
                      kind=("vpin", "spread")[i % 2], ts_event=ts, ts_init=ts),
                event("EngineHealth", engine=("vpin", "bars")[s % 2], worker=f"w{s}",
                      ts_event=ts, ts_init=ts, last_event_ts=ts),
            ]
    return events


def compress_everything(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for table in HYPERTABLES:
            conn.execute("SELECT compress_chunk(c, if_not_compressed => true)"
                         " FROM show_chunks(%s) AS c", (table,))


def rowstore(url: str) -> dict[str, list[str]]:
    """Per hypertable, the symbols (or engines) of rows in the uncompressed part of its
    compressed chunks: rows that a write decompressed."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(url) as conn:
        chunks = conn.execute("SELECT hypertable_name, chunk_schema, chunk_name"
                              " FROM timescaledb_information.chunks WHERE is_compressed"
                              " AND hypertable_schema = current_schema()").fetchall()
        for table, schema, chunk in chunks:
            who = "engine" if table == "engine_health" else "symbol"
            rows = conn.execute(f'SELECT DISTINCT {who} FROM ONLY "{schema}"."{chunk}"'
                                " ORDER BY 1").fetchall()
            if rows:
                found.setdefault(table, []).extend(r[0] for r in rows)
    return found


def contents(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY ts_event, 2, 3").fetchall()
                for table in HYPERTABLES}


def write_as_of_0006(url: str, *events: Event) -> None:
    """Write as the sink did when 0006 was the newest migration: trades without the flag
    columns that 0009 added, health reports without the restarts that 0016 added."""
    trade, health = TABLES["Trade"], TABLES["EngineHealth"]
    old = {
        trade: dataclasses.replace(trade, columns=trade.columns[:-2],
                                   row=lambda e, src: trade.row(e, src)[:-2]),
        health: dataclasses.replace(health, columns=health.columns[:-1],
                                    row=lambda e, src: health.row(e, src)[:-1]),
    }
    batch: dict = {}
    for i, e in enumerate(events):
        table = TABLES[type(e).__name__]
        table = old.get(table, table)
        batch.setdefault(table, TableRows()).add(table.row(e, Source("test", 0, i)))
    writer = Writer(url)
    try:
        assert writer.write(batch) == {}
    finally:
        writer.close()


def test_redelivery_into_compressed_chunks_decompresses_nothing_in_any_table(
    fresh_timescale_url: str, tmp_path: Path
) -> None:
    url = fresh_timescale_url
    migrations.migrate(url, migrations_until(6, tmp_path))  # a database as 0006 left it
    before = one_of_each(days_ago(40))
    write_as_of_0006(url, *before)
    compress_everything(url)
    migrations.migrate(url)  # then this code's migrations and policies
    timescale.configure(url, timescale.Horizons())
    after = one_of_each(days_ago(30))
    write(url, *after)
    compress_everything(url)
    stored = contents(url)

    write(url, *before, *after)  # re-delivered into chunks compressed before and after 0007

    assert rowstore(url) == {}
    assert contents(url) == stored
    bar = next(e for e in after if e.__class__.__name__ == "Bar" and e.symbol == "BBB")
    write(url, bar.model_copy(update={"close": Decimal(bar.close) + 1,
                                      "high": Decimal(bar.high) + 1}))
    assert rowstore(url) == {"bars_1m": ["BBB"]}  # the corrected symbol's batch only
