"""The analytics engine: logic.portfolio + market.executions -> logic.analytics, per account.

Period bookkeeping (see processors/analytics/__init__.py for the definitions): an account's
snapshots fall into periods (end - P, end] of the UTC epoch grid; the open period keeps its
newest snapshot (by ts_event; at equal ts_event the later one), and closes when time passes
its end (`on_time(now)`, now >= end) or a snapshot of a later period arrives. A closed
period's equity becomes one return; fills are counted in the period their ts_event falls in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING

import numpy as np

from processors.analytics.metrics import performance, rolling
from processors.analytics.params import AnalyticsParams
from processors.base import Emit, Engine, State, handles
from processors.kit.applied import AppliedFills
from processors.prices import decimal_of
from streams.clock import Clock
from streams.schema import AnalyticsResult

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

PORTFOLIO, EXECUTIONS, ANALYTICS = "logic.portfolio", "market.executions", "logic.analytics"
SECOND_NS = 1_000_000_000
EXACT_DIGITS = 60  # Decimal digits for the sums of fees and notionals (exact)


def period_end(ts_ns: int, period_ns: int) -> int:
    """The end of the period (end - P, end] of the epoch grid that `ts_ns` falls in."""
    return -(-ts_ns // period_ns) * period_ns


@dataclass(slots=True)
class _Period:
    """The open period: its end and its newest snapshot's time, equity and gross exposure."""

    end: int
    ts: int
    equity: float
    gross: float

    @property
    def exposure(self) -> float:
        return self.gross / self.equity if self.equity else float("nan")


@dataclass(slots=True)
class _Trading:
    """Fills, their commissions and their traded notional (sum of price x quantity)."""

    fills: int = 0
    fees: Decimal = Decimal(0)
    turnover: Decimal = Decimal(0)

    def add(self, other: _Trading) -> None:
        self.fills += other.fills
        self.fees += other.fees
        self.turnover += other.turnover

    def as_list(self) -> list:
        return [self.fills, str(self.fees), str(self.turnover)]

    @classmethod
    def of(cls, saved: list) -> _Trading:
        return cls(int(saved[0]), Decimal(saved[1]), Decimal(saved[2]))


@dataclass(slots=True)
class _Account:
    start: float | None = None  # starting cash: equity - realized - unrealized of a snapshot
    equities: list[float] = field(default_factory=list)  # the closed periods', oldest first
    exposures: list[float] = field(default_factory=list)  # their gross exposure / equity
    open: _Period | None = None
    closed_end: int = -1  # the end of the newest closed period
    last_ts: int = -1  # the newest snapshot's ts_event
    traded: _Trading = field(default_factory=_Trading)  # fills in closed periods
    pending: dict[int, _Trading] = field(default_factory=dict)  # later fills by period end
    applied: AppliedFills = field(default_factory=AppliedFills)


class AnalyticsEngine(Engine):
    """Performance figures of each account's period returns (processors/analytics)."""

    name = "analytics"
    outputs = (ANALYTICS,)
    key_field = "account"
    params_model = AnalyticsParams

    def __init__(self, params: AnalyticsParams, clock: Clock, device: torch.device) -> None:
        super().__init__(params, clock, device)
        self.params: AnalyticsParams = params
        self._period_ns = params.period_seconds * SECOND_NS
        self._accounts: dict[str, _Account] = {}

    # ---- input ----------------------------------------------------------------------------

    @handles(PORTFOLIO)
    def on_portfolio(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        emits: list[Emit] = []
        rows = zip(columns["account"].tolist(), columns["ts_event"].tolist(),
                   columns["equity"].tolist(), columns["gross_exposure"].tolist(),
                   columns["realized_pnl"].tolist(), columns["unrealized_pnl"].tolist(),
                   strict=True)
        for account, ts, equity, gross, realized, unrealized in rows:
            book = self._accounts.setdefault(account, _Account())
            if book.start is None:
                with localcontext(prec=EXACT_DIGITS):
                    book.start = float(decimal_of(equity) - decimal_of(realized)
                                       - decimal_of(unrealized))
            self.mark_dirty(account)
            emits += self._snapshot(account, book, _Period(
                period_end(ts, self._period_ns), ts, equity, gross))
        return emits

    @handles(EXECUTIONS)
    def on_executions(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        rows = zip(columns["account"].tolist(), columns["ts_event"].tolist(),
                   columns["price"].tolist(), columns["quantity"].tolist(),
                   columns["commission"].tolist(), columns["exec_id"].tolist(),
                   columns["order_id"].tolist(), strict=True)
        with localcontext(prec=EXACT_DIGITS):
            for account, ts, price, quantity, commission, exec_id, order_id in rows:
                book = self._accounts.setdefault(account, _Account())
                if not book.applied.first_time(exec_id, order_id):
                    log.info("execution counted already, skipped account=%s exec_id=%s",
                             account, exec_id)
                    continue
                self.mark_dirty(account)
                fill = _Trading(1, decimal_of(commission), decimal_of(price) * quantity)
                end = period_end(ts, self._period_ns)
                if end <= book.closed_end:  # late: its period's results are out
                    book.traded.add(fill)
                else:
                    book.pending.setdefault(end, _Trading()).add(fill)
        return []

    def _snapshot(self, account: str, book: _Account, period: _Period) -> list[Emit]:
        """Apply a snapshot: it closes the open period if it falls in a later one."""
        newest = book.open.end if book.open is not None else book.closed_end
        if period.end < newest or period.end <= book.closed_end:
            log.info("snapshot of a closed period ignored account=%s ts_event=%d "
                     "period_end=%d", account, period.ts, period.end)
            return []
        emits: list[Emit] = []
        if book.open is not None and period.end > book.open.end:
            emits += self._close(account, book)
        if book.open is None or period.ts >= book.open.ts:
            book.open = period
        book.last_ts = max(book.last_ts, period.ts)
        return emits

    # ---- time -----------------------------------------------------------------------------

    def on_time(self, now_ns: int) -> list[Emit]:
        """Every event at or before `now_ns` is in: the periods that end by then close."""
        emits: list[Emit] = []
        for account in sorted(self._accounts):
            book = self._accounts[account]
            if book.open is not None and book.open.end <= now_ns:
                self.mark_dirty(account)
                emits += self._close(account, book)
        return emits

    def flush(self) -> list[Emit]:
        """End of input: each account's figures with its open period counted, `final`."""
        emits: list[Emit] = []
        for account in sorted(self._accounts):
            book = self._accounts[account]
            if book.start is None:
                continue
            traded = _Trading()
            traded.add(book.traded)
            for fills in book.pending.values():
                traded.add(fills)
            equities, exposures = list(book.equities), list(book.exposures)
            if book.open is not None:
                equities.append(book.open.equity)
                exposures.append(book.open.exposure)
            emits.append(self._performance(account, book.start, equities, exposures, traded,
                                           book.last_ts, final=True))
        return emits

    def _close(self, account: str, book: _Account) -> list[Emit]:
        """Close the open period: its equity is the next return; publish at its end."""
        period = book.open
        assert period is not None and book.start is not None
        book.open, book.closed_end = None, period.end
        book.equities.append(period.equity)
        book.exposures.append(period.exposure)
        for end in sorted(e for e in book.pending if e <= period.end):
            book.traded.add(book.pending.pop(end))
        emits = [self._performance(account, book.start, book.equities, book.exposures,
                                   book.traded, period.end, final=False)]
        window = self.params.rolling_periods
        if len(book.equities) >= window:
            returns = _returns(book.start, book.equities)[-window:]
            emits.append(self._emit(account, "rolling", window, period.end, False,
                                    rolling(returns, self.params.periods_per_year)))
        return emits

    # ---- output ---------------------------------------------------------------------------

    def _performance(self, account: str, start: float, equities: list[float],
                     exposures: list[float], traded: _Trading, ts: int,
                     final: bool) -> Emit:
        returns = _returns(start, equities)
        values = performance(returns, self.params.periods_per_year)
        exposure = float(np.mean(exposures))
        values |= {"fills": float(traded.fills), "fees": float(traded.fees),
                   "turnover": float(traded.turnover),
                   "exposure": exposure if np.isfinite(exposure) else None}
        return self._emit(account, "performance", len(returns), ts, final, values)

    def _emit(self, account: str, name: str, periods: int, ts: int, final: bool,
              values: dict[str, float | None]) -> Emit:
        return Emit(ANALYTICS, account, AnalyticsResult(
            ts_event=ts, ts_init=self.clock.timestamp_ns(), account=account, name=name,
            period_seconds=self.params.period_seconds, periods=periods, final=final,
            values=values))

    # ---- state ----------------------------------------------------------------------------

    def keys(self) -> list[str]:
        return list(self._accounts)

    def snapshot(self, key: str) -> State:
        book = self._accounts[key]
        period = book.open
        return {
            "start": book.start,
            "equities": list(book.equities),
            "exposures": list(book.exposures),
            "open": None if period is None else [period.end, period.ts, period.equity,
                                                 period.gross],
            "closed_end": book.closed_end,
            "last_ts": book.last_ts,
            "traded": book.traded.as_list(),
            "pending": [[end, *fills.as_list()] for end, fills in sorted(book.pending.items())],
            "applied": book.applied.snapshot(),
        }

    def restore(self, key: str, state: State) -> None:
        period = state["open"]
        self._accounts[key] = _Account(
            start=state["start"], equities=[float(e) for e in state["equities"]],
            exposures=[float(e) for e in state["exposures"]],
            open=None if period is None else _Period(int(period[0]), int(period[1]),
                                                     float(period[2]), float(period[3])),
            closed_end=int(state["closed_end"]), last_ts=int(state["last_ts"]),
            traded=_Trading.of(state["traded"]),
            pending={int(p[0]): _Trading.of(p[1:]) for p in state["pending"]},
            applied=AppliedFills(state["applied"]))

    def forget(self, key: str) -> None:
        self._accounts.pop(key, None)
        self._dirty.discard(key)


def _returns(start: float, equities: list[float]) -> np.ndarray:
    """Period returns of `equities` (oldest first), the first against `start`."""
    path = np.asarray([start, *equities], dtype=np.float64)
    with np.errstate(all="ignore"):
        returns: np.ndarray = path[1:] / path[:-1] - 1.0
    return returns
