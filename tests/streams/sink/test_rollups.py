"""Bar rollups: bars_5m / 1h / 1d equal an aggregation computed here, in pandas, straight from
the 1-minute bars written; re-delivery and corrections keep them exact. On plain PostgreSQL
the sink keeps them; on TimescaleDB they are continuous aggregates, compared once refreshed
(these bars lie behind the aggregates' watermark; tests/streams/storage/test_timescale.py
checks real-time aggregation past it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal

import numpy as np
import pandas as pd
import psycopg
import pytest

from streams.schema import Bar
from streams.sink.rollups import kept_by_sink
from tests.api.data import write
from tests.factories import MINUTE_NS, T0, event

WIDTHS = {"bars_5m": "5min", "bars_1h": "1h", "bars_1d": "1D"}


def make_bars(symbol: str, minutes: int, seed: int, first_ns: int = T0) -> list[Bar]:
    """1-minute bars over `minutes` minutes from `first_ns` (some minutes missing), prices in
    cents."""
    rng = np.random.default_rng(seed)
    bars = []
    for m in sorted(rng.choice(minutes, size=minutes * 3 // 4, replace=False).tolist()):
        o, c = (Decimal(int(x)) / 100 for x in rng.integers(10_000, 10_100, 2))
        hi, lo = max(o, c) + Decimal("0.05"), min(o, c) - Decimal("0.05")
        start = first_ns + m * MINUTE_NS
        bars.append(event("Bar", bar_id=f"{symbol}@1m@{start}", symbol=symbol, start_ns=start,
                          ts_event=start + MINUTE_NS - 1, open=str(o), high=str(hi),
                          low=str(lo), close=str(c), volume=int(rng.integers(1, 1_000)),
                          trade_count=int(rng.integers(1, 50)),
                          vwap=str((o + c) / 2)))
    return bars


def expected(bars: list[Bar], width: str) -> pd.DataFrame:
    """The rollup by its definition: first open, max high, min low, last close, sums and the
    volume-weighted vwap per epoch-aligned UTC bucket."""
    frame = pd.DataFrame({
        "time": pd.to_datetime([b.start_ns for b in bars], utc=True),
        "open": [Decimal(b.open) for b in bars], "high": [Decimal(b.high) for b in bars],
        "low": [Decimal(b.low) for b in bars], "close": [Decimal(b.close) for b in bars],
        "volume": [b.volume for b in bars], "trade_count": [b.trade_count for b in bars],
        "pv": [float(b.vwap) * b.volume for b in bars],  # vwap columns are double precision
    }).sort_values("time")
    grouped = frame.groupby(frame["time"].dt.floor(width))
    out = pd.DataFrame({
        "open": grouped["open"].first(), "high": grouped["high"].max(),
        "low": grouped["low"].min(), "close": grouped["close"].last(),
        "volume": grouped["volume"].sum(), "trade_count": grouped["trade_count"].sum(),
        "vwap": grouped["pv"].sum() / grouped["volume"].sum(),
    })
    out.index.name = "time"
    return out


def stored(database_url: str, rollup: str, symbol: str) -> pd.DataFrame:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            f"SELECT time, open, high, low, close, volume, trade_count, vwap FROM {rollup}"
            " WHERE symbol = %s ORDER BY time", (symbol,),
        ).fetchall()
    frame = pd.DataFrame(rows, columns=["time", "open", "high", "low", "close", "volume",
                                        "trade_count", "vwap"]).set_index("time")
    frame.index = pd.to_datetime(frame.index, utc=True)
    return frame


def assert_rollups(database_url: str, symbol: str, bars: list[Bar]) -> None:
    for rollup, width in WIDTHS.items():
        got, want = stored(database_url, rollup, symbol), expected(bars, width)
        assert list(got.index) == list(want.index), rollup
        for column in ("open", "high", "low", "close", "volume", "trade_count"):
            assert got[column].tolist() == want[column].tolist(), (rollup, column)
        assert got["vwap"].tolist() == pytest.approx(want["vwap"].tolist(), rel=1e-12)


def materialize(database_url: str) -> None:
    """On TimescaleDB, refresh the continuous aggregates over all time (nothing on plain)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        if not kept_by_sink(conn):
            for rollup in WIDTHS:
                conn.execute("CALL refresh_continuous_aggregate(%s, NULL, NULL)", (rollup,))


@pytest.fixture
def symbol(any_database_url: str) -> Iterator[str]:
    name = f"R{uuid.uuid4().hex[:8].upper()}"
    yield name
    with psycopg.connect(any_database_url) as conn:
        tables = ("bars_1m", *WIDTHS) if kept_by_sink(conn) else ("bars_1m",)
        for table in tables:
            conn.execute(f"DELETE FROM {table} WHERE symbol = %s", (name,))


def test_rollups_equal_the_aggregation_of_the_minute_bars(
    any_database_url: str, symbol: str
) -> None:
    # 30 hours of minutes: buckets of every width, the 1-day ones across a UTC midnight
    bars = make_bars(symbol, 30 * 60, seed=1)

    for start in range(0, len(bars), 400):  # in several batches, as the sink writes them
        write(any_database_url, *bars[start:start + 400])

    materialize(any_database_url)
    assert_rollups(any_database_url, symbol, bars)


def test_redelivered_and_corrected_bars_keep_rollups_exact(
    any_database_url: str, symbol: str
) -> None:
    bars = make_bars(symbol, 120, seed=2)
    write(any_database_url, *bars)
    materialize(any_database_url)
    corrected = bars[10].model_copy(update={"volume": bars[10].volume + 500,
                                            "close": Decimal("99.00"),
                                            "low": Decimal("98.00")})
    fixed = [*bars[:10], corrected, *bars[11:]]

    write(any_database_url, *bars[5:20])  # re-delivery: nothing changes
    materialize(any_database_url)
    assert_rollups(any_database_url, symbol, bars)
    write(any_database_url, corrected)  # a later version of one bar replaces it
    materialize(any_database_url)
    assert_rollups(any_database_url, symbol, fixed)


def test_a_rollup_has_trade_count_and_vwap_only_where_every_minute_has_them(
    any_database_url: str, symbol: str
) -> None:
    # Bars of a bar file (no trade count, no vwap) in the 22:15 bucket only; 22:10 has the
    # bars engine's. 22:13-22:14 in one 5-minute bucket, 22:15-22:19 in the next.
    bars = [event("Bar", bar_id=f"{symbol}@1m@{T0 + m * MINUTE_NS}", symbol=symbol,
                  start_ns=T0 + m * MINUTE_NS, ts_event=T0 + (m + 1) * MINUTE_NS,
                  open="100.00", high="101.00", low="99.00", close="100.50", volume=10 + m,
                  **({"trade_count": 2, "vwap": "100.25"} if m < 2 or m == 4
                     else {"trade_count": None, "vwap": None}))
            for m in range(7)]

    write(any_database_url, *bars)
    materialize(any_database_url)

    with psycopg.connect(any_database_url) as conn:
        minutes = conn.execute("SELECT trade_count, vwap FROM bars_1m WHERE symbol = %s"
                               " ORDER BY time", (symbol,)).fetchall()
        five = conn.execute("SELECT volume, trade_count, vwap FROM bars_5m WHERE symbol = %s"
                            " ORDER BY time", (symbol,)).fetchall()
        day = conn.execute("SELECT volume, trade_count, vwap FROM bars_1d WHERE symbol = %s",
                           (symbol,)).fetchall()
    assert minutes == [(2, 100.25), (2, 100.25), (None, None), (None, None), (2, 100.25),
                       (None, None), (None, None)]
    assert five == [(10 + 11, 4, 100.25), (sum(range(12, 17)), None, None)]
    assert day == [(sum(range(10, 17)), None, None)]
