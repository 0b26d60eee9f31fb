"""Volume buckets, VPIN over the last n of them, and its empirical CDF.

Classified volume pours into the symbol's current bucket in event order; a bucket holds
exactly V, so a row that overflows is split, each piece keeping the row's buy fraction f,
and may fill several buckets. Bucket τ's VPIN (once τ >= n) is Σ |sell - buy| over buckets
τ-n+1 .. τ divided by n·V; its CDF is the fraction of the symbol's last `cdf_window` VPIN
values (this one included) that are <= it.

Exactness: buy volume is kept in integer units of 2**-20 share. Along a symbol's cumulative
bucketed volume x, buy(x) is the sum over whole rows of round(f·v·2**20) plus, inside a row,
round(f·(x - row start)·2**20); a bucket's buy is buy(end) - buy(start). Every sum is an
integer sum, so it does not depend on how the stream was cut into batches, buy + sell = V
exactly, and VPIN is an exact integer ratio (the CDF compares the integer numerators).
"""

from __future__ import annotations

import torch
from torch import Tensor

from processors.kit.segments import cumsum, ends_of, rank, starts_of, window, write_ring
from processors.kit.tensors import KeyTable, SlotField
from processors.vpin.params import VOLUME_SCALE_BITS
from processors.vpin.rows import Completed, Pours

SCALE = 2**VOLUME_SCALE_BITS


def bucket_fields(window_buckets: int, cdf_window: int) -> dict[str, SlotField]:
    return {
        "bucket_volume": SlotField(torch.int64, 1),
        "fill": SlotField(torch.int64, 0),
        "fill_buy": SlotField(torch.int64, 0),
        "buckets": SlotField(torch.int64, 0),
        # Buckets before this one belong to an earlier V (state restored under a new V).
        "series_start": SlotField(torch.int64, 0),
        "imbalance": SlotField(torch.int64, 0, width=window_buckets, count="buckets"),
        "vpin_count": SlotField(torch.int64, 0),
        "vpin_history": SlotField(torch.int64, 0, width=cdf_window, count="vpin_count"),
    }


class Buckets:
    """Pours in, completed buckets (with VPIN and CDF) out."""

    def __init__(self, table: KeyTable) -> None:
        self._t = table

    def pour(self, pours: Pours) -> Completed:
        counted = self._t["buckets"].clone()
        slot, ts, buy, bucket = self._fill(pours)
        window_sum = self._vpin(slot, bucket, buy, counted)
        cdf, history = self._cdf(slot, window_sum)
        return Completed(slot, bucket, ts, buy, window_sum, cdf, history)

    def _fill(self, pours: Pours) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Pour rows into buckets; return the completed buckets' slot, ts, buy and number."""
        t, slot = self._t, pours.slot
        size = t["bucket_volume"][slot]
        starts = starts_of(slot)
        end = t["fill"][slot] + cumsum(pours.volume, starts)
        begin = end - pours.volume
        rate = pours.fraction * SCALE
        row_buy = _round(rate * pours.volume)
        buy_end = t["fill_buy"][slot] + cumsum(row_buy, starts)
        buy_begin = buy_end - row_buy
        row = torch.repeat_interleave(
            torch.arange(len(pours), device=slot.device), end // size - begin // size
        )
        k = (begin // size)[row] + 1 + rank(starts_of(row))
        buy_at_bound = buy_begin[row] + _round(rate[row] * (k * size[row] - begin[row]))
        bslot = slot[row]
        bstarts = starts_of(bslot)
        buy = buy_at_bound - torch.where(bstarts, 0, buy_at_bound.roll(1))
        buy = torch.minimum(buy.clamp(min=0), size[row] * SCALE)
        bucket = t["buckets"][bslot] + k
        self._carry(slot, starts, end, buy_end, bslot, buy_at_bound)
        return bslot, pours.ts[row], buy, bucket

    def _carry(self, slot: Tensor, starts: Tensor, end: Tensor, buy_end: Tensor,
               bslot: Tensor, buy_at_bound: Tensor) -> None:
        """The open bucket after the batch: fill and buy past each slot's last bound."""
        t = self._t
        last = ends_of(starts)
        lslot = slot[last]
        size = t["bucket_volume"][lslot]
        done = end[last] // size
        t["fill"][lslot] = end[last] - done * size
        t["fill_buy"][lslot] = buy_end[last]
        blast = ends_of(starts_of(bslot))
        t["fill_buy"].index_add_(0, bslot[blast], -buy_at_bound[blast])
        t["buckets"].index_add_(0, lslot, done)

    def _vpin(self, slot: Tensor, bucket: Tensor, buy: Tensor, counted: Tensor) -> Tensor:
        """Σ |sell - buy| over the last n buckets (units of 2**-20 share); -1 before n."""
        t = self._t
        ring = t["imbalance"]
        imbalance = (t["bucket_volume"][slot] * SCALE - 2 * buy).abs()
        series_start = t["series_start"][slot]
        values, valid = window(ring, counted, slot, bucket, imbalance, series_start + 1)
        write_ring(ring, slot, bucket, imbalance)
        total = torch.where(valid, values, 0).sum(1)
        return torch.where(bucket - series_start >= ring.shape[1], total, -1)

    def _cdf(self, slot: Tensor, window_sum: Tensor) -> tuple[Tensor, Tensor]:
        """Share of the last `cdf_window` VPIN numerators (this one included) <= this one,
        and how many VPIN values the symbol has had so far (this one included; 0 before n)."""
        t = self._t
        history = t["vpin_history"]
        has = window_sum >= 0
        vslot, value = slot[has], window_sum[has]
        ordinal = t["vpin_count"][vslot] + rank(starts_of(vslot)) + 1
        first_valid = torch.ones_like(ordinal)
        past, valid = window(history, t["vpin_count"], vslot, ordinal, value, first_valid)
        at_most = (valid & (past <= value[:, None])).sum(1)
        write_ring(history, vslot, ordinal, value)
        t["vpin_count"].index_add_(0, vslot, torch.ones_like(vslot))
        cdf = torch.full(slot.shape, torch.nan, dtype=t.float_dtype, device=slot.device)
        cdf[has] = at_most.to(cdf.dtype) / ordinal.clamp(max=history.shape[1]).to(cdf.dtype)
        seen = torch.zeros_like(slot)
        seen[has] = ordinal
        return cdf, seen


def _round(units: Tensor) -> Tensor:
    """Nearest integer, halves up: floor(x + 0.5) is monotone and shifts with integers."""
    return torch.floor(units + 0.5).long()
