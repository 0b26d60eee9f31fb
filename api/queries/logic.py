"""What the engines concluded: VPIN readings, order-book features, alerts, engine health."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from api.queries import fetch_rows, time_bounds

_VPIN_COLUMNS = ("symbol, bucket, time, ts_event, bucket_volume, buy_volume, sell_volume, "
                 "vpin, vpin_cdf")

# The newest reading of each symbol by event time (buckets restart at 1 with every run of the
# log, so the highest bucket may be an earlier run's): distinct symbols by a skip scan of the
# (symbol, bucket, time) primary key, then one backward probe of (symbol, time, bucket) each.
_VPIN_LATEST = f"""
WITH RECURSIVE s(symbol) AS (
    (SELECT symbol FROM vpin_readings ORDER BY symbol LIMIT 1)
    UNION ALL
    SELECT (SELECT symbol FROM vpin_readings WHERE symbol > s.symbol ORDER BY symbol LIMIT 1)
    FROM s WHERE s.symbol IS NOT NULL
)
SELECT r.* FROM s CROSS JOIN LATERAL (
    SELECT {_VPIN_COLUMNS} FROM vpin_readings v WHERE v.symbol = s.symbol
    ORDER BY time DESC, bucket DESC LIMIT 1
) AS r
WHERE s.symbol IS NOT NULL
ORDER BY r.symbol
"""


async def vpin_latest(conn: psycopg.AsyncConnection, symbol: str | None) -> list[dict[str, Any]]:
    """The newest reading by event time of every symbol, or of one."""
    if symbol is None:
        return await fetch_rows(conn, _VPIN_LATEST, {})
    return await fetch_rows(
        conn, f"SELECT {_VPIN_COLUMNS} FROM vpin_readings WHERE symbol = %(s)s"
        " ORDER BY time DESC, bucket DESC LIMIT 1", {"s": symbol})


async def vpin_series(
    conn: psycopg.AsyncConnection, symbol: str, lo: datetime | None, hi: datetime | None,
    after: tuple[datetime, int] | None, limit: int,
) -> list[dict[str, Any]]:
    """Readings of `symbol` with `time` in [lo, hi), by (time, bucket), after the cursor's."""
    query = sql.SQL(
        "SELECT {cols} FROM vpin_readings WHERE symbol = %(s)s{bounds}{after}"
        " ORDER BY time, bucket LIMIT %(n)s"
    ).format(cols=sql.SQL(_VPIN_COLUMNS), bounds=time_bounds(lo, hi), after=sql.SQL(
        " AND (time, bucket) > (%(at)s, %(b)s)" if after is not None else ""))
    at, bucket = after or (None, None)
    return await fetch_rows(conn, query, {"s": symbol, "lo": lo, "hi": hi, "at": at,
                                          "b": bucket, "n": limit})


async def microstructure(
    conn: psycopg.AsyncConnection, symbol: str, lo: datetime | None, hi: datetime | None,
    after: datetime | None, limit: int,
) -> list[dict[str, Any]]:
    """Order-book features of `symbol` in [lo, hi), by time, after the cursor's time."""
    query = sql.SQL(
        "SELECT symbol, time, ts_event, spread, mid, microprice, imbalance_1, imbalance_5,"
        " imbalance_10, bid_depth, ask_depth, pressure FROM microstructure_features"
        " WHERE symbol = %(s)s{bounds}{after} ORDER BY time LIMIT %(n)s"
    ).format(bounds=time_bounds(lo, hi), after=sql.SQL(" AND time > %(at)s" if after else ""))
    return await fetch_rows(conn, query,
                            {"s": symbol, "lo": lo, "hi": hi, "at": after, "n": limit})


async def alerts(
    conn: psycopg.AsyncConnection, symbol: str | None, severity: str | None,
    lo: datetime | None, hi: datetime | None, after: tuple[datetime, str, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """Alert transitions, filtered, by (time, alert_id, state), after the cursor's key."""
    filters = [sql.SQL("TRUE")]
    if symbol is not None:
        filters.append(sql.SQL("symbol = %(s)s"))
    if severity is not None:
        filters.append(sql.SQL("severity = %(sev)s"))
    if after is not None:
        filters.append(sql.SQL("(time, alert_id, state) > (%(at)s, %(id)s, %(st)s)"))
    query = sql.SQL(
        "SELECT alert_id, state, time, ts_event, kind, severity, symbol, message, values"
        " FROM alerts WHERE {filters}{bounds} ORDER BY time, alert_id, state LIMIT %(n)s"
    ).format(filters=sql.SQL(" AND ").join(filters), bounds=time_bounds(lo, hi))
    at, alert_id, state = after or (None, None, None)
    return await fetch_rows(conn, query, {"s": symbol, "sev": severity, "lo": lo, "hi": hi,
                                          "at": at, "id": alert_id, "st": state, "n": limit})


async def engines(conn: psycopg.AsyncConnection, since: datetime) -> list[dict[str, Any]]:
    """The newest health report of every (engine, worker) that reported at or after `since`."""
    return await fetch_rows(conn, (
        "SELECT DISTINCT ON (engine, worker) engine, worker, status, time, ts_event, lag,"
        " events_in, events_out, errors, dead_letters, last_event_ts, restarts FROM engine_health"
        " WHERE time >= %(since)s ORDER BY engine, worker, time DESC"
    ), {"since": since})
