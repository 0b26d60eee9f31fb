"""The risk engine: logic.positions + logic.portfolio + bars + factor model -> logic.risk, limit
alerts."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from processors.base import Emit, Engine, State, handles
from processors.kit.returns import BarReturns, ReturnsView
from processors.risk.factor import FactorRisk
from processors.risk.limits import Check, Transition, transitions
from processors.risk.measures import (
    LEVELS,
    Z,
    historical_pnl,
    parametric_var,
    simulated_pnl,
    tail,
)
from processors.risk.params import RiskParams
from processors.risk.stress import load_scenarios
from streams.clock import Clock
from streams.schema import Alert, RiskReport

log = logging.getLogger(__name__)

POSITIONS, PORTFOLIO, BARS = "logic.positions", "logic.portfolio", "market.bars.1m"
FACTOR_RETURNS, FACTOR_EXPOSURES = "logic.factor.returns", "logic.factor.exposures"
REPORTS, ALERTS = "logic.risk", "logic.risk.alerts"
NEVER = 2**63 - 1
DEFAULT_BAR_SECONDS = 60  # until the first bar says how long bars are
FIGURES = ("var_hist_95", "cvar_hist_95", "var_hist_99", "cvar_hist_99", "var_param_95",
           "var_param_99", "var_mc_95", "var_mc_99", "var_factor_95", "var_factor_99")


@dataclass(slots=True)
class _Holding:
    quantity: int
    mark: float
    ts: int  # the position record's ts_event: an older record of the symbol changes nothing


@dataclass(slots=True)
class _Account:
    holdings: dict[str, _Holding] = field(default_factory=dict)
    ts: int = 0  # the newest ts_event applied: what its reports are dated
    currency: str = "USD"
    equity: float | None = None
    equity_ts: int = -1
    peak: float | None = None  # the highest equity at the end of an instant before equity_ts
    due: int | None = None  # a report is pending: it goes out once event time passes this
    raised: dict[str, int] = field(default_factory=dict)  # limit kind -> episode start ts

    def values(self) -> dict[str, float]:
        """Dollar value (quantity x mark) of every open position, by symbol."""
        return {s: h.quantity * h.mark for s, h in sorted(self.holdings.items()) if h.quantity}

    @property
    def drawdown(self) -> float:
        """The fall of the equity from its peak, as a fraction of the peak. The peak takes
        each instant's last equity: the snapshots in between (one symbol re-marked, another
        not yet) are no equity the account had."""
        if self.equity is None:
            return 0.0
        peak = self.equity if self.peak is None else max(self.peak, self.equity)
        return (peak - self.equity) / peak if peak > 0 else 0.0


class RiskEngine(Engine):
    """Portfolio VaR, CVaR, stress losses and drawdown per account (processors/risk)."""

    name = "risk"
    outputs = (REPORTS, ALERTS)
    key_field = "account"
    params_model = RiskParams

    def __init__(self, params: RiskParams, clock: Clock, device: torch.device) -> None:
        super().__init__(params, clock, device)
        self.params: RiskParams = params
        self._returns = BarReturns(device, window=params.window)
        self._scenarios = load_scenarios(params.scenarios)
        self._accounts: dict[str, _Account] = {}
        self._pending: dict[str, int] = {}  # account -> its report's due time
        self._due_floor = NEVER  # at most the earliest due time pending
        self._factors = FactorRisk(params.factor_model)  # broadcast-derived, like the returns
        self._newest_broadcast = -1  # the newest bar or factor record applied

    # ---- input ----------------------------------------------------------------------------

    @handles(POSITIONS, joined=True)
    def on_positions(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        emits: list[Emit] = []
        marks = np.where(np.isnan(columns["mark"]), columns["avg_price"], columns["mark"])
        for account, symbol, ts, quantity, mark in zip(
                columns["account"].tolist(), columns["symbol"].tolist(),
                columns["ts_event"].tolist(), columns["quantity"].tolist(), marks.tolist(),
                strict=True):
            emits += self._emit_before(ts)
            book = self._accounts.setdefault(account, _Account())
            held = book.holdings.get(symbol)
            if held is None or ts >= held.ts:
                book.holdings[symbol] = _Holding(quantity, mark, ts)
            self._touch(account, book, ts)
        return emits

    @handles(PORTFOLIO)
    def on_portfolio(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        emits: list[Emit] = []
        for account, ts, equity, currency in zip(
                columns["account"].tolist(), columns["ts_event"].tolist(),
                columns["equity"].tolist(), columns["currency"].tolist(), strict=True):
            emits += self._emit_before(ts)
            book = self._accounts.setdefault(account, _Account())
            if ts > book.equity_ts and book.equity is not None:  # its instant is over
                book.peak = book.equity if book.peak is None else max(book.peak, book.equity)
            if ts >= book.equity_ts:
                book.equity, book.equity_ts, book.currency = equity, ts, currency
            self._touch(account, book, ts)
        return emits

    @handles(BARS, broadcast=True)
    def on_bars(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        """Bars go to the returns; before a bar later than a pending report's due time, that
        report goes out, so a report never sees returns from after its time."""
        ts = columns["ts_event"]
        emits: list[Emit] = []
        lo = 0
        while lo < len(ts):
            later = np.flatnonzero(ts[lo:] > self._due_floor)
            hi = len(ts) if not len(later) else lo + int(later[0])
            if hi > lo:
                self._returns.add(columns["symbol"][lo:hi], columns["start_ns"][lo:hi],
                                  ts[lo:hi], columns["close"][lo:hi])
                self._newest_broadcast = max(self._newest_broadcast, int(ts[lo:hi].max()))
                lo = hi
            else:
                emits += self._emit_before(int(ts[lo]))
        return emits

    @handles(FACTOR_RETURNS, broadcast=True)
    def on_factor_returns(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        """A factor model's covariance as of a day (its end); reports pending from before
        it go out first, as before a bar."""
        emits: list[Emit] = []
        for model, ts, covariance in zip(columns["model"].tolist(), columns["ts_event"].tolist(),
                                         columns["covariance"].tolist(), strict=True):
            emits += self._emit_before(ts)
            self._factors.add_returns(model, ts, covariance)
            self._newest_broadcast = max(self._newest_broadcast, ts)
        return emits

    @handles(FACTOR_EXPOSURES, broadcast=True)
    def on_factor_exposures(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        """A symbol's exposures to a factor model as of a day (its end), as the returns."""
        emits: list[Emit] = []
        for model, symbol, ts, sector, styles, specific in zip(
                columns["model"].tolist(), columns["symbol"].tolist(),
                columns["ts_event"].tolist(), columns["sector"].tolist(),
                columns["exposures"].tolist(), columns["specific_variance"].tolist(),
                strict=True):
            emits += self._emit_before(ts)
            self._factors.add_exposure(model, symbol, ts, sector, styles, specific)
            self._newest_broadcast = max(self._newest_broadcast, ts)
        return emits

    def _touch(self, account: str, book: _Account, ts: int) -> None:
        """The account changed at `ts`: its report is pending until event time passes both
        its newest event and the newest bar or factor record applied (a re-read one is never
        later)."""
        book.ts = max(book.ts, ts)
        book.due = max(book.ts, self._newest_broadcast,
                       book.due if book.due is not None else -1)
        self._pending[account] = book.due
        self._due_floor = min(self._due_floor, book.due)
        self.mark_dirty(account)

    # ---- time -----------------------------------------------------------------------------

    def on_time(self, now_ns: int) -> list[Emit]:
        """Every event at or before `now_ns` has been delivered: reports due by then go out."""
        return self._emit_before(now_ns + 1)

    def flush(self) -> list[Emit]:
        return self._emit_before(NEVER)

    def _emit_before(self, ts: int) -> list[Emit]:
        """The reports whose due time is before `ts` (event time has passed them)."""
        if ts <= self._due_floor:
            return []
        due = sorted(a for a, d in self._pending.items() if d < ts)
        for account in due:
            del self._pending[account]
        self._due_floor = min(self._pending.values(), default=NEVER)
        if not due:
            return []
        books = [(account, self._accounts[account]) for account in due]
        symbols = sorted({s for _, book in books for s in book.values()})
        view = self._returns.latest(symbols)
        emits: list[Emit] = []
        for account, book in books:
            book.due = None
            self.mark_dirty(account)
            emits += self._report(account, book, view, symbols)
        return emits

    # ---- output ---------------------------------------------------------------------------

    def _report(self, account: str, book: _Account, view: ReturnsView,
                columns: list[str]) -> list[Emit]:
        values = book.values()
        column = {symbol: i for i, symbol in enumerate(columns)}
        index = [column[s] for s in values]
        figures = self._figures(account, book.ts, values, view, index)
        stress = {s.name: s.loss(values) for s in self._scenarios}
        report = RiskReport.model_validate({
            "ts_event": book.ts, "ts_init": self.clock.timestamp_ns(), "account": account,
            "currency": book.currency, "gross_exposure": sum(abs(v) for v in values.values()),
            "net_exposure": sum(values.values()), "horizon_bars": self.params.horizon_bars,
            "bar_seconds": self._bar_seconds(), "window_bars": len(view.history),
            "factor_horizon_days": self.params.factor_horizon_days, **figures,
            "stress": stress, "worst_stress": max(stress.values(), default=None),
            "drawdown": book.drawdown,
        })
        p = self.params
        checks = [Check("var_limit", figures[p.var_measure], p.limit("var_limit", account)),
                  Check("stress_limit", report.worst_stress, p.limit("stress_limit", account)),
                  Check("drawdown_limit", report.drawdown, p.limit("drawdown_limit", account))]
        moves = transitions(book.raised, checks, book.ts, p.clear_ratio)
        return [Emit(REPORTS, account, report),
                *(Emit(ALERTS, account, self._alert(account, report, move)) for move in moves)]

    def _figures(self, account: str, ts: int, values: dict[str, float], view: ReturnsView,
                 index: list[int]) -> dict[str, float | None]:
        """The one-bar figures of `values` scaled by sqrt(horizon_bars); None without
        `min_bars` returns (historical: in the window; the others: folded in the EWMA). The
        factor VaR, one day's scaled by sqrt(factor_horizon_days), needs no bars: None
        without the factor model's covariance and every position's exposures."""
        p, dtype = self.params, self._returns.dtype
        figures: dict[str, float | None] = dict.fromkeys(FIGURES)
        scale = math.sqrt(p.horizon_bars)
        v = torch.tensor(list(values.values()), dtype=dtype, device=self.device)
        if len(view.history) >= p.min_bars:
            history = torch.as_tensor(view.history[:, index], dtype=dtype, device=self.device)
            pnl = historical_pnl(v, history)
            for pct, level in LEVELS.items():
                var, cvar = tail(pnl, level)
                figures[f"var_hist_{pct}"], figures[f"cvar_hist_{pct}"] = var * scale, cvar * scale
        if view.periods >= p.min_bars:
            take = torch.as_tensor(index, dtype=torch.long, device=self.device)
            covariance = view.covariance[take][:, take]  # normalised (kit/returns.py)
            pnl = simulated_pnl(v, covariance, p.mc_scenarios, self._generator(account, ts))
            for pct, level in LEVELS.items():
                figures[f"var_param_{pct}"] = parametric_var(v, covariance, pct) * scale
                figures[f"var_mc_{pct}"] = tail(pnl, level)[0] * scale
        variance = self._factors.variance(values)
        if variance is not None:
            days = math.sqrt(p.factor_horizon_days)
            for pct in LEVELS:
                figures[f"var_factor_{pct}"] = Z[pct] * math.sqrt(variance) * days
        return figures

    def _generator(self, account: str, ts: int) -> torch.Generator:
        """A generator seeded by the seed parameter, the account and the report's time: the
        same report draws the same scenarios, however the input was batched."""
        text = f"{self.params.seed}:{account}:{ts}".encode()
        seed = int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") >> 1
        return torch.Generator(device=self.device).manual_seed(seed)

    def _bar_seconds(self) -> int:
        period_ns = self._returns.period_ns
        return max(1, round(period_ns / 1e9)) if period_ns else DEFAULT_BAR_SECONDS

    def _alert(self, account: str, report: RiskReport, move: Transition) -> Alert:
        p = self.params
        name = {"var_limit": p.var_measure, "stress_limit": "worst_stress",
                "drawdown_limit": "drawdown"}[move.kind]
        shown = _percent if move.kind == "drawdown_limit" else _usd
        figure = "n/a" if move.figure is None else shown(move.figure)
        if move.limit is None:
            message = f"{account}: {name} limit switched off"
        elif move.raised:
            message = f"{account}: {name} {figure} over the limit {shown(move.limit)}"
        else:
            message = (f"{account}: {name} {figure} below {p.clear_ratio} x the limit "
                       f"{shown(move.limit)}")
        values = {name: move.figure}
        if move.limit is not None:
            values |= {"limit": move.limit, "clear_below": p.clear_ratio * move.limit}
        return Alert(
            ts_event=report.ts_event, ts_init=report.ts_init,
            alert_id=f"{move.kind}:{account}:{move.episode_ts}", kind=move.kind,
            state="raised" if move.raised else "cleared",
            severity="critical" if move.raised else "info", symbol=None, message=message,
            values={k: v for k, v in values.items() if v is not None},
        )

    # ---- state ----------------------------------------------------------------------------

    def keys(self) -> list[str]:
        return list(self._accounts)

    def snapshot(self, key: str) -> State:
        book = self._accounts[key]
        return {
            "holdings": {s: [h.quantity, h.mark, h.ts] for s, h in book.holdings.items()},
            "ts": book.ts, "currency": book.currency, "equity": book.equity,
            "equity_ts": book.equity_ts, "peak": book.peak, "due": book.due,
            "raised": dict(book.raised),
        }

    def restore(self, key: str, state: State) -> None:
        self.forget(key)
        book = _Account(
            holdings={s: _Holding(int(q), float(m), int(t))
                      for s, (q, m, t) in state["holdings"].items()},
            ts=int(state["ts"]), currency=str(state["currency"]), equity=state["equity"],
            equity_ts=int(state["equity_ts"]), peak=state["peak"], due=state["due"],
            raised={k: int(v) for k, v in state["raised"].items()},
        )
        self._accounts[key] = book
        if book.due is not None:
            self._pending[key] = book.due
            self._due_floor = min(self._due_floor, book.due)

    def forget(self, key: str) -> None:
        self._accounts.pop(key, None)
        if self._pending.pop(key, None) is not None:
            self._due_floor = min(self._pending.values(), default=NEVER)
        self._dirty.discard(key)


def _usd(amount: float) -> str:
    return f"{amount:,.2f} USD"


def _percent(fraction: float) -> str:
    return f"{fraction * 100:.4g}%"
