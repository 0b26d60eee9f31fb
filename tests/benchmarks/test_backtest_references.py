"""The backtest benchmark's references: vectorbt and backtrader run sma_cross as issue 13
defines it (next-open market fills, slippage and fees in basis points, ties keep the target),
agreeing with a hand-computed book and with each other; and its generated inputs are
deterministic files our reader takes. Nothing here is timed."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmarks.backtest_data import MINUTE_NS, START_NS, make_bars, make_trades, write
from benchmarks.sma_cross_peers import (
    Fill,
    PeerRun,
    SmaCrossRun,
    backtrader_sma_cross,
    differences,
    vectorbt_sma_cross,
)
from streams.feeds.badrows import BadRows
from streams.feeds.files import FileOptions
from streams.replay import file_runs

# fast 2, slow 4; 10 shares; buy at open * 1.001, sell at open * 0.999; fee 5 bp of value.
HAND = SmaCrossRun(fast=2, slow=4, quantity=10, slippage_bps=10, fee_bps=5, cash=10_000)
# A: SMA(2) vs SMA(4) of closes from bar 3: 10.5>10.3 buy | 10.5>10.4 | 10.3<10.4 sell |
# 10.3<10.4 | 10.5>10.4 buy | 10.3=10.3 tie: keep | 9.9<10.2 sell | 9.9<10.1 | 10.3>10.1 buy
# on the last bar: never filled. Opens gap away from the previous close.
A_CLOSE = ["10.00", "10.20", "10.40", "10.60", "10.40", "10.20", "10.40", "10.60", "10.00",
           "9.80", "10.00", "10.60"]
A_OPEN = ["10.00", "10.10", "10.30", "10.50", "10.50", "10.50", "10.30", "10.50", "10.70",
          "9.90", "9.90", "10.20"]
# B rises 0.10 a bar and opens at the previous close: bought at bar 4's open, held to the end.
B_CLOSE = [f"{20 + i / 10:.2f}" for i in range(12)]
B_OPEN = ["20.00", *B_CLOSE[:-1]]


def _bar_ts(i: int) -> int:
    return START_NS + (i + 1) * MINUTE_NS


def _hand_file(tmp_path: Path) -> Path:
    rows = []
    for symbol, opens, closes in (("A", A_OPEN, A_CLOSE), ("B", B_OPEN, B_CLOSE)):
        for i, (o, c) in enumerate(zip(opens, closes, strict=True)):
            o_, c_ = float(o), float(c)
            rows.append({"ts_event": _bar_ts(i), "symbol": symbol, "open": o_,
                         "high": max(o_, c_) + 0.05, "low": min(o_, c_) - 0.05, "close": c_,
                         "volume": 1_000})
    return write(pd.DataFrame(rows).sort_values(["ts_event", "symbol"]), tmp_path / "bars.parquet")


def _fill(bar: int, symbol: str, side: str, price: str) -> tuple[Fill, Decimal]:
    """A fill of 10 at `price` (slippage applied) on `bar`, and the cash it moves."""
    value = Decimal(price) * 10
    fee = value * 5 / 10_000
    fill = Fill(_bar_ts(bar), symbol, side, 10, float(price), float(fee))
    return fill, (-value if side == "buy" else value) - fee


EXPECTED = [
    _fill(4, "A", "buy", "10.5105"),   # 10.50 * 1.001
    _fill(4, "B", "buy", "20.3203"),   # 20.30 * 1.001
    _fill(6, "A", "sell", "10.2897"),  # 10.30 * 0.999
    _fill(8, "A", "buy", "10.7107"),   # 10.70 * 1.001
    _fill(10, "A", "sell", "9.8901"),  # 9.90 * 0.999
]
CASH = Decimal(10_000) + sum(flow for _, flow in EXPECTED)  # 9786.0743935
EQUITY = CASH + 10 * Decimal("21.10")  # B's 10 shares at its last close


@pytest.mark.parametrize("reference", [vectorbt_sma_cross, backtrader_sma_cross])
def test_a_hand_computed_twelve_bar_book(
    tmp_path: Path, reference: Callable[[Path, SmaCrossRun], PeerRun]
) -> None:
    expected = PeerRun("hand", 24, 1.0, [fill for fill, _ in EXPECTED], float(CASH),
                       float(EQUITY))

    run = reference(_hand_file(tmp_path), HAND)

    assert differences(run, expected) == []


def test_vectorbt_and_backtrader_agree_on_a_generated_bar_file(tmp_path: Path) -> None:
    frame = make_bars(3, 1_500)
    cents = frame.pivot(index="ts_event", columns="symbol", values="close").mul(100).round()
    fast, slow = cents.rolling(10).sum() * 30, cents.rolling(30).sum() * 10
    assert ((fast == slow) & slow.notna()).to_numpy().sum() > 0  # the tie rule is exercised
    path = write(frame, tmp_path / "bars.parquet")

    vectorbt = vectorbt_sma_cross(path, SmaCrossRun())
    backtrader = backtrader_sma_cross(path, SmaCrossRun())

    assert len(vectorbt.fills) > 50
    assert differences(backtrader, vectorbt) == []


def test_the_generated_inputs_are_deterministic_and_well_formed() -> None:
    bars, trades = make_bars(4, 300), make_trades(4, 3_000)

    pd.testing.assert_frame_equal(bars, make_bars(4, 300))
    pd.testing.assert_frame_equal(trades, make_trades(4, 3_000))
    assert len(bars) == 1_200 and sorted(bars.symbol.unique()) == ["EQ00", "EQ01", "EQ02", "EQ03"]
    for _, rows in bars.groupby("symbol"):
        assert (np.diff(rows.ts_event) == MINUTE_NS).all()
        assert (rows.open.to_numpy()[1:] == rows.close.to_numpy()[:-1]).all()
    assert (bars.low <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars.high >= bars[["open", "close"]].max(axis=1)).all()
    for column in ("open", "high", "low", "close"):
        assert (bars[column] > 0).all()
        assert np.allclose(bars[column] * 100, np.rint(bars[column] * 100), rtol=0, atol=1e-9)
    assert (np.diff(trades.ts_event) >= 0).all()


def test_the_trade_tape_reads_as_our_trade_files(tmp_path: Path) -> None:
    trades = make_trades(3, 2_000)
    path = write(trades, tmp_path / "trades.parquet")

    runs = list(file_runs([path], FileOptions(), BadRows(strict=True)))

    assert {run.topic for run in runs} == {"market.trades"}
    read = pd.concat([pd.DataFrame({k: run.columns[k] for k in ("ts_event", "symbol", "price",
                                                                  "size", "aggressor")})
                      for run in runs]).sort_values(["ts_event", "symbol"], kind="stable")
    expected = trades.sort_values(["ts_event", "symbol"], kind="stable")
    assert len(read) == len(trades)
    assert read.price.tolist() == expected.price.tolist()
    assert read["size"].tolist() == expected["size"].tolist()
    assert read.aggressor.tolist() == expected.aggressor.map({"buy": 1, "sell": -1}).tolist()
