"""The backtest benchmark's inputs: a bar file and a trade tape, deterministic for a seed.

Both are Parquet files in our own columns (what `replay`, `feed file` and `backtest` read):

- bars: `ts_event` (bar end, int ns), `symbol`, `open`, `high`, `low`, `close`, `volume`;
  every symbol has a bar every minute on one grid. Closes are a random walk on a cent grid
  (reflected above 1.00) and each bar opens at the previous close, as continuous 1-minute
  bars of a liquid instrument do;
- trades: `ts_event` (int ns, non-decreasing), `symbol`, `price`, `size`, `aggressor`
  (buy/sell); about TRADES_PER_BAR trades per symbol per minute, prices a random walk of
  one-cent steps per symbol.

Prices are float64 multiples of TICK; the float's shortest text is their exact decimal text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

START_NS = 1_700_000_040 * 10**9  # a whole minute (2023-11-14 22:14 UTC)
MINUTE_NS = 60 * 10**9
TICK = 0.01
TICK_CENTS = 1
TRADES_PER_BAR = 50
FIRST_PRICE_CENTS = 10_000
FLOOR_CENTS = 100


def symbols(count: int) -> list[str]:
    """`count` symbol names: EQ00, EQ01, ..."""
    return [f"EQ{i:02d}" for i in range(count)]


def _reflected_walk(steps: np.ndarray) -> np.ndarray:
    """Cents from FIRST_PRICE_CENTS by cumulative `steps` (along axis 0), reflected at
    FLOOR_CENTS so that prices stay positive."""
    walk = FIRST_PRICE_CENTS + np.cumsum(steps, axis=0)
    return FLOOR_CENTS + np.abs(walk - FLOOR_CENTS)


def make_bars(symbol_count: int, bars: int, seed: int = 7) -> pd.DataFrame:
    """`bars` 1-minute bars of each of `symbol_count` symbols, ordered by (ts_event, symbol)."""
    rng = np.random.default_rng(seed)
    close = _reflected_walk(rng.integers(-8, 9, (bars, symbol_count)))
    open_ = np.vstack([np.full((1, symbol_count), FIRST_PRICE_CENTS), close[:-1]])
    high = np.maximum(open_, close) + rng.integers(0, 4, close.shape)
    low = np.maximum(np.minimum(open_, close) - rng.integers(0, 4, close.shape), TICK_CENTS)
    ts = START_NS + MINUTE_NS * np.arange(1, bars + 1, dtype=np.int64)
    return pd.DataFrame({
        "ts_event": np.repeat(ts, symbol_count),
        "symbol": np.tile(np.array(symbols(symbol_count), dtype=object), bars),
        "open": open_.ravel() / 100,
        "high": high.ravel() / 100,
        "low": low.ravel() / 100,
        "close": close.ravel() / 100,
        "volume": rng.integers(2_000, 50_000, bars * symbol_count),
    })


def make_trades(symbol_count: int, trades: int, seed: int = 11) -> pd.DataFrame:
    """`trades` trades over `symbol_count` symbols, TRADES_PER_BAR per symbol-minute on
    average, in time order."""
    rng = np.random.default_rng(seed)
    span_ns = MINUTE_NS * max(1, trades // (symbol_count * TRADES_PER_BAR))
    ts = START_NS + np.cumsum(rng.exponential(span_ns / trades, trades)).astype(np.int64)
    which = rng.integers(0, symbol_count, trades)
    steps = rng.integers(-1, 2, trades)
    cents = np.empty(trades, dtype=np.int64)
    for i in range(symbol_count):
        mine = which == i
        cents[mine] = _reflected_walk(steps[mine])
    names = np.array(symbols(symbol_count), dtype=object)
    return pd.DataFrame({
        "ts_event": ts,
        "symbol": names[which],
        "price": cents / 100,
        "size": rng.integers(1, 500, trades),
        "aggressor": np.where(rng.random(trades) < 0.5, "buy", "sell").astype(object),
    })


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path, index=False)
    return path
