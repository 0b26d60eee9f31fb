"""Prices of paper fills: slippage, book walks, bar fills. Pure functions on one order.

Prices are exact decimals: the market's prices as they were written (a float64 column value
is the decimal of its shortest text, `processors.prices.exact`), a slipped price
`price * (1 +/- slippage_bps / 1e4)` rounded half-even to 9 decimals (the nano unit every
computed price of this project has), a limit price as the order gave it.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np

from processors.execution.orders import Fill, WorkingOrder
from processors.prices import rounded

Level = list  # [price as float64, size]: one level of a depth snapshot, as the state keeps it


def price_of(value: float) -> Decimal:
    """A market price from its float64 column value, as the decimal it was written as."""
    return Decimal(np.format_float_positional(value, unique=True, trim="-"))


def slipped(price: Decimal, buys: bool, slippage_bps: Decimal) -> Decimal:
    """`price` moved against the taker: buys pay more, sells get less."""
    move = Fraction(slippage_bps) / 10_000
    return rounded(Fraction(price) * (1 + move if buys else 1 - move))


def taker_price(order: WorkingOrder, price: Decimal, slippage_bps: Decimal) -> Decimal:
    """What a taker pays at market price `price`: slipped, and never through its limit."""
    paid = slipped(price, order.buys, slippage_bps)
    limit = order.limit
    if limit is None:
        return paid
    return min(paid, limit) if order.buys else max(paid, limit)


def walk(order: WorkingOrder, levels: list[Level]) -> list[Fill]:
    """Take the opposite side's levels (best first) at or better than the order's limit, one
    fill per level, until the order has nothing left; the levels keep what is left."""
    fills = []
    leaves = order.leaves
    for level in levels:
        if not leaves:
            break
        price, size = price_of(level[0]), int(level[1])
        if not order.marketable(price):
            break
        taken = min(leaves, size)
        if taken:
            fills.append(Fill(price, taken, taker=True))
            level[1] = size - taken
            leaves -= taken
    return fills


def bar_fill(order: WorkingOrder, open_: Decimal, high: Decimal, low: Decimal,
             first: bool, slippage_bps: Decimal) -> Fill | None:
    """The fill of a bar-model order on one bar, if any (backtrader's convention).

    A market order takes the open, slipped. A limit order marketable at the open takes it:
    on the first bar after it reached the venue as a taker (slipped, never through the limit),
    later as a resting order the market gapped through (the open, maker); otherwise it fills
    at the limit (maker) when the bar's range reaches it.
    """
    if order.order_type == "market":
        return Fill(slipped(open_, order.buys, slippage_bps), order.leaves, taker=True)
    if order.marketable(open_):
        if first:
            return Fill(taker_price(order, open_, slippage_bps), order.leaves, taker=True)
        return Fill(open_, order.leaves, taker=False)
    limit = order.limit
    assert limit is not None
    if (low <= limit) if order.buys else (high >= limit):
        return Fill(limit, order.leaves, taker=False)
    return None
