"""The margin engine: logic.positions + logic.portfolio (+ market.bars.1m for volatility) ->
logic.margin, logic.risk.alerts (processors/margin/__init__.py has the rules)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from decimal import Decimal

import numpy as np
import torch

from processors.base import Emit, Engine, State, handles
from processors.kit.returns import BarReturns
from processors.kit.tensors import float_dtype
from processors.margin.alerts import MarginAlerts
from processors.margin.book import Book, Point, Valuation
from processors.margin.figures import Figures, figures
from processors.margin.instruments import Instruments
from processors.margin.params import MarginParams
from streams.clock import Clock
from streams.schema import MarginState

log = logging.getLogger(__name__)

POSITIONS, PORTFOLIO, BARS = "logic.positions", "logic.portfolio", "market.bars.1m"
MARGIN, ALERTS = "logic.margin", "logic.risk.alerts"
DEFAULT_BAR_SECONDS = 60.0  # until a bar says how long bars are
CENT = Decimal("0.01")
SIGNIFICANT = 12  # digits of the published floats: their last bits depend on summation order


class MarginEngine(Engine):
    """Reg T or portfolio margin per account, and the predictive margin call."""

    name = "margin"
    outputs = (MARGIN, ALERTS)
    key_field = "account"
    params_model = MarginParams

    def __init__(self, params: MarginParams, clock: Clock, device: torch.device) -> None:
        super().__init__(params, clock, device)
        self.params: MarginParams = params
        self._book = Book(Instruments.load(params.instruments))
        self._returns = BarReturns(device, lambda_=params.ewma_lambda)
        self._alerts = MarginAlerts(params.predicted_raise, params.predicted_clear)
        self._dtype = float_dtype(device)

    # ---- input ----------------------------------------------------------------------------

    @handles(POSITIONS, joined=True)
    def on_positions(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        points = []
        rows = zip(columns["account"].tolist(), columns["symbol"].tolist(),
                   columns["quantity"].tolist(), columns["mark"].tolist(),
                   columns["avg_price"].tolist(), columns["ts_event"].tolist(), strict=True)
        for account, symbol, quantity, mark, avg_price, ts in rows:
            self.mark_dirty(account)
            state = self._book.account(account)
            price = avg_price if math.isnan(mark) else mark  # a position without a mark yet
            if self._book.apply_position(state, symbol, quantity, price, ts):
                point = self._book.due(account, state)
                if point is not None:
                    points.append(point)
        return self._publish(points)

    @handles(PORTFOLIO)
    def on_portfolio(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        points = []
        rows = zip(columns["account"].tolist(), columns["ts_event"].tolist(),
                   columns["cash"].tolist(), columns["net_exposure"].tolist(),
                   columns["gross_exposure"].tolist(), columns["currency"].tolist(), strict=True)
        for account, ts, cash, net, gross, currency in rows:
            self.mark_dirty(account)
            state = self._book.account(account)
            if not self._book.apply_valuation(state, Valuation(ts, cash, net, gross, currency)):
                log.debug("older portfolio snapshot skipped account=%s ts=%d", account, ts)
                continue
            point = self._book.due(account, state)
            if point is not None:
                points.append(point)
        return self._publish(points)

    @handles(BARS, broadcast=True)
    def on_bars(self, columns: Mapping[str, np.ndarray]) -> list[Emit]:
        """Bar returns for the EWMA covariance (state of the bars alone: rebuilt by the
        re-read, never snapshotted); a bar of a period already folded changes nothing."""
        self._returns.add(columns["symbol"], columns["start_ns"], columns["ts_event"],
                          columns["close"])
        return []

    def quiet_rows(self, topic: str, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Bars only move the covariance: the engine concludes nothing from them."""
        return np.full(len(columns["ts_event"]), topic == BARS)

    # ---- output ---------------------------------------------------------------------------

    def _publish(self, points: list[Point]) -> list[Emit]:
        if not points:
            return []
        result = self._figures(points)
        now = self.clock.timestamp_ns()
        emits: list[Emit] = []
        columns = zip(points, result.equity.tolist(), result.initial.tolist(),
                      result.maintenance.tolist(), result.excess.tolist(),
                      result.sigma_usd.tolist(), result.call_probability.tolist(),
                      result.time_to_call_s.tolist(), strict=True)
        for point, equity, initial, maintenance, excess, sigma, probability, to_call in columns:
            v = point.valuation
            margin = MarginState(
                ts_event=v.ts, ts_init=now, account=point.account, currency=v.currency,
                equity=_cents(equity), initial_margin=_cents(initial),
                maintenance_margin=_cents(maintenance), excess_liquidity=_cents(excess),
                method=self.params.method_for(point.account), sigma_usd=_significant(sigma),
                call_probability=_significant(probability),
                time_to_call_s=None if math.isinf(to_call) else _significant(to_call),
                horizon_bars=self.params.horizon_bars,
            )
            emits.append(Emit(MARGIN, point.account, margin))
            emits += [Emit(ALERTS, point.account, alert)
                      for alert in self._alerts.update(point.state, margin)]
        return emits

    def _figures(self, points: list[Point]) -> Figures:
        """Every point's figures in one pass on the device, over the instruments any of them
        holds, in symbol order (so the sums run in one order whatever order the columns were
        added in)."""
        book = self._book
        quantity = np.zeros((len(points), len(book.symbols)), np.int64)
        mark = np.zeros(quantity.shape)
        for row, point in enumerate(points):  # a row copied before later columns were added
            quantity[row, :len(point.quantity)] = point.quantity
            mark[row, :len(point.mark)] = point.mark
        held = np.flatnonzero((quantity != 0).any(axis=0))
        symbols = [book.symbols[c] for c in held]
        order = held[np.argsort(np.array(symbols, dtype=object), kind="stable")]
        to_device = self._tensor
        return figures(
            to_device(quantity[:, order]), to_device(mark[:, order]),
            to_device(book.multiplier[order]), to_device(book.scan_range[order]),
            self._returns.covariance([book.symbols[c] for c in order]),
            to_device(np.array([p.valuation.cash for p in points])),
            torch.tensor([self.params.method_for(p.account) == "portfolio" for p in points],
                         device=self.device),
            horizon_bars=self.params.horizon_bars, bar_seconds=self._bar_seconds(),
        )

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64)).to(
            self.device, self._dtype)

    def _bar_seconds(self) -> float:
        period = self._returns.period_ns
        return period / 1e9 if period else DEFAULT_BAR_SECONDS

    # ---- state ----------------------------------------------------------------------------

    def keys(self) -> list[str]:
        return list(self._book.accounts)

    def snapshot(self, key: str) -> State:
        return self._book.snapshot(key)

    def restore(self, key: str, state: State) -> None:
        self._book.restore(key, state)

    def forget(self, key: str) -> None:
        self._book.forget(key)
        self._dirty.discard(key)


def _cents(amount: float) -> Decimal:
    """Money on the wire: to the cent, half-even; + 0 turns -0.00 into 0.00."""
    return Decimal(f"{amount:.2f}") + 0


def _significant(value: float) -> float:
    return float(f"{value:.{SIGNIFICANT}g}")
