"""Time bars per key on a `KeyTable` (torch tensors), for any engine that needs them (VPIN's
bulk volume classification).

A trade belongs to bar `ts_event // (bar_seconds * 10**9)`; a bar's volume is the sum of its
sizes, its close the price of its last trade (arrival order). A symbol's open bar closes when
a trade of a later bar arrives, when the clock passes the bar's end plus `grace_ms`
(`close_due`), or at the end of input. A trade of a bar older than the open one, or of a bar
already closed, is late: counted and dropped (a classified bar is never rewritten).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from processors.kit.segments import ends_of, running_max, starts_of
from processors.kit.tensors import FLOAT, KeyTable, SlotField


@dataclass(frozen=True, slots=True)
class Trades:
    slot: Tensor
    ts: Tensor
    price: Tensor
    size: Tensor

    def __len__(self) -> int:
        return self.slot.shape[0]


@dataclass(frozen=True, slots=True)
class Bars:
    """Closed time bars: close is the last trade's price, ts its ts_event."""

    slot: Tensor
    close: Tensor
    volume: Tensor
    ts: Tensor

    def __len__(self) -> int:
        return self.slot.shape[0]

    def select(self, mask: Tensor) -> Bars:
        return Bars(self.slot[mask], self.close[mask], self.volume[mask], self.ts[mask])

    @staticmethod
    def join(first: Bars, second: Bars, order: Tensor) -> Bars:
        """Rows of both, rearranged by `order` (indices into first + second)."""
        return Bars(*(torch.cat([a, b])[order] for a, b in zip(
            (first.slot, first.close, first.volume, first.ts),
            (second.slot, second.close, second.volume, second.ts),
            strict=True,
        )))


BAR_FIELDS = {
    "open_bar": SlotField(torch.int64, -1),
    "open_volume": SlotField(torch.int64, 0),
    "open_close": SlotField(FLOAT, 0.0),
    "open_ts": SlotField(torch.int64, 0),
    "closed_bar": SlotField(torch.int64, -1),
    "late_trades": SlotField(torch.int64, 0),
}


class TimeBars:
    """Builds each symbol's bars from trades; hands on the bars that close."""

    def __init__(self, table: KeyTable, bar_seconds: int, grace_ms: int) -> None:
        self._t = table
        self._bar_ns = bar_seconds * 1_000_000_000
        self._grace_ns = grace_ms * 1_000_000

    def add(self, trades: Trades) -> Bars:
        """Apply trades (grouped by slot); return the bars they close, grouped by slot."""
        slot, ts, price, size = trades.slot, trades.ts, trades.price, trades.size
        bar = ts // self._bar_ns
        open_bar = self._t["open_bar"][slot]
        horizon = torch.where(open_bar >= 0, open_bar, self._t["closed_bar"][slot] + 1)
        on_time = bar >= running_max(torch.maximum(bar, horizon), starts_of(slot))
        late = slot[~on_time]
        self._t["late_trades"].index_add_(0, late, torch.ones_like(late))
        if late.shape[0]:
            slot, ts, price, size, bar = (x[on_time] for x in (slot, ts, price, size, bar))
        if slot.shape[0] == 0:
            return self._open_bars(slot)
        run_starts = starts_of(slot) | starts_of(bar)
        first = torch.nonzero(run_starts).squeeze(1)
        last = torch.cat([first[1:] - 1, first.new_tensor([slot.shape[0] - 1])])
        volume = torch.zeros_like(first).index_add_(0, run_starts.long().cumsum(0) - 1, size)
        runs = Bars(slot[first], price[last], volume, ts[last])
        return self._merge_open(runs, bar[first])

    def _merge_open(self, runs: Bars, run_bar: Tensor) -> Bars:
        """Continue or close each slot's open bar; the last run of a slot becomes its open bar."""
        t, slot = self._t, runs.slot
        seg_start = starts_of(slot)
        seg_end = ends_of(seg_start)
        open_bar = t["open_bar"][slot]
        merge = seg_start & (open_bar == run_bar)
        runs = Bars(slot, runs.close, runs.volume + torch.where(merge, t["open_volume"][slot], 0),
                    runs.ts)
        closes_open = seg_start & (open_bar >= 0) & ~merge
        held = self._open_bars(slot[closes_open])
        closed_index = torch.cat([open_bar[closes_open], run_bar[~seg_end]])
        index = torch.arange(len(runs), device=slot.device)
        keys = torch.cat([2 * index[closes_open], 2 * index[~seg_end] + 1])
        closed = Bars.join(held, runs.select(~seg_end), torch.argsort(keys))
        t["closed_bar"].scatter_reduce_(0, torch.cat([slot[closes_open], slot[~seg_end]]),
                                        closed_index, "amax")
        ends = slot[seg_end]
        t["open_bar"][ends] = run_bar[seg_end]
        t["open_volume"][ends] = runs.volume[seg_end]
        t["open_close"][ends] = runs.close[seg_end]
        t["open_ts"][ends] = runs.ts[seg_end]
        return closed

    def close_due(self, now_ns: int | None) -> Bars:
        """Close the open bars whose end plus grace is at or before `now_ns` (None: all)."""
        open_bar = self._t["open_bar"]
        due = open_bar >= 0
        if now_ns is not None:
            due &= (open_bar + 1) * self._bar_ns + self._grace_ns <= now_ns
        slots = torch.nonzero(due).squeeze(1)
        bars = self._open_bars(slots)
        self._t["closed_bar"][slots] = open_bar[slots]
        self._t["open_bar"][slots] = -1
        return bars

    def _open_bars(self, slots: Tensor) -> Bars:
        t = self._t
        return Bars(slots, t["open_close"][slots], t["open_volume"][slots], t["open_ts"][slots])
