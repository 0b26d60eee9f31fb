"""Bar rollups the sink keeps current: bars_5m, bars_1h, bars_1d from bars_1m (migration 0004).

Only on plain PostgreSQL: where migration 0006 made them TimescaleDB continuous aggregates,
TimescaleDB keeps them and the sink leaves them alone (`kept_by_sink`).

After 1-minute bars are upserted from the staging table, each rollup recomputes the buckets
those bars fall in, from bars_1m itself, and upserts them. Recomputing whole buckets (not
adding deltas) keeps the rollups exact under re-delivery and corrections, and costs one index
range scan of at most a day of one symbol's 1-minute bars per touched bucket. A bucket's
trade_count and vwap are NULL unless every 1-minute bar in it has them (bars from bar files
have neither; migration 0012), as in the TimescaleDB aggregates.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

ROLLUPS: dict[str, str] = {"bars_5m": "5 minutes", "bars_1h": "1 hour", "bars_1d": "1 day"}
"""Rollup table -> bucket width (a PostgreSQL interval)."""

_REFRESH = """
INSERT INTO {rollup} (time, symbol, open, high, low, close, volume, trade_count, vwap)
SELECT k.bucket, b.symbol,
       (array_agg(b.open ORDER BY b.time))[1], max(b.high), min(b.low),
       (array_agg(b.close ORDER BY b.time DESC))[1], sum(b.volume),
       CASE WHEN count(b.trade_count) = count(*) THEN sum(b.trade_count) END,
       CASE WHEN count(b.vwap) = count(*) THEN sum(b.vwap * b.volume) / sum(b.volume) END
FROM (SELECT DISTINCT symbol, date_bin({width}::interval, time, 'epoch') AS bucket
      FROM {touched}) AS k
JOIN bars_1m AS b
  ON b.symbol = k.symbol AND b.time >= k.bucket AND b.time < k.bucket + {width}::interval
GROUP BY k.bucket, b.symbol
ON CONFLICT (symbol, time) DO UPDATE SET
    open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
    volume = EXCLUDED.volume, trade_count = EXCLUDED.trade_count, vwap = EXCLUDED.vwap
"""


def refresh_statements(touched: sql.Composable) -> list[sql.Composed]:
    """Statements recomputing every rollup bucket that the bars in `touched` fall in."""
    return [
        sql.SQL(_REFRESH).format(
            rollup=sql.Identifier(rollup), width=sql.Literal(width), touched=touched
        )
        for rollup, width in ROLLUPS.items()
    ]


def kept_by_sink(conn: psycopg.Connection) -> bool:
    """True when the rollups are plain tables for the sink to keep; False when they are
    TimescaleDB continuous aggregates (views)."""
    row = conn.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass('bars_5m')"
                       ).fetchone()
    return row is not None and row[0] == "r"
