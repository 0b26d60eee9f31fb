"""`sma_cross` on a bar file in vectorbt and in backtrader: the references of the backtest
benchmark, and of the fills our backtest must equal.

The strategy as issue 13 defines it: per symbol, on each closed bar once SMA(slow) of closes
exists, the target is +quantity if SMA(fast) > SMA(slow), 0 if below (allow_short false), and
unchanged if equal; when the target differs from position plus open orders, one market order
for the difference, filled whole at the symbol's NEXT bar's open: buy at open * (1 +
slippage_bps / 1e4), sell at open * (1 - slippage_bps / 1e4), fee = price * quantity *
fee_bps / 1e4. One account with `cash`, shared by all symbols. An order decided on the last
bar never fills (there is no next open). Final equity = cash + position * last close.

Ties: prices lie on a grid of `tick`, so two SMAs that differ differ by at least
tick / (fast * slow); a float difference smaller than half of that is a tie (float rounding
of equal means), which keeps the target as the definition says. Our backtest decides in
Decimal, exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from benchmarks.backtest_data import TICK


@dataclass(frozen=True, slots=True)
class SmaCrossRun:
    """The parameters of one sma_cross backtest, the same for every peer."""

    fast: int = 10
    slow: int = 30
    quantity: int = 100
    slippage_bps: float = 2.0
    fee_bps: float = 1.0
    cash: float = 1_000_000.0
    tick: float = TICK

    def __post_init__(self) -> None:
        if not 0 < self.fast < self.slow:
            raise ValueError(f"need 0 < fast < slow, got fast={self.fast} slow={self.slow}")
        if self.quantity <= 0:
            raise ValueError(f"quantity must be > 0, got {self.quantity}")

    @property
    def tie_tolerance(self) -> float:
        return self.tick / (2 * self.fast * self.slow)


class Fill(NamedTuple):
    """One execution: the bar it filled on (its ts_event), what, and at what price and fee."""

    ts_event: int
    symbol: str
    side: str  # buy | sell
    quantity: int
    price: float
    fee: float


@dataclass(slots=True)
class PeerRun:
    """What one peer did, and how long its whole run took (file read included)."""

    peer: str
    events: int  # bars (or trades) in the input
    seconds: float
    fills: list[Fill] = field(default_factory=list)
    cash: float = 0.0
    equity: float = 0.0

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


def _close(u: float, v: float, rel: float) -> bool:
    return abs(u - v) <= rel * max(abs(u), abs(v))


def differences(run: PeerRun, reference: PeerRun, rel: float = 1e-9) -> list[str]:
    """Where two runs differ: fills (ts, symbol, side, quantity exactly; price and fee to
    `rel`, as floats of exact decimals differ in the last bits) in (ts_event, symbol) order,
    then final cash and equity to `rel`; empty when they agree."""
    a, b = sorted(run.fills), sorted(reference.fills)
    out = [f"{len(a)} fills against {len(b)}"] if len(a) != len(b) else []
    out += [f"{x} != {y}" for x, y in zip(a, b, strict=False)
            if x[:4] != y[:4] or not (_close(x.price, y.price, rel) and _close(x.fee, y.fee, rel))]
    out += [f"final {name} {mine!r} != {theirs!r}"
            for name, mine, theirs in (("cash", run.cash, reference.cash),
                                       ("equity", run.equity, reference.equity))
            if not _close(mine, theirs, rel)]
    return out


def wide_bars(path: Path) -> dict[str, pd.DataFrame]:
    """open and close of a bar file as (ts_event x symbol) frames."""
    frame = pd.read_parquet(path, columns=["ts_event", "symbol", "open", "close"])
    return {name: frame.pivot(index="ts_event", columns="symbol", values=name)
            for name in ("open", "close")}


def targets(close: pd.DataFrame, run: SmaCrossRun) -> pd.DataFrame:
    """Each symbol's target after each bar (0 before SMA(slow) exists; ties keep it)."""
    import vectorbt as vbt

    fast = vbt.MA.run(close, run.fast, short_name="fast").ma.to_numpy()
    slow = vbt.MA.run(close, run.slow, short_name="slow").ma.to_numpy()
    diff = fast - slow
    decided = np.where(diff > run.tie_tolerance, float(run.quantity),
                       np.where(diff < -run.tie_tolerance, 0.0, np.nan))
    frame = pd.DataFrame(decided, index=close.index, columns=close.columns)
    return frame.ffill().fillna(0.0)


def vectorbt_sma_cross(path: Path, run: SmaCrossRun) -> PeerRun:
    """vectorbt `Portfolio.from_signals`: entries and exits where the target changes,
    shifted one bar and priced at that bar's open; size `quantity` as an amount, fees and
    slippage as fractions; all symbols in one group sharing the cash (one account)."""
    import vectorbt as vbt

    started = time.perf_counter()
    bars = wide_bars(path)
    target = targets(bars["close"], run)
    previous = target.shift(1, fill_value=0.0)
    entries = ((target > 0) & (previous == 0)).shift(1, fill_value=False)
    exits = ((target == 0) & (previous > 0)).shift(1, fill_value=False)
    portfolio = vbt.Portfolio.from_signals(
        close=bars["close"], entries=entries, exits=exits, price=bars["open"],
        size=float(run.quantity), size_type="amount", direction="longonly",
        fees=run.fee_bps / 1e4, slippage=run.slippage_bps / 1e4, init_cash=run.cash,
        cash_sharing=True, group_by=True,
    )
    records = portfolio.orders.values  # numpy records: col, idx, size, price, fees, side
    ts = bars["close"].index.to_numpy()[records["idx"]].tolist()
    symbol = bars["close"].columns.to_numpy()[records["col"]].tolist()
    side = np.where(records["side"] == 0, "buy", "sell").tolist()
    size = np.rint(records["size"]).astype(np.int64).tolist()
    fills = [Fill(*row) for row in zip(ts, symbol, side, size, records["price"].tolist(),
                                       records["fees"].tolist(), strict=True)]
    cash = float(portfolio.cash().iloc[-1])
    equity = float(portfolio.value().iloc[-1])
    seconds = time.perf_counter() - started
    return PeerRun("vectorbt", bars["close"].size, seconds, fills, cash, equity)


def backtrader_sma_cross(path: Path, run: SmaCrossRun) -> PeerRun:
    """backtrader: one data feed per symbol, its SMA indicator, market orders filled at the
    next bar's open (cheat-on-open off, its default), slippage on the open and allowed
    outside the bar's range (the definition's price), commission as a fraction of value."""
    import backtrader as bt

    from benchmarks.backtrader_sma_cross import SmaCrossStrategy

    started = time.perf_counter()
    frame = pd.read_parquet(path)
    cerebro = bt.Cerebro(stdstats=False)
    ts_by_symbol: dict[str, np.ndarray] = {}
    for symbol, rows in frame.groupby("symbol", sort=True):
        rows = rows.set_index(pd.to_datetime(rows["ts_event"], unit="ns"))
        ts_by_symbol[str(symbol)] = rows["ts_event"].to_numpy()
        feed = bt.feeds.PandasData(dataname=rows[["open", "high", "low", "close", "volume"]],
                                   openinterest=None)
        cerebro.adddata(feed, name=str(symbol))
    cerebro.broker.setcash(run.cash)
    cerebro.broker.setcommission(commission=run.fee_bps / 1e4, commtype=bt.CommInfoBase.COMM_PERC,
                                 percabs=True, stocklike=True)
    cerebro.broker.set_slippage_perc(run.slippage_bps / 1e4, slip_open=True, slip_match=True,
                                     slip_out=True)
    cerebro.addstrategy(SmaCrossStrategy, fast=run.fast, slow=run.slow,
                        quantity=run.quantity, tie=run.tie_tolerance, ts_by_symbol=ts_by_symbol)
    (strategy,) = cerebro.run()
    seconds = time.perf_counter() - started
    return PeerRun("backtrader", len(frame), seconds, strategy.fills,
                   cerebro.broker.getcash(), cerebro.broker.getvalue())
