"""`backtest` of a margin-hungry user strategy (tests/streams/margin_hungry.py: buys 3.5 times
its equity at the start) on a bar file whose price then falls steadily with noise: the
margin engine in the backtest graph predicts the margin call before it happens.

Reg T by hand: 3,500 shares bought near 100 with 100,000 of equity leave cash near -250,000;
the maintenance of a long is 25% of its value, so the call comes at the first close below
250,000 / (0.75 x 3,500) = 95.24, about 5% down.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streams.cli.main import main
from tests.factories import MINUTE_NS, T0

BARS, FLAT_BARS = 150, 20
CASH = 100_000
STRATEGY = "tests.streams.margin_hungry:MarginHungry"


def _bar_file(path: Path) -> list[float]:
    """100.00 flat with noise for FLAT_BARS bars, then down 0.1% a bar with 0.2% noise; each
    bar opens at the previous close. The closes."""
    rng = np.random.default_rng(3)
    trend = np.r_[np.full(FLAT_BARS, 1.0), 1 - 0.001 * np.arange(1, BARS - FLAT_BARS + 1)]
    close = np.round(100 * trend * (1 + rng.normal(0, 0.002, BARS)), 2)
    open_ = np.r_[100.0, close[:-1]]
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["ts_event", "symbol", "open", "high", "low", "close", "volume"])
        for i, (o, c) in enumerate(zip(open_, close, strict=True)):
            writer.writerow([T0 + (i + 1) * MINUTE_NS, "LEV", f"{o:.2f}", f"{max(o, c):.2f}",
                             f"{min(o, c):.2f}", f"{c:.2f}", 1_000])
    return close.tolist()


@pytest.fixture(scope="module")
def backtest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    tmp = tmp_path_factory.mktemp("margin-backtest")
    closes = _bar_file(tmp / "bars.csv")
    code = main(["backtest", "-i", str(tmp / "bars.csv"), "--strategy", STRATEGY,
                 "--set", f"portfolio.cash={CASH}", "--set", f"margin_hungry.equity={CASH}",
                 "--out", str(tmp / "out")])
    assert code == 0
    return tmp / "out", closes


def test_margin_call_predicted_is_raised_before_margin_call(
        backtest: tuple[Path, list[float]]) -> None:
    out, _ = backtest
    alerts = pd.read_csv(out / "logic.risk.alerts.csv")
    raised = alerts[alerts["state"] == "raised"].groupby("kind")["ts_event"].min()

    assert set(alerts["kind"]) == {"margin_call_predicted", "margin_call"}
    assert raised["margin_call_predicted"] < raised["margin_call"]
    assert alerts["alert_id"].tolist()[0] == \
        f"margin_call_predicted:paper:{raised['margin_call_predicted']}"


def test_the_call_is_raised_and_cleared_at_the_reg_t_threshold(
        backtest: tuple[Path, list[float]]) -> None:
    out, closes = backtest
    fills = pd.read_csv(out / "market.executions.csv")
    (quantity,), (price,) = fills["quantity"], fills["price"]
    threshold = (quantity * price - CASH) / (0.75 * quantity)  # cash + 0.75 q close < 0
    expected, called = [], False  # no hysteresis: the noise crosses it back and forth
    for i, close in enumerate(closes):
        if called != (close < threshold):
            called = close < threshold
            expected.append((T0 + (i + 1) * MINUTE_NS, "raised" if called else "cleared"))
    alerts = pd.read_csv(out / "logic.risk.alerts.csv")
    calls = alerts[alerts["kind"] == "margin_call"]

    assert quantity * price == pytest.approx(3.5 * CASH, rel=0.01)
    assert list(zip(calls["ts_event"], calls["state"], strict=True)) == expected


def test_every_portfolio_snapshot_has_its_margin_state(
        backtest: tuple[Path, list[float]]) -> None:
    out, _ = backtest
    margin = pd.read_csv(out / "logic.margin.csv")
    portfolio = pd.read_csv(out / "logic.portfolio.csv")
    summary = json.loads((out / "summary.json").read_text())

    assert margin["ts_event"].tolist() == portfolio["ts_event"].tolist()
    assert margin["equity"].tolist() == portfolio["equity"].round(2).tolist()
    assert set(margin["method"]) == {"reg_t"}
    assert summary["parameters"]["margin"]["horizon_bars"] == 60
