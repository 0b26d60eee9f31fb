"""`backtest` over a bar file: sma_cross through features, the strategy, paper execution and
the portfolio, checked against vectorbt's `Portfolio.from_signals` (the reference of bar
backtests; a test-only dependency) with the same next-open fills, slippage and fees."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import vectorbt as vbt

from streams.cli.main import main
from tests.factories import MINUTE_NS, T0

SYMBOLS = ("AAA", "BBB", "CCC")
BARS = 240
FAST, SLOW, QUANTITY = 5, 20, 10
SLIPPAGE_BPS, FEE_BPS = 5, 2
CASH = 1_000_000


def _bar_file(path: Path, seed: int = 11) -> dict[str, pd.DataFrame]:
    """Random-walk 1-minute bars in cents (so the file's decimals are exact), per symbol."""
    rng = np.random.default_rng(seed)
    frames = {}
    rows = []
    ends = T0 + MINUTE_NS * np.arange(1, BARS + 1)
    for symbol in SYMBOLS:
        close = 10_000 + np.cumsum(rng.integers(-40, 41, BARS))
        open_ = np.r_[10_000, close[:-1]] + rng.integers(-5, 6, BARS)
        high = np.maximum(open_, close) + rng.integers(0, 10, BARS)
        low = np.minimum(open_, close) - rng.integers(0, 10, BARS)
        frames[symbol] = pd.DataFrame({"open": open_, "high": high, "low": low,
                                       "close": close}, index=ends)
        rows += [(int(ts), symbol, *(f"{v / 100:.2f}" for v in (o, h, lo, c)), 1_000)
                 for ts, o, h, lo, c in zip(ends, open_, high, low, close, strict=True)]
    rows.sort(key=lambda r: (r[0], r[1]))
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["ts_event", "symbol", "open", "high", "low", "close", "volume"])
        writer.writerows(rows)
    return frames


def _targets(close_cents: pd.Series) -> pd.Series:
    """sma_cross's target after each bar, by the issue's definition: +QUANTITY while
    SMA(fast) > SMA(slow), 0 while below, unchanged when equal (compared exactly, in cents),
    0 before SMA(slow) exists."""
    fast = close_cents.rolling(FAST).sum() * SLOW
    slow = close_cents.rolling(SLOW).sum() * FAST
    target = pd.Series(np.where(fast > slow, QUANTITY, np.where(fast < slow, 0, np.nan)),
                       index=close_cents.index)
    target[slow.isna()] = np.nan
    return target.ffill().fillna(0)


def _vectorbt(frames: dict[str, pd.DataFrame]) -> vbt.Portfolio:
    """The same strategy in vectorbt: a decision at a bar's close trades at the next open."""
    close = pd.DataFrame({s: f["close"] / 100 for s, f in frames.items()})
    open_ = pd.DataFrame({s: f["open"] / 100 for s, f in frames.items()})
    target = pd.DataFrame({s: _targets(f["close"]) for s, f in frames.items()})
    decided = target.shift(1)  # known at the previous close, traded at this open
    return vbt.Portfolio.from_signals(
        close, entries=decided == QUANTITY, exits=decided == 0, price=open_,
        size=QUANTITY, size_type="amount", fees=FEE_BPS / 1e4, slippage=SLIPPAGE_BPS / 1e4,
        init_cash=CASH, cash_sharing=True, group_by=True, accumulate=False)


def _backtest(bar_file: Path, out: Path) -> int:
    return main(["backtest", "-i", str(bar_file), "--strategy", "sma_cross",
                 "--set", f"sma_cross.fast={FAST}", "--set", f"sma_cross.slow={SLOW}",
                 "--set", f"sma_cross.quantity={QUANTITY}",
                 "--set", "execution.fill_model=bar",
                 "--set", f"execution.slippage_bps={SLIPPAGE_BPS}",
                 "--set", f"execution.fee_bps={FEE_BPS}",
                 "--set", f"portfolio.cash={CASH}", "--out", str(out)])


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, vbt.Portfolio]:
    tmp = tmp_path_factory.mktemp("backtest")
    frames = _bar_file(tmp / "bars.csv")
    assert _backtest(tmp / "bars.csv", tmp / "out") == 0
    return frames, tmp, _vectorbt(frames)


def test_fills_are_vectorbts_next_open_fills_with_its_slippage_and_fees(run) -> None:
    _, tmp, portfolio = run
    expected = portfolio.orders.records_readable
    ours = pd.read_csv(tmp / "out" / "market.executions.csv")

    assert len(ours) == len(expected) > 10
    ours = ours.sort_values(["ts_event", "symbol"], kind="stable").reset_index(drop=True)
    expected = expected.sort_values(["Timestamp", "Column"], kind="stable").reset_index(drop=True)
    assert list(ours["ts_event"]) == list(expected["Timestamp"])
    assert list(ours["symbol"]) == list(expected["Column"])
    assert list(ours["side"]) == [s.lower() for s in expected["Side"]]
    assert list(ours["quantity"]) == list(expected["Size"])
    assert np.allclose(ours["price"], expected["Price"], rtol=1e-12, atol=0)
    assert np.allclose(ours["commission"], expected["Fees"], rtol=1e-12, atol=0)


def test_final_cash_and_equity_are_vectorbts(run) -> None:
    _, tmp, portfolio = run
    summary = json.loads((tmp / "out" / "summary.json").read_text())
    (account,) = summary["accounts"]
    snapshots = pd.read_csv(tmp / "out" / "logic.portfolio.csv")

    assert float(snapshots["cash"].iloc[-1]) == pytest.approx(portfolio.cash().iloc[-1],
                                                             rel=1e-12)
    assert float(account["final_equity"]) == pytest.approx(portfolio.value().iloc[-1],
                                                           rel=1e-12)
    assert account["fills"] == len(portfolio.orders.records_readable)
    assert Decimal(account["fees"]) == pytest.approx(
        Decimal(str(portfolio.orders.records_readable["Fees"].sum())), rel=Decimal("1e-12"))


def test_the_same_input_gives_the_same_files_byte_for_byte(run) -> None:
    _, tmp, _ = run
    assert _backtest(tmp / "bars.csv", tmp / "again") == 0
    first = sorted(p.name for p in (tmp / "out").iterdir())
    assert first == sorted(p.name for p in (tmp / "again").iterdir())
    assert "summary.json" in first and "market.executions.parquet" in first
    for name in first:
        assert (tmp / "out" / name).read_bytes() == (tmp / "again" / name).read_bytes(), name
