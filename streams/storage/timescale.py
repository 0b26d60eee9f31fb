"""TimescaleDB policies: compression, retention and continuous-aggregate refresh.

Migration 0006 turns the time-series tables into hypertables and the bar rollups into
continuous aggregates when the database can load TimescaleDB. The policies depend on horizons
the operator chooses (`NAUTILUS_STORAGE_*`, see `.env.example`), so they are not in a
migration: `configure()` sets them, and `nautilus-streams db migrate` and `up` call it after
migrating. It replaces every policy it owns each time, so a changed horizon takes effect on
the next run. On plain PostgreSQL it changes nothing and reports the plain mode.

- Compression: chunks of every hypertable older than `compress_after` go to the columnstore.
- Retention: chunks older than `tick_retention` are dropped from the high-volume tables
  (trades, microstructure features, engine health); older than `reading_retention` from the
  derived ones (1-minute bars, VPIN readings, alerts). None keeps data forever.
- Refresh: each continuous aggregate is materialized over a trailing window (REFRESH_WINDOWS);
  buckets past its watermark come from real-time aggregation. A 1-minute bar written behind
  the watermark (a late correction, a backfill) shows in the rollup after the next refresh of
  its window; one older than the window's start only after `db refresh-rollups`.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import timedelta

import psycopg

from streams.exceptions import ConfigError
from streams.storage import connect

log = logging.getLogger(__name__)

MIGRATION = "0006_timescaledb"
TICK_TABLES = ("trades", "microstructure_features", "engine_health")
READING_TABLES = ("bars_1m", "vpin_readings", "alerts")


@dataclass(frozen=True, slots=True)
class RefreshWindow:
    """A continuous aggregate's refresh policy: materialize [now - start, now - end) every
    `every`."""

    start: timedelta
    end: timedelta
    every: timedelta


REFRESH_WINDOWS: dict[str, RefreshWindow] = {
    "bars_5m": RefreshWindow(timedelta(days=2), timedelta(minutes=5), timedelta(minutes=5)),
    "bars_1h": RefreshWindow(timedelta(days=7), timedelta(hours=1), timedelta(minutes=30)),
    "bars_1d": RefreshWindow(timedelta(days=35), timedelta(days=1), timedelta(hours=1)),
}

_UNITS = {"m": 60, "min": 60, "minute": 60, "minutes": 60, "h": 3600, "hour": 3600,
          "hours": 3600, "d": 86_400, "day": 86_400, "days": 86_400, "w": 604_800,
          "week": 604_800, "weeks": 604_800}
_HORIZON = re.compile(r"^\s*(\d+)\s*([a-z]+)\s*$")
_OFF = {"", "off", "none", "never"}


def parse_horizon(text: str | timedelta | None) -> timedelta | None:
    """'90d', '12 hours', '2w' -> timedelta; 'off' (or 'none', 'never', empty) -> None."""
    if text is None or isinstance(text, timedelta):
        return text
    if text.strip().lower() in _OFF:
        return None
    match = _HORIZON.match(text.lower())
    if match is None or match[2] not in _UNITS or int(match[1]) == 0:
        raise ValueError(
            f"horizon {text!r}: expected a positive count and a unit (m, h, d or w, e.g. "
            "'90d', '12 hours') or 'off'"
        )
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


@dataclass(frozen=True, slots=True)
class Horizons:
    """How long data stays uncompressed, and how long it is kept (None: forever)."""

    compress_after: timedelta | None = timedelta(days=7)
    tick_retention: timedelta | None = timedelta(days=90)
    reading_retention: timedelta | None = None

    def __post_init__(self) -> None:
        longest = max(w.start for w in REFRESH_WINDOWS.values())
        if self.reading_retention is not None and self.reading_retention <= longest:
            # A refresh over a window whose 1-minute bars were dropped would empty the
            # materialized rollups there.
            raise ConfigError(
                f"reading retention {_days(self.reading_retention)} must exceed the longest "
                f"rollup refresh window ({_days(longest)}), or be 'off'"
            )


def _days(span: timedelta) -> str:
    return f"{span.total_seconds() / 86_400:g} days"


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
    PostgreSQL), its hypertables, continuous aggregates and policy jobs."""

    timescaledb: str | None
    hypertables: tuple[str, ...] = ()
    continuous_aggregates: tuple[str, ...] = ()
    jobs: tuple[Job, ...] = ()

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
    return StorageMode(row[0], hypertables, aggregates, jobs)


def configure(database_url: str, horizons: Horizons, *, materialize: bool = False) -> StorageMode:
    """Set the compression, retention and refresh policies from `horizons` (replacing the
    ones set before); with `materialize`, also refresh every continuous aggregate over all
    time, once (after migration 0006 has just turned existing bars into aggregates). On plain
    PostgreSQL, only reports that."""
    with connect(database_url, autocommit=True) as conn:
        mode = describe(conn)
        if not mode.continuous_aggregates:
            return mode
        for table in mode.hypertables:
            _replace(conn, "compression", table, "compress_after", horizons.compress_after)
            retention = (horizons.tick_retention if table in TICK_TABLES
                         else horizons.reading_retention if table in READING_TABLES else None)
            _replace(conn, "retention", table, "drop_after", retention)
        for view in mode.continuous_aggregates:
            window = REFRESH_WINDOWS[view]
            conn.execute("SELECT remove_continuous_aggregate_policy(%s, if_exists => true)",
                         (view,))
            conn.execute(
                "SELECT add_continuous_aggregate_policy(%s, start_offset => %s,"
                " end_offset => %s, schedule_interval => %s)",
                (view, window.start, window.end, window.every))
        mode = describe(conn)
    if materialize:
        refresh_rollups(database_url)
    log.info("timescaledb policies set %s", mode.summary())
    return mode


def refresh_rollups(database_url: str) -> dict[str, float]:
    """Refresh every continuous aggregate over all time; seconds each took (empty on plain
    PostgreSQL, where the sink keeps the rollups exact)."""
    took: dict[str, float] = {}
    with connect(database_url, autocommit=True) as conn:
        for view in describe(conn).continuous_aggregates:
            started = time.perf_counter()
            conn.execute("CALL refresh_continuous_aggregate(%s, NULL, NULL)", (view,))
            took[view] = time.perf_counter() - started
    return took


def _replace(conn: psycopg.Connection, kind: str, table: str, option: str,
             horizon: timedelta | None) -> None:
    conn.execute(f"SELECT remove_{kind}_policy(%s, if_exists => true)", (table,))
    if horizon is not None:
        conn.execute(f"SELECT add_{kind}_policy(%s, {option} => %s)", (table, horizon))
