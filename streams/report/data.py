"""What a backtest report draws, read from the run's outputs: per account the equity curve,
its drawdown, its period returns and the analytics results; per symbol the bar closes, the
fills and the VPIN readings.

Prices are bar closes: the bars the `bars` engine made from trades (market.bars.1m outputs),
and the bars of a bar file, which are inputs and come from the replay's kept input rows.
Money becomes float here: these numbers are drawn, not booked (summary.json keeps them exact).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from streams.backtest import EXECUTIONS_TOPIC, PORTFOLIO_TOPIC, AccountSummary
from streams.schema import AnalyticsResult, Bar, Execution, PortfolioSnapshot, VpinReading

if TYPE_CHECKING:
    from processors import Emit
    from streams.codec import Columns

BARS_TOPIC = "market.bars.1m"
VPIN_TOPIC = "logic.vpin"
ANALYTICS_TOPIC = "logic.analytics"


@dataclass(frozen=True, slots=True)
class Series:
    """Values at event times (ns since the epoch), in time order."""

    ts_ns: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_ns)


@dataclass(slots=True)
class AccountData:
    """One account: its equity after each snapshot, the starting cash (the first peak of the
    drawdown and the base of the first return), its analytics."""

    summary: AccountSummary
    equity: Series
    rolling_sharpe: Series
    performance: dict[str, float | None] | None = None

    @property
    def drawdown(self) -> Series:
        """Equity / running peak - 1 at each snapshot (the starting cash is the first peak)."""
        peak = np.maximum.accumulate(np.r_[float(self.summary.starting_cash), self.equity.values])
        return Series(self.equity.ts_ns, self.equity.values / peak[1:] - 1)


@dataclass(slots=True)
class SymbolData:
    """One symbol: bar closes, our buys and sells, VPIN readings with a value."""

    closes: Series
    buys: Series
    sells: Series
    vpin: Series | None  # None when the run has no VPIN reading of the symbol


@dataclass(slots=True)
class ReportData:
    accounts: dict[str, AccountData]
    symbols: dict[str, SymbolData]
    fills: list[Execution]
    has_vpin_engine_output: bool  # the graph made VPIN readings (the input has trades)
    notes: list[str] = field(default_factory=list)


def report_data(
    outputs: Mapping[str, list[Emit]], kept: Mapping[str, Columns],
    summaries: Sequence[AccountSummary],
) -> ReportData:
    """Everything the report draws, from a replay's outputs and kept input rows."""
    fills = [e.value for e in outputs.get(EXECUTIONS_TOPIC, [])]
    assert all(isinstance(f, Execution) for f in fills)
    readings = [e.value for e in outputs.get(VPIN_TOPIC, [])]
    assert all(isinstance(r, VpinReading) for r in readings)
    closes = _closes(outputs.get(BARS_TOPIC, []), kept.get(BARS_TOPIC))
    symbols = {}
    for symbol in sorted(set(closes) | {f.symbol for f in fills}):
        mine = [f for f in fills if f.symbol == symbol]
        vpin = [(r.ts_event, r.vpin) for r in readings if r.symbol == symbol and r.vpin is not None]
        symbols[symbol] = SymbolData(
            closes=closes.get(symbol, _series([])),
            buys=_series([(f.ts_event, float(f.price)) for f in mine if f.side == "buy"]),
            sells=_series([(f.ts_event, float(f.price)) for f in mine if f.side == "sell"]),
            vpin=_series(vpin) if vpin else None)
    return ReportData(accounts=_accounts(outputs, summaries), symbols=symbols, fills=fills,
                      has_vpin_engine_output=bool(readings))


def _accounts(
    outputs: Mapping[str, list[Emit]], summaries: Sequence[AccountSummary]
) -> dict[str, AccountData]:
    equity: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for emit in sorted(outputs.get(PORTFOLIO_TOPIC, []), key=lambda e: e.value.ts_event):
        snapshot = emit.value
        assert isinstance(snapshot, PortfolioSnapshot)
        equity[snapshot.account].append((snapshot.ts_event, float(snapshot.equity)))
    rolling: dict[str, list[tuple[int, float | None]]] = defaultdict(list)
    performance: dict[str, dict[str, float | None]] = {}
    for emit in outputs.get(ANALYTICS_TOPIC, []):
        result = emit.value
        assert isinstance(result, AnalyticsResult)
        if result.name == "rolling":
            rolling[result.account].append((result.ts_event, result.values.get("sharpe")))
        elif result.name == "performance" and result.final:
            performance[result.account] = result.values
    return {s.account: AccountData(s, _series(equity[s.account]), _series(rolling[s.account]),
                                   performance.get(s.account))
            for s in summaries}


def _closes(bars: list[Emit], kept: Columns | None) -> dict[str, Series]:
    """Bar closes per symbol, from the bars engine's outputs and a bar file's rows."""
    points: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for emit in bars:
        bar = emit.value
        assert isinstance(bar, Bar)
        points[bar.symbol].append((bar.ts_event, float(bar.close)))
    if kept is not None:
        for ts, symbol, close in zip(kept["ts_event"].tolist(), kept["symbol"].tolist(),
                                     kept["close"].tolist(), strict=True):
            points[symbol].append((ts, close))
    return {symbol: _series(sorted(p, key=lambda x: x[0])) for symbol, p in points.items()}


def _series(points: Sequence[tuple[int, float | None]]) -> Series:
    if not points:
        return Series(np.empty(0, np.int64), np.empty(0, np.float64))
    ts, values = zip(*points, strict=True)
    return Series(np.asarray(ts, np.int64),
                  np.asarray([np.nan if v is None else v for v in values], np.float64))


@dataclass(frozen=True, slots=True)
class PeriodReturns:
    """Returns per calendar period (UTC): `labels` of the periods, `rows`/`columns` where each
    sits in a heatmap, and the return of each (last equity in it / the previous period's - 1;
    the first against the starting cash)."""

    by: str  # "month" or "day"
    rows: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], float]


def period_returns(account: AccountData) -> PeriodReturns:
    """By month when the equity curve spans more than one month, else by day."""
    ts = account.equity.ts_ns.astype("datetime64[ns]")
    months = ts.astype("datetime64[M]")
    by = "month" if len(np.unique(months)) > 1 else "day"
    periods = months if by == "month" else ts.astype("datetime64[D]")
    ends = np.r_[np.flatnonzero(periods[1:] != periods[:-1]), len(periods) - 1] if len(ts) else []
    previous = float(account.summary.starting_cash)
    cells: dict[tuple[str, str], float] = {}
    for end in ends:
        equity = float(account.equity.values[end])
        text = str(periods[end])  # 2024-03 or 2024-03-05
        row, column = (text[:4], text[5:7]) if by == "month" else (text[:7], text[8:10])
        cells[(row, column)] = equity / previous - 1 if previous else float("nan")
        previous = equity
    columns = ([f"{m:02d}" for m in range(1, 13)] if by == "month"
               else [f"{d:02d}" for d in range(1, 32)])
    rows = sorted({r for r, _ in cells})
    return PeriodReturns(by, rows, columns, cells)
