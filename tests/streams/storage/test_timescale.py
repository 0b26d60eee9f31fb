"""The TimescaleDB branch (migration 0006, streams/storage/timescale.py) on a real TimescaleDB
(PGlite, tests/pglite): hypertables, continuous aggregates, compression and retention policies
with the configured horizons, run by hand (background jobs do not run there by themselves);
and the plain branch on the embedded PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
import yaml

from api.queries import logic, market
from streams.exceptions import ConfigError
from streams.schema import STORED
from streams.sink.rollups import kept_by_sink
from streams.storage import MIGRATION_LOCK_KEY, policy, timescale
from streams.storage import migrate as migrations
from streams.storage.policy import Horizons, parse_horizon, parse_size
from tests.api.data import write
from tests.factories import MINUTE_NS, T0, event
from tests.streams.sink.conftest import wait_for
from tests.streams.sink.test_rollups import assert_rollups, make_bars
from tests.streams.storage.test_migrate import REPO_ROOT

DAY_NS = 24 * 60 * MINUTE_NS
HYPERTABLES = tuple(sorted(s.table for s in STORED.values() if s.hypertable))
ROLLUPS = ("bars_1d", "bars_1h", "bars_5m")


def mode_of(url: str) -> timescale.StorageMode:
    with psycopg.connect(url) as conn:
        return timescale.describe(conn)


def run_job(url: str, kind: str, relation: str) -> None:
    (job,) = [j for j in mode_of(url).jobs if j.kind == kind and j.relation == relation]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CALL run_job(%s)", (job.job_id,))


def configs(url: str, kind: str) -> dict[str, dict[str, object]]:
    return {j.relation: json.loads(j.config) for j in mode_of(url).jobs if j.kind == kind}


@pytest.fixture
def default_policies(timescale_url: str) -> Iterator[str]:
    """The shared TimescaleDB, its default policies restored after the test."""
    yield timescale_url
    timescale.configure(timescale_url, Horizons())


def test_migrations_make_hypertables_and_real_time_aggregates(timescale_url: str) -> None:
    mode = mode_of(timescale_url)

    assert mode.timescaledb is not None
    assert mode.hypertables == HYPERTABLES  # dead_letters is keyed by record, not time
    assert mode.continuous_aggregates == ROLLUPS
    with psycopg.connect(timescale_url) as conn:
        assert not kept_by_sink(conn)
        flags = conn.execute("SELECT view_name, materialized_only FROM "
                             "timescaledb_information.continuous_aggregates").fetchall()
        segments = dict(conn.execute(
            "SELECT hypertable_name, string_agg(attname, ',' ORDER BY segmentby_column_index)"
            " FROM timescaledb_information.compression_settings"
            " WHERE segmentby_column_index IS NOT NULL GROUP BY 1").fetchall())
    assert sorted(flags) == [(view, False) for view in ROLLUPS]
    assert segments["trades"] == "symbol" and segments["engine_health"] == "engine,worker"
    assert migrations.migrate(timescale_url) == []  # idempotent


def test_new_bars_show_in_the_rollups_before_any_refresh(timescale_url: str) -> None:
    symbol = f"N{uuid.uuid4().hex[:8].upper()}"
    hour_ns = 60 * MINUTE_NS
    # the last three hours: past every aggregate's watermark (the other tests' bars are old)
    bars = make_bars(symbol, 180, seed=3, first_ns=(time.time_ns() // hour_ns - 3) * hour_ns)

    write(timescale_url, *bars)

    assert_rollups(timescale_url, symbol, bars)  # real-time aggregation, nothing materialized


def test_plain_postgresql_keeps_plain_tables_and_needs_no_policies(database_url: str) -> None:
    mode = timescale.configure(database_url, Horizons())

    assert mode == timescale.StorageMode(None)
    assert "plain PostgreSQL" in mode.summary()
    with psycopg.connect(database_url) as conn:
        assert kept_by_sink(conn)


def test_policies_follow_the_configured_horizons(default_policies: str) -> None:
    url = default_policies
    defaults = Horizons()
    assert {t: c["compress_after"] for t, c in configs(url, "compression").items()} == {
        **dict.fromkeys(HYPERTABLES, "7 days"),  # rollups: not inside their refresh window
        "bars_5m": "7 days", "bars_1h": "7 days", "bars_1d": "35 days"}
    assert {t: c["drop_after"] for t, c in configs(url, "retention").items()} == \
        dict.fromkeys(policy.TICK_TABLES, "90 days")
    assert defaults.reading_retention is None and defaults.rollup_retention is None

    mode = timescale.configure(url, Horizons(compress_after=timedelta(days=3),
                                             tick_retention=timedelta(days=10),
                                             reading_retention=timedelta(days=400)))

    assert {t: c["compress_after"] for t, c in configs(url, "compression").items()} == {
        **dict.fromkeys(HYPERTABLES, "3 days"),
        "bars_5m": "3 days", "bars_1h": "7 days", "bars_1d": "35 days"}
    assert {t: c["drop_after"] for t, c in configs(url, "retention").items()} == {
        **dict.fromkeys(policy.TICK_TABLES, "10 days"),
        **dict.fromkeys(policy.READING_TABLES, "400 days"),
    }
    refresh = configs(url, "refresh")
    assert sorted(refresh) == list(ROLLUPS)
    assert refresh["bars_5m"]["start_offset"] == "2 days"
    assert "compression" in mode.summary() and "retention" in mode.summary()

    timescale.configure(url, Horizons(compress_after=None, tick_retention=None))
    assert configs(url, "compression") == {} and configs(url, "retention") == {}


def test_compressed_chunks_answer_the_same_and_take_redelivered_rows(timescale_url: str) -> None:
    symbol = f"C{uuid.uuid4().hex[:8].upper()}"
    # three days of trades, long past: every chunk is older than compress_after
    trades = [event("Trade", symbol=symbol, trade_id=f"t{i}", ts_event=T0 + i * DAY_NS // 40,
                    price=f"{100 + i % 7}.25", size=1 + i) for i in range(120)]
    write(timescale_url, *trades)
    totals = ("SELECT count(*), sum(size), sum(price * size) FROM trades WHERE symbol = %s")
    with psycopg.connect(timescale_url) as conn:
        before = conn.execute(totals, (symbol,)).fetchone()

    run_job(timescale_url, "compression", "trades")

    with psycopg.connect(timescale_url) as conn:
        compressed = conn.execute(
            "SELECT count(*) FILTER (WHERE is_compressed), count(*) FROM "
            "timescaledb_information.chunks WHERE hypertable_name = 'trades' AND "
            "range_end <= now() - interval '7 days'").fetchone()
        assert compressed is not None and compressed[0] == compressed[1] >= 3
        assert conn.execute(totals, (symbol,)).fetchone() == before
    write(timescale_url, *trades[:50])  # re-delivered into compressed chunks
    with psycopg.connect(timescale_url) as conn:
        assert conn.execute(totals, (symbol,)).fetchone() == before
    assert before == (120, sum(t.size for t in trades),
                      sum(t.price * t.size for t in trades))


def test_retention_drops_chunks_past_the_horizon_only(default_policies: str) -> None:
    url = default_policies
    worker = f"w-{uuid.uuid4().hex[:8]}"
    now_ns = time.time_ns()
    old, recent = (event("EngineHealth", worker=worker, ts_event=ts, ts_init=ts,
                         last_event_ts=ts) for ts in (now_ns - 40 * DAY_NS, now_ns - DAY_NS))
    write(url, old, recent)
    timescale.configure(url, Horizons(tick_retention=timedelta(days=30)))

    run_job(url, "retention", "engine_health")

    with psycopg.connect(url) as conn:
        kept = conn.execute("SELECT ts_event FROM engine_health WHERE worker = %s",
                            (worker,)).fetchall()
    assert kept == [(recent.ts_event,)]


async def api_answers(url: str, symbol: str) -> dict[str, object]:
    """What the API's queries return for `symbol`: bars at every interval, a VPIN series, the
    latest reading, and whether the symbol is known."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        answers: dict[str, object] = {
            f"bars_{interval}": await market.bars(conn, symbol, interval, None, None, None, 500)
            for interval in market.BAR_RELATIONS
        }
        answers["vpin"] = await logic.vpin_series(conn, symbol, None, None, None, 500)
        answers["latest"] = await logic.vpin_latest(conn, symbol)
        answers["known"] = await market.symbol_exists(conn, symbol)
    return answers


async def test_the_api_queries_answer_the_same_on_both_databases(
    database_url: str, timescale_url: str
) -> None:
    symbol = f"Q{uuid.uuid4().hex[:8].upper()}"
    bars = [event("Bar", symbol=symbol, bar_id=f"{symbol}@1m@{T0 + m * MINUTE_NS}",
                  start_ns=T0 + m * MINUTE_NS, ts_event=T0 + (m + 1) * MINUTE_NS - 1,
                  open=f"{100 + m % 5}.00", high=f"{101 + m % 5}.00", low=f"{99 + m % 5}.00",
                  close=f"{100 + m % 5}.50", volume=10 + m, trade_count=1 + m % 4,
                  vwap=100.0 + (m % 5) / 2)
            for m in range(0, 26 * 60, 7)]  # from 22:13 UTC for 26 hours: three UTC days
    readings = [event("VpinReading", symbol=symbol, bucket=b, ts_event=T0 + b * MINUTE_NS,
                      vpin=None if b < 3 else b / 100) for b in range(40)]
    for url in (database_url, timescale_url):
        write(url, *bars)
        write(url, *readings)
    # Bars older than an aggregate's watermark (other tests materialized this period) reach
    # the rollups at the next refresh, as the refresh policies do within minutes in service.
    timescale.refresh_rollups(timescale_url, Horizons())

    plain, timescaledb = await api_answers(database_url, symbol), await api_answers(
        timescale_url, symbol)

    assert plain == timescaledb
    assert len(plain["bars_1m"]) == len(bars) and len(plain["bars_1d"]) == 3  # type: ignore
    assert plain["latest"] == [plain["vpin"][-1]] and plain["known"] is True  # type: ignore


@pytest.mark.parametrize(("text", "expected"), [
    ("90d", timedelta(days=90)), ("12 hours", timedelta(hours=12)), ("2w", timedelta(weeks=2)),
    ("30 minutes", timedelta(minutes=30)), ("1 day", timedelta(days=1)),
    ("off", None), ("", None), ("Never", None),
])
def test_horizons_parse(text: str, expected: timedelta | None) -> None:
    assert parse_horizon(text) == expected


@pytest.mark.parametrize("text", ["5 parsecs", "0d", "-3d", "d", "7.5d"])
def test_bad_horizons_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="horizon"):
        parse_horizon(text)


def test_reading_retention_must_outlast_the_rollup_refresh_windows() -> None:
    with pytest.raises(ConfigError, match="refresh window"):
        Horizons(reading_retention=timedelta(days=30))


@pytest.mark.parametrize(("reading", "rollup"), [(None, 400), (400, 399), (400, 30)])
def test_rollups_are_kept_at_least_as_long_as_their_minute_bars(
    reading: int | None, rollup: int
) -> None:
    with pytest.raises(ConfigError, match="rollup retention"):
        Horizons(reading_retention=timedelta(days=reading) if reading else None,
                 rollup_retention=timedelta(days=rollup))


@pytest.mark.parametrize(("text", "expected"), [
    ("4GB", 4 << 30), ("512 MB", 512 << 20), ("64kB", 64 << 10), ("auto", None), ("", None),
])
def test_sizes_parse(text: str, expected: int | None) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["4", "4 GiB", "0MB", "-1GB", "1.5GB"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


def chunk_intervals(url: str) -> dict[str, timedelta]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute(
            "SELECT hypertable_name, time_interval FROM timescaledb_information.dimensions"
            " WHERE hypertable_schema = current_schema()").fetchall())


def test_tick_chunks_hold_hours_at_the_default_rate(timescale_url: str) -> None:
    # TimescaleDB: the indexes of the chunks being written should fit in shared_buffers (here
    # 128 MB). Compose's feed writes 2,000 trades/s, 110 B of index each: 1 day would need
    # 19 GB, an hour 0.8 GB, so the shortest tick interval, 1 hour, is the closest to fitting.
    intervals = chunk_intervals(timescale_url)

    assert [intervals[t] for t in policy.TICK_TABLES] == [timedelta(hours=1)] * 3
    assert intervals["bars_1m"] == timedelta(days=7) and intervals["alerts"] == timedelta(days=30)


def test_tick_chunk_interval_follows_the_expected_rates(default_policies: str) -> None:
    url = default_policies
    # 10,000 trades/s x 110 B + 100 features/s x 51 B = 1,105,100 B/s of index; 8 GB last
    # 7,773 s: 2 hours fit, 3 do not.
    busy = policy.ChunkSizing(trades_per_s=10_000, features_per_s=100,
                              index_memory_bytes=8 << 30)
    # 50 trades/s x 110 B = 5,500 B/s: 1 GB lasts 54 h; ticks never get more than a day
    quiet = policy.ChunkSizing(trades_per_s=50, features_per_s=0, index_memory_bytes=1 << 30)

    busy_mode = timescale.configure(url, Horizons(), busy)
    busy_intervals = chunk_intervals(url)
    timescale.configure(url, Horizons(), quiet)

    assert [busy_intervals[t] for t in policy.TICK_TABLES] == [timedelta(hours=2)] * 3
    assert [chunk_intervals(url)[t] for t in policy.TICK_TABLES] == [timedelta(days=1)] * 3
    assert dict(busy_mode.chunk_intervals)["trades"] == timedelta(hours=2)
    trade = event("Trade", symbol=f"K{uuid.uuid4().hex[:8].upper()}",
                  ts_event=T0 + 3_000 * DAY_NS)  # in 2032: a range no chunk covers yet
    write(url, trade)
    with psycopg.connect(url) as conn:
        width = conn.execute(
            "SELECT range_end - range_start FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'trades' AND range_start > now() + interval '1 year'"
        ).fetchone()
        conn.execute("DELETE FROM trades WHERE symbol = %s", (trade.symbol,))
    assert width == (timedelta(days=1),)  # a new chunk has the interval set last


def test_policy_changes_wait_for_the_migration_lock(database_url: str) -> None:
    done = threading.Event()
    configure = threading.Thread(target=lambda: (timescale.configure(database_url, Horizons()),
                                                 done.set()), daemon=True)
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        configure.start()
        try:
            wait_for(lambda: _waiting_advisory_locks(holder) == 1,
                     "configure to wait for the migration lock")
            assert not done.is_set()
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    configure.join(30)
    assert done.is_set()


def _waiting_advisory_locks(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                       " AND NOT granted").fetchone()
    return int(row[0]) if row else 0


def test_compose_runs_the_timescaledb_the_tests_run(timescale_url: str) -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    with psycopg.connect(timescale_url) as conn:
        row = conn.execute("SELECT extversion, current_setting('server_version_num')::int"
                           " FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    assert row is not None
    version, server = row  # PGlite's is a development build of the 2.23.0 release line

    assert compose["services"]["timescaledb"]["image"] == (
        f"timescale/timescaledb:${{TIMESCALEDB_VERSION:-{version.removesuffix('-dev')}"
        f"-pg{server // 10_000}}}")


def test_compression_settings_cover_each_tables_one_unique_key(timescale_url: str) -> None:
    with psycopg.connect(timescale_url) as conn:
        settings = conn.execute("SELECT hypertable::text, segmentby, orderby"
                                " FROM timescaledb_information.hypertable_compression_settings"
                                ).fetchall()
        keys = conn.execute(
            "SELECT c.relname::text, array_agg(a.attname::text ORDER BY a.attname)"
            " FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indrelid"
            " JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indisunique AND c.relname = ANY(%s) GROUP BY i.indexrelid, c.relname",
            (list(HYPERTABLES),)).fetchall()
        rollups = conn.execute("SELECT view_name::text, compression_enabled"
                               " FROM timescaledb_information.continuous_aggregates"
                               " ORDER BY 1").fetchall()
    covered = {table: {column.split()[0].strip('"')
                       for column in f"{segment_by or ''},{order_by or ''}".split(",") if column}
               for table, segment_by, order_by in settings}

    assert sorted(table for table, _ in keys) == list(HYPERTABLES)  # one unique key each
    for table, key in keys:
        assert set(key) <= covered[table], table
    assert rollups == [(view, True) for view in ROLLUPS]
