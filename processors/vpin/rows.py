"""Columnar rows handed from one stage of the engine to the next (trades and time bars are
the kit's: processors/kit/timebars.py).

Every kind is grouped by slot (a slot's rows contiguous, in event order); all are tensors on
the engine's device.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from processors.kit.timebars import Trades


@dataclass(frozen=True, slots=True)
class Pours:
    """Classified volume: each row pours `volume` with buy fraction `fraction` into buckets."""

    slot: Tensor
    volume: Tensor
    fraction: Tensor
    ts: Tensor

    def __len__(self) -> int:
        return self.slot.shape[0]

    @staticmethod
    def whole_trades(trades: Trades, side: Tensor) -> Pours:
        """Each trade all buy (side +1) or all sell (-1); side 0 (unclassified) is left out."""
        keep = side != 0
        return Pours(trades.slot[keep], trades.size[keep], (side[keep] > 0).to(trades.price.dtype),
                     trades.ts[keep])


@dataclass(frozen=True, slots=True)
class Completed:
    """Completed buckets. `buy` is in units of 2**-20 share; `window_sum` and `cdf` are
    -1 / NaN while the symbol has fewer than n buckets; `history` counts the symbol's VPIN
    values up to and including each one (0 before n)."""

    slot: Tensor
    bucket: Tensor
    ts: Tensor
    buy: Tensor
    window_sum: Tensor
    cdf: Tensor
    history: Tensor

    def __len__(self) -> int:
        return self.slot.shape[0]
