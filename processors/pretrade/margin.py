"""The margin gate: would the order's fill leave the account's excess liquidity below zero?

Excess liquidity is the newest MarginState's (logic.margin: equity - maintenance, under the
account's method). The order's effect is the increase of the maintenance requirement it
causes, computed with the shared margin code (processors/margin/methods.py: `reg_t` or
`portfolio_scan`, one row per variant of the account's quantities, one column per symbol):

- base: the positions (what the MarginState's requirement is of);
- committed: the positions with the working orders: in the order's symbol those on the
  order's side, in every other symbol those of the side that leaves the larger |position|;
- after: committed plus the order.

An order whose own increase, after - committed, is not positive passes (a reduce, a hedge:
an account in a margin call must be able to get out). Otherwise it is rejected when
excess - (after - base) < 0. Marks are the reference prices (the newest bar closes), else
the account's newest fill price, else the highest limit price of the symbol's working orders
(the order's own limit included). The fill's own effect on equity (its price against the
mark, its fee) is not counted. Instruments are equities here: multiplier 1 and a scan range
of 15% (methods.EQUITY_SCAN_RANGE); futures' multipliers and scan ranges are the margin
engine's instruments file.
"""

from __future__ import annotations

from decimal import Decimal

import torch

from processors.kit.tensors import float_dtype
from processors.margin.methods import EQUITY_SCAN_RANGE, portfolio_scan, reg_t
from processors.pretrade.account import Holding, MarginView, Side


class MarginGate:
    """Maintenance requirements of an account's quantity variants on the engine's device."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.dtype = float_dtype(device)

    def check(self, margin: MarginView, holdings: dict[str, Holding], symbol: str,
              side: Side, quantity: int, marks: dict[str, Decimal]) -> tuple[float, float] | None:
        """None when the order passes, else (the maintenance increase, the excess it would
        leave); `marks` must price every symbol of `holdings` and `symbol`."""
        symbols = sorted(set(holdings) | {symbol})
        order_holding = holdings.get(symbol, Holding(0, 0, 0))
        rows = [
            [holdings[s].position if s in holdings else 0 for s in symbols],
            [order_holding.after(side, 0) if s == symbol else holdings[s].widest
             for s in symbols],
            [order_holding.after(side, quantity) if s == symbol else holdings[s].widest
             for s in symbols],
        ]
        base, committed, after = self._maintenance(margin.method, rows, symbols, marks)
        own_increase = after - committed
        if own_increase <= 0:
            return None
        increase = after - base
        left = float(margin.excess) - increase
        return None if left >= 0 else (increase, left)

    def _maintenance(self, method: str, rows: list[list[int]], symbols: list[str],
                     marks: dict[str, Decimal]) -> tuple[float, float, float]:
        quantity = torch.tensor(rows, dtype=torch.int64, device=self.device)
        mark = torch.tensor([float(marks[s]) for s in symbols], dtype=self.dtype,
                            device=self.device)
        multiplier = torch.ones_like(mark)
        if method == "portfolio":
            requirement = portfolio_scan(quantity, mark, multiplier,
                                         torch.full_like(mark, EQUITY_SCAN_RANGE))
        else:
            requirement = reg_t(quantity, mark, multiplier)[1]
        base, committed, after = requirement.tolist()
        return base, committed, after

