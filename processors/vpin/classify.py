"""Buy/sell classification: bulk volume (BVC, per bar) and the tick rule (per trade).

BVC: the first bar of a symbol only sets the previous close; every later bar has
ΔP = close - previous close. σ is the sample standard deviation (ddof 1) of the symbol's last
`sigma_bars` ΔP values, the current one included; a bar is classified once two ΔP values
exist, with buy fraction Φ(ΔP / σ), or 0.5 when σ = 0 (all values in the window equal).
ΔP is taken on an integer grid of 1e-9 price units: in binary floats 10.2 - 10.1 and
10.3 - 10.2 differ, which would turn σ = 0 into σ ≈ 1e-15 and f = 0.5 into f = 1.

Tick rule: a trade above the symbol's previous trade price is a buy, below it a sell; at the
same price it keeps the previous trade's classification. Trades before the first price
change have none and are not bucketed.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

from processors.kit.segments import (
    ends_of,
    last_index,
    previous,
    rank,
    sequential_sum,
    starts_of,
    window,
    write_ring,
)
from processors.kit.tensors import FLOAT, KeyTable, SlotField
from processors.kit.timebars import Bars, TimeBars, Trades
from processors.vpin.rows import Pours

TICK_FIELDS = {
    "last_price": SlotField(FLOAT, 0.0),
    "has_price": SlotField(torch.bool, False),
    "last_tick": SlotField(torch.int8, 0),
}


PRICE_GRID = 1e9  # ΔP in units of 1e-9 price


def bvc_fields(sigma_bars: int) -> dict[str, SlotField]:
    return {
        "last_close": SlotField(torch.int64, 0),  # units of 1e-9 price
        "closes": SlotField(torch.int64, 0),
        "dp_count": SlotField(torch.int64, 0),
        "dp_ring": SlotField(torch.int64, 0, width=sigma_bars, count="dp_count"),
    }


class Classifier(Protocol):
    """Trades in, classified volume out, in each symbol's order."""

    def add_trades(self, trades: Trades) -> Pours:
        """Classify what these trades settle."""

    def settle(self, now_ns: int | None) -> tuple[Pours, Tensor]:
        """Classify what the clock at `now_ns` settles (None: the end of input, everything);
        also the slots whose state changed."""


class BulkVolume:
    """Trades into time bars; closed bars' volume classified as a whole."""

    def __init__(self, table: KeyTable, bar_seconds: int, grace_ms: int) -> None:
        self._t = table
        self._bars = TimeBars(table, bar_seconds, grace_ms)

    def add_trades(self, trades: Trades) -> Pours:
        return self._classify(self._bars.add(trades))

    def settle(self, now_ns: int | None) -> tuple[Pours, Tensor]:
        bars = self._bars.close_due(now_ns)
        return self._classify(bars), bars.slot

    def _classify(self, bars: Bars) -> Pours:
        t, slot = self._t, bars.slot
        close = torch.round(bars.close * PRICE_GRID).long()
        starts = starts_of(slot)
        prev_close = previous(close, starts, t["last_close"][slot])
        has_prev = torch.where(starts, t["closes"][slot] > 0, True)
        ends = ends_of(starts)
        t["last_close"][slot[ends]] = close[ends]
        t["closes"].index_add_(0, slot, torch.ones_like(slot))
        moved = bars.select(has_prev)
        delta = (close - prev_close)[has_prev]
        dslot = moved.slot
        ordinal = t["dp_count"][dslot] + rank(starts_of(dslot)) + 1
        fraction = self._fractions(dslot, ordinal, delta)
        write_ring(t["dp_ring"], dslot, ordinal, delta)
        t["dp_count"].index_add_(0, dslot, torch.ones_like(dslot))
        classified = ordinal >= 2
        return Pours(dslot[classified], moved.volume[classified], fraction[classified],
                     moved.ts[classified])

    def _fractions(self, slot: Tensor, ordinal: Tensor, delta: Tensor) -> Tensor:
        """Φ(ΔP / σ) over each bar's window, 0.5 where σ = 0 (rows with one ΔP: unused)."""
        ring = self._t["dp_ring"]
        first_valid = torch.ones_like(ordinal)
        moves, valid = window(ring, self._t["dp_count"], slot, ordinal, delta, first_valid)
        flat = (torch.where(valid, moves, moves[:, -1:]) == moves[:, -1:]).all(1)
        values = moves.to(self._t.float_dtype)
        count = ordinal.clamp(max=ring.shape[1]).to(values.dtype)
        mean = sequential_sum(torch.where(valid, values, 0.0)) / count
        deviation = torch.where(valid, values - mean[:, None], 0.0)
        variance = sequential_sum(deviation * deviation) / (count - 1).clamp(min=1)
        sigma = torch.where(flat, 1.0, variance.sqrt())
        return torch.where(flat, 0.5, torch.special.ndtr(delta.to(values.dtype) / sigma))


class TickRule:
    """Each trade classified on arrival by its tick; nothing waits for the clock."""

    def __init__(self, table: KeyTable) -> None:
        self._t = table

    def add_trades(self, trades: Trades) -> Pours:
        return Pours.whole_trades(trades, self.signs(trades.slot, trades.price))

    def settle(self, now_ns: int | None) -> tuple[Pours, Tensor]:
        none = torch.empty(0, dtype=torch.int64, device=self._t.device)
        return Pours(none, none, none.to(self._t.float_dtype), none), none

    def signs(self, slot: Tensor, price: Tensor) -> Tensor:
        """Tick sign of every trade: +1 buy, -1 sell, 0 none yet."""
        t = self._t
        starts = starts_of(slot)
        prev_price = previous(price, starts, t["last_price"][slot])
        has_prev = torch.where(starts, t["has_price"][slot], True)
        change = torch.where(has_prev, torch.sign(price - prev_price), 0.0).to(torch.int8)
        last_change = last_index(change != 0, starts)
        sign = torch.where(last_change >= 0, change[last_change.clamp(min=0)],
                           t["last_tick"][slot])
        ends = slot[ends_of(starts)]
        t["last_price"][ends] = price[ends_of(starts)]
        t["has_price"][ends] = True
        t["last_tick"][ends] = sign[ends_of(starts)]
        return sign
