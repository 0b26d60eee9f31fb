"""TimescaleDB policies: chunk intervals, compression, retention, continuous-aggregate refresh.

Migrations 0006 and 0007 turn the time-series tables into hypertables (compression settings
segmented and ordered by their unique keys) and the bar rollups into compressible continuous
aggregates when the database can load TimescaleDB. The policies depend on horizons and rates
the operator chooses (`NAUTILUS_STORAGE_*`, see `.env.example`; the arithmetic is in
policy.py), so they are not in a migration: `configure()` sets them, and `nautilus-streams db
migrate` and `up` call it after migrating. It replaces every policy it owns in one
transaction under the migration lock: a failure leaves the previous policies, and two
processes never interleave. On plain PostgreSQL it changes nothing and reports the plain mode.

- Chunk intervals: the tick tables' from the expected rates and the index memory budget.
- Compression: chunks of every hypertable older than `compress_after` go to the columnstore;
  a rollup's chunks once they are also older than its refresh window.
- Retention: each table's class is its model's storage descriptor's (`Stored.retention`,
  streams/schema/storage.py). Chunks older than `tick_retention` are dropped from the
  high-volume tables (trades, microstructure features, engine health); older than
  `reading_retention` from the derived ones (1-minute bars, VPIN readings, alerts, the trading
  engines' outputs); older than `rollup_retention` from the rollups; never from tables whose
  descriptor says retention=None (orders, executions). None keeps data forever.
- Refresh: each continuous aggregate is materialized over a trailing window (REFRESH_WINDOWS);
  buckets past its watermark come from real-time aggregation. A 1-minute bar written behind
  the watermark (a late correction, a backfill) shows in the rollup after the next refresh of
  its window; one older than the window's start only after `refresh_rollups()` (`db
  refresh-rollups`), which never reaches back into 1-minute bars that retention may have
  dropped, since refreshing there would delete the rollups TimescaleDB keeps for them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from streams.exceptions import StorageError
from streams.storage import MIGRATION_LOCK_KEY, connect
from streams.storage.policy import (
    REFRESH_WINDOWS,
    TICK_TABLES,
    ChunkSizing,
    Horizons,
    format_span,
)

log = logging.getLogger(__name__)

REBUILDS_ROLLUPS = frozenset({"0006_timescaledb", "0012_bar_files"})
"""Migrations that (re)create the continuous aggregates empty: `prepare` materializes them."""


@dataclass(frozen=True, slots=True)
class Job:
    """A TimescaleDB background job this module set."""

    job_id: int
    kind: str  # compression | retention | refresh
    relation: str
    config: str


@dataclass(frozen=True, slots=True)
class StorageMode:
    """What a database does with time series: the TimescaleDB version (None: plain
    PostgreSQL), its hypertables with their chunk intervals, continuous aggregates and policy
    jobs."""

    timescaledb: str | None
    hypertables: tuple[str, ...] = ()
    continuous_aggregates: tuple[str, ...] = ()
    jobs: tuple[Job, ...] = ()
    chunk_intervals: tuple[tuple[str, timedelta], ...] = ()

    def summary(self) -> str:
        if not self.continuous_aggregates:
            why = ("not used by this database's migrations" if self.timescaledb
                   else "not available")
            return f"storage: plain PostgreSQL tables (TimescaleDB {why}); the sink keeps the " \
                   "bar rollups"
        kinds = sorted({j.kind for j in self.jobs})
        return (f"storage: TimescaleDB {self.timescaledb}, {len(self.hypertables)} hypertables, "
                f"{len(self.continuous_aggregates)} continuous aggregates, policies: "
                f"{', '.join(kinds) or 'none'}")


_PROCS = {"policy_compression": "compression", "policy_retention": "retention",
          "policy_refresh_continuous_aggregate": "refresh"}


def describe(conn: psycopg.Connection) -> StorageMode:
    """The storage mode of the database `conn` is connected to."""
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
                       ).fetchone()
    if row is None:
        return StorageMode(None)
    hypertables = tuple(r[0] for r in conn.execute(
        "SELECT hypertable_name FROM timescaledb_information.hypertables "
        "WHERE hypertable_schema = current_schema() ORDER BY 1").fetchall())
    aggregates = tuple(r[0] for r in conn.execute(
        "SELECT view_name FROM timescaledb_information.continuous_aggregates "
        "WHERE view_schema = current_schema() ORDER BY 1").fetchall())
    jobs = tuple(
        Job(job_id, _PROCS[proc], relation, config)
        for job_id, proc, relation, config in conn.execute(
            "SELECT j.job_id, j.proc_name,"
            " coalesce(c.view_name, j.hypertable_name), j.config::text"
            " FROM timescaledb_information.jobs AS j"
            " LEFT JOIN timescaledb_information.continuous_aggregates AS c"
            "   ON c.materialization_hypertable_name = j.hypertable_name"
            " WHERE j.proc_name = ANY(%s) ORDER BY 3, 2", (list(_PROCS),)).fetchall()
    )
    intervals = tuple((name, interval) for name, interval in conn.execute(
        "SELECT hypertable_name, time_interval FROM timescaledb_information.dimensions"
        " WHERE hypertable_schema = current_schema() AND dimension_number = 1"
        " ORDER BY 1").fetchall())
    return StorageMode(row[0], hypertables, aggregates, jobs, intervals)


def configure(database_url: str, horizons: Horizons, sizing: ChunkSizing | None = None, *,
              materialize: bool = False) -> StorageMode:
    """Set the chunk intervals (from `sizing`, default ChunkSizing()) and the compression,
    retention and refresh policies (replacing the ones set before), atomically and under the
    migration lock; with `materialize`, also refresh every continuous aggregate over its
    history, once (after migration 0006 or 0012 has just made the aggregates anew). On
    plain PostgreSQL, only reports that."""
    with connect(database_url) as conn:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
                mode = describe(conn)
                if mode.continuous_aggregates:
                    _set_policies(conn, mode, horizons, sizing or ChunkSizing())
                    mode = describe(conn)
        except psycopg.Error as exc:
            reason = exc.diag.message_primary or type(exc).__name__
            raise StorageError(f"TimescaleDB policies left as they were: {reason}") from exc
    if not mode.continuous_aggregates:
        return mode
    if materialize:
        refresh_rollups(database_url, horizons)
    log.info("timescaledb policies set %s", mode.summary())
    return mode


def _set_policies(conn: psycopg.Connection, mode: StorageMode, horizons: Horizons,
                  sizing: ChunkSizing) -> None:
    relations = (*mode.hypertables, *mode.continuous_aggregates)
    # Remove every policy first: a rollup's compression policy needs its refresh policy.
    for relation in relations:
        conn.execute("SELECT remove_compression_policy(%s, if_exists => true)", (relation,))
        conn.execute("SELECT remove_retention_policy(%s, if_exists => true)", (relation,))
    for view in mode.continuous_aggregates:
        window = REFRESH_WINDOWS[view]
        conn.execute("SELECT remove_continuous_aggregate_policy(%s, if_exists => true)",
                     (view,))
        conn.execute(
            "SELECT add_continuous_aggregate_policy(%s, start_offset => %s,"
            " end_offset => %s, schedule_interval => %s)",
            (view, window.start, window.end, window.every))
    tick_interval = _tick_interval(conn, sizing)
    for table in mode.hypertables:
        if table in TICK_TABLES:
            conn.execute("SELECT set_chunk_time_interval(%s, %s)", (table, tick_interval))
        _add(conn, "compression", table, "compress_after", horizons.compress_after)
        _add(conn, "retention", table, "drop_after", horizons.retention_of(table))
    for view in mode.continuous_aggregates:
        _add(conn, "compression", view, "compress_after", horizons.rollup_compress_after(view))
        _add(conn, "retention", view, "drop_after", horizons.retention_of(view))


def _tick_interval(conn: psycopg.Connection, sizing: ChunkSizing) -> timedelta:
    budget = sizing.index_memory_bytes
    if budget is None:
        row = conn.execute("SELECT setting::bigint * pg_size_bytes(unit) FROM pg_settings"
                           " WHERE name = 'shared_buffers'").fetchone()
        assert row is not None
        budget = int(row[0])
    interval = sizing.tick_interval(budget)
    needed = interval.total_seconds() * sizing.index_bytes_per_s()
    if needed > budget:
        log.warning(
            "tick chunks of %s grow %.0f MB of indexes at the expected rates, more than the "
            "%.0f MB budget (NAUTILUS_STORAGE_INDEX_MEMORY, default shared_buffers): give the "
            "database more memory or expect index I/O while writing",
            format_span(interval), needed / 2**20, budget / 2**20)
    return interval


def _add(conn: psycopg.Connection, kind: str, relation: str, option: str,
         horizon: timedelta | None) -> None:
    if horizon is not None:
        conn.execute(f"SELECT add_{kind}_policy(%s, {option} => %s)", (relation, horizon))


Refreshed = dict[str, tuple[datetime | None, float]]
"""Per continuous aggregate: where its refresh started (None: the beginning) and seconds taken."""


def refresh_rollups(database_url: str, horizons: Horizons) -> Refreshed:
    """Refresh every continuous aggregate from `refresh_start()` on. Empty on plain
    PostgreSQL, where the sink keeps the rollups exact."""
    done: Refreshed = {}
    with connect(database_url, autocommit=True) as conn:
        views = describe(conn).continuous_aggregates
        start = refresh_start(conn, horizons) if views else None
        for view in views:
            started = time.perf_counter()
            conn.execute("CALL refresh_continuous_aggregate(%s, %s::timestamptz, NULL)",
                         (view, start))
            done[view] = (start, time.perf_counter() - started)
    return done


def refresh_start(conn: psycopg.Connection, horizons: Horizons) -> datetime | None:
    """The earliest time a refresh may cover without reaching into dropped 1-minute bars: the
    later of now minus the reading (or rollup) retention and the start of the oldest
    bars_1m chunk left (dropping a chunk marks its range changed, and refreshing a changed
    range with no bars deletes its rollups). None when nothing bounds it."""
    kept = horizons.refresh_horizon()
    row = conn.execute(
        "SELECT greatest(now() - %s::interval, min(range_start))"
        " FROM timescaledb_information.chunks"
        " WHERE hypertable_schema = current_schema() AND hypertable_name = 'bars_1m'",
        (kept,)).fetchone()
    return row[0] if row is not None else None
