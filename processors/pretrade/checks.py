"""The pre-trade checks of one order, in order; the first that fails names the rejection.

Each check returns None (pass) or a `Rejection` whose reason is `risk: <check>: <numbers>`.
The order of the checks: trading state, then the erroneous-order checks (quantity, notional,
price collar), then what the order would do to the account (position, gross exposure,
toxicity, margin), and the order rate last, so that only an order that passes everything
else takes a token. An order that only reduces a position (`Holding.reduces`) skips the
position, exposure, toxicity and margin checks: nothing there may keep an account from
getting smaller.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from processors.pretrade.account import Account, Holding, TokenBucket
from processors.pretrade.margin import MarginGate
from processors.pretrade.market import MarketView
from processors.pretrade.params import PretradeParams
from streams.schema import Order

BPS = 10_000


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an order is rejected: the check's name, the numbers, and the numbers as values."""

    check: str
    detail: str
    values: dict[str, float]

    @property
    def reason(self) -> str:
        return f"risk: {self.check}: {self.detail}"


@dataclass(frozen=True, slots=True)
class _Candidate:
    """One order and its account, as the checks see them."""

    account_name: str
    account: Account
    order: Order
    holding: Holding
    reduces: bool

    def shape(self) -> str:
        """The position, the working orders on the order's side and the order, in words."""
        o, h = self.order, self.holding
        working = h.working_buy if o.side == "buy" else h.working_sell
        return (f"position {h.position}, working {o.side}s {working}, "
                f"order {o.side} {o.quantity}")


class Checks:
    """The checks under one set of parameters; `first_failure` runs them on one order."""

    def __init__(self, params: PretradeParams, market: MarketView, margin: MarginGate) -> None:
        self.params, self.market, self.margin = params, market, margin
        self._checks: tuple[Callable[[_Candidate], Rejection | None], ...] = (
            self._trading_state, self._quantity, self._notional, self._collar,
            self._position, self._gross_exposure, self._toxicity, self._margin, self._rate)

    def first_failure(self, account_name: str, account: Account,
                      order: Order) -> Rejection | None:
        holding = account.holding(order.symbol)
        candidate = _Candidate(account_name, account, order, holding,
                               holding.reduces(order.side, order.quantity))
        for check in self._checks:
            rejection = check(candidate)
            if rejection is not None:
                return rejection
        return None

    # ---- the checks ---------------------------------------------------------------------

    def _trading_state(self, c: _Candidate) -> Rejection | None:
        mode = c.account.mode
        if mode.state == "HALTED" or (mode.state == "REDUCING" and not c.reduces):
            why = "" if mode.state == "HALTED" else f": the order is not a reduce ({c.shape()})"
            return Rejection("trading_state", f"account {c.account_name} is {mode.state} "
                             f"({mode.command_id}: {mode.reason}){why}", {})
        return None

    def _quantity(self, c: _Candidate) -> Rejection | None:
        limit = self.params.limit("max_quantity_per_order", c.order.symbol)
        if limit is None or c.order.quantity <= limit:
            return None
        return Rejection("max_quantity_per_order", f"quantity {c.order.quantity} > limit "
                         f"{limit} for {c.order.symbol}",
                         {"quantity": c.order.quantity, "limit": float(limit)})

    def _notional(self, c: _Candidate) -> Rejection | None:
        limit = self.params.limit("max_notional_per_order", c.account_name)
        if limit is None:
            return None
        o = c.order
        price = o.limit_price if o.limit_price is not None else self._price(c.account, o.symbol)
        if price is None:
            return _unpriced("max_notional_per_order", o.symbol)
        notional = o.quantity * price
        if notional <= limit:
            return None
        return Rejection("max_notional_per_order", f"notional {notional} ({o.quantity} x "
                         f"{price}) > limit {limit} for account {c.account_name}",
                         {"notional": float(notional), "limit": float(limit)})

    def _collar(self, c: _Candidate) -> Rejection | None:
        o = c.order
        collar = self.params.limit("collar_bps", o.symbol)
        if collar is None or o.limit_price is None:
            return None
        reference = self.market.reference(o.symbol)
        if reference is None:
            return Rejection("price_collar", f"no reference price for {o.symbol} (no "
                             "1-minute bar of it yet)", {"collar_bps": float(collar)})
        away = (o.limit_price - reference.price) if o.side == "buy" \
            else (reference.price - o.limit_price)
        if away * BPS <= collar * reference.price:
            return None
        bps = float(Fraction(away) * BPS / Fraction(reference.price))
        direction = "above" if o.side == "buy" else "below"
        return Rejection("price_collar", f"{o.side} limit {o.limit_price} is {bps:.2f} bps "
                         f"{direction} the reference {reference.price} (close of the bar "
                         f"ending at ts_event {reference.ts}) > collar {collar} bps",
                         {"limit_price": float(o.limit_price),
                          "reference": float(reference.price), "bps": bps,
                          "collar_bps": float(collar)})

    def _position(self, c: _Candidate) -> Rejection | None:
        o = c.order
        limit = self.params.limit("max_position_per_symbol", o.symbol)
        if limit is None or c.reduces:
            return None
        after = abs(c.holding.after(o.side, o.quantity))
        if after <= limit:
            return None
        return Rejection("max_position_per_symbol", f"|position| after the order {after} > "
                         f"limit {limit} for {o.symbol} ({c.shape()})",
                         {"position_after": after, "limit": float(limit)})

    def _gross_exposure(self, c: _Candidate) -> Rejection | None:
        limit = self.params.limit("max_gross_exposure", c.account_name)
        if limit is None or c.reduces:
            return None
        marks = self._marks(c, "max_gross_exposure")
        if isinstance(marks, Rejection):
            return marks
        gross = sum((abs(h.widest) * marks[s] for s, h in self._holdings(c).items()),
                    Decimal(0))
        if gross <= limit:
            return None
        return Rejection("max_gross_exposure", f"gross exposure after the order {gross} > "
                         f"limit {limit} for account {c.account_name} (working orders "
                         f"counted; {c.order.symbol}: {c.shape()})",
                         {"gross_exposure_after": float(gross), "limit": float(limit)})

    def _toxicity(self, c: _Candidate) -> Rejection | None:
        if not self.params.toxicity_gate or c.reduces:
            return None
        alert = self.market.toxic_alert(c.order.symbol)
        if alert is None:
            return None
        return Rejection("toxicity_gate", f"VPIN alert {alert} is raised on {c.order.symbol} "
                         f"and the order would open or increase the position ({c.shape()})",
                         {"quantity": c.order.quantity, "position": c.holding.position})

    def _margin(self, c: _Candidate) -> Rejection | None:
        margin = c.account.margin
        if not self.params.margin_gate or margin is None or c.reduces:
            return None
        marks = self._marks(c, "margin_gate")
        if isinstance(marks, Rejection):
            return marks
        o = c.order
        short = self.margin.check(margin, c.account.holdings(), o.symbol, o.side, o.quantity,
                                  marks)
        if short is None:
            return None
        increase, left = short
        return Rejection("margin_gate", f"excess liquidity {margin.excess} - maintenance "
                         f"increase {increase:.2f} = {left:.2f} < 0 ({margin.method}; margin "
                         f"state at ts_event {margin.ts})",
                         {"excess_liquidity": float(margin.excess),
                          "maintenance_increase": increase, "excess_after": left})

    def _rate(self, c: _Candidate) -> Rejection | None:
        strategy, ts = c.order.strategy, c.order.ts_event
        rate = self.params.limit("order_rate_per_s", strategy)
        if rate is None:
            return None
        burst = int(self.params.limit("order_burst", strategy) or max(1, math.ceil(rate)))
        bucket = c.account.buckets.setdefault(strategy, TokenBucket(Fraction(burst), ts))
        if bucket.take(ts, Decimal(rate), burst):
            return None
        return Rejection("order_rate", f"strategy {strategy} sent more than its burst of "
                         f"{burst} at {rate} orders/s ({float(bucket.tokens):.3f} orders left)",
                         {"rate_per_s": float(rate), "burst": burst,
                          "tokens": float(bucket.tokens)})

    # ---- prices ---------------------------------------------------------------------------

    def _price(self, account: Account, symbol: str) -> Decimal | None:
        """The reference price, else the account's newest fill price in `symbol`."""
        reference = self.market.reference(symbol)
        if reference is not None:
            return reference.price
        fill = account.fill_prices.get(symbol)
        return None if fill is None else fill[1]

    def _holdings(self, c: _Candidate) -> dict[str, Holding]:
        """The account's holdings with the order added to its symbol's working orders."""
        holdings = c.account.holdings()
        holdings[c.order.symbol] = c.holding.with_order(c.order.side, c.order.quantity)
        return holdings

    def _marks(self, c: _Candidate, check: str) -> dict[str, Decimal] | Rejection:
        """A price for every symbol the account holds or works and the order's: see
        processors/pretrade/margin.py."""
        marks = {}
        for symbol in self._holdings(c):
            price = self._price(c.account, symbol)
            if price is None:
                ledger = c.account.ledgers.get(symbol)
                limits = [o.order.limit_price for o in ledger.orders.values()
                          if o.order.limit_price is not None] if ledger else []
                if symbol == c.order.symbol and c.order.limit_price is not None:
                    limits.append(c.order.limit_price)
                price = max(limits, default=None)
            if price is None:
                return _unpriced(check, symbol)
            marks[symbol] = price
        return marks


def _unpriced(check: str, symbol: str) -> Rejection:
    return Rejection(check, f"no price for {symbol} (no 1-minute bar and no fill of it yet)",
                     {})
