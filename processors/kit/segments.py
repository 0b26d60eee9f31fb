"""Vectorised torch helpers over rows grouped by key slot (see tensors.py), and per-slot ring
buffers.

Rows of one slot are contiguous and in event order ("a segment"); every helper works on all
segments of a batch at once. Rings hold the last `width` values of a per-slot series: the
value with 1-based ordinal q sits at column (q - 1) % width.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Bar indices (ts_event // bar_ns with bar_ns >= 1 s) stay below 2**34.
_SEGMENT_SHIFT = 34


def starts_of(keys: Tensor) -> Tensor:
    """True where a segment begins (equal keys are contiguous)."""
    starts = torch.ones(keys.shape[0], dtype=torch.bool, device=keys.device)
    starts[1:] = keys[1:] != keys[:-1]
    return starts


def ends_of(starts: Tensor) -> Tensor:
    """True on the last row of each segment."""
    ends = torch.ones_like(starts)
    ends[:-1] = starts[1:]
    return ends


def first_index(starts: Tensor) -> Tensor:
    """For every row, the position of its segment's first row."""
    positions = torch.arange(starts.shape[0], device=starts.device)
    return torch.cummax(torch.where(starts, positions, 0), 0).values


def rank(starts: Tensor) -> Tensor:
    """0-based position of every row within its segment."""
    return torch.arange(starts.shape[0], device=starts.device) - first_index(starts)


def cumsum(values: Tensor, starts: Tensor) -> Tensor:
    """Inclusive running sum within each segment (integers: exact)."""
    total = values.cumsum(0)
    return total - (total - values)[first_index(starts)]


def previous(values: Tensor, starts: Tensor, initial: Tensor) -> Tensor:
    """The value of the row before within the segment; `initial[row]` on a segment's first."""
    return torch.where(starts, initial, values.roll(1))


def last_index(mask: Tensor, starts: Tensor) -> Tensor:
    """Position of the last row at or before each row, in its segment, where `mask`; else -1."""
    positions = torch.arange(mask.shape[0], device=mask.device)
    last = torch.cummax(torch.where(mask, positions, -1), 0).values
    return torch.where(last >= first_index(starts), last, -1)


def running_max(values: Tensor, starts: Tensor) -> Tensor:
    """Running maximum within each segment of non-negative values below 2**34."""
    offset = (starts.long().cumsum(0) - 1) << _SEGMENT_SHIFT
    return torch.cummax(values + offset, 0).values - offset


def running_max_any(values: Tensor, starts: Tensor) -> Tensor:
    """Running maximum within each segment of any int64 values (timestamps in ns): on dense
    ranks offset per segment, so one cummax does every segment."""
    uniq, rank = torch.unique(values, return_inverse=True)
    offset = (starts.long().cumsum(0) - 1) * uniq.shape[0]
    return uniq[torch.cummax(rank + offset, 0).values - offset]


def sequential_sum(matrix: Tensor) -> Tensor:
    """Row sums added column by column, left to right.

    Float addition is not associative; a fixed order makes a row's sum depend on its values
    alone, never on how many rows a batch has or how a library splits a reduction.
    """
    total = torch.zeros(matrix.shape[0], dtype=matrix.dtype, device=matrix.device)
    for column in range(matrix.shape[1]):
        total = total + matrix[:, column]
    return total


def window(
    ring: Tensor, count: Tensor, slot: Tensor, ordinal: Tensor, values: Tensor, first_valid: Tensor
) -> tuple[Tensor, Tensor]:
    """Each row's series window: the `width` values with ordinals ordinal-width+1 .. ordinal.

    Rows are this batch's new values of their slots' series (`values[row]` has ordinal
    `ordinal[row]`; a slot's rows are contiguous with consecutive ordinals). Older values come
    from `ring` (`count[slot]` values written so far). Returns the window, oldest first, and
    a mask of the entries that exist and have ordinal >= `first_valid[row]`.

    Each slot's last width-1 ring values and its new values are laid out one after another,
    so every window is a row of one strided view of that line.
    """
    width, rows = ring.shape[1], slot.shape[0]
    device = ring.device
    if rows == 0:
        return ring.new_empty((0, width)), torch.zeros((0, width), dtype=torch.bool,
                                                       device=device)
    starts = starts_of(slot)
    first_row = torch.nonzero(starts).squeeze(1)
    segment = starts.long().cumsum(0) - 1
    # each slot's last width-1 ring values, oldest first
    back = torch.arange(-(width - 1), 0, device=device)
    history = ring[slot[first_row][:, None],
                   torch.remainder(count[slot[first_row]][:, None] + back, width)]
    region = torch.arange(first_row.shape[0], device=device) * (width - 1) + first_row
    history_at = region[:, None] + torch.arange(width - 1, device=device)
    row_at = (segment + 1) * (width - 1) + torch.arange(rows, device=device)
    line = torch.empty(rows + history.numel(), dtype=ring.dtype, device=device)
    line[history_at.reshape(-1)] = history.reshape(-1)
    line[row_at] = values
    windows = line.unfold(0, width, 1)[row_at - (width - 1)]
    lowest = first_valid.clamp(min=1) - ordinal + (width - 1)
    valid = torch.arange(width, device=device)[None, :] >= lowest[:, None]
    return windows, valid


def write_ring(ring: Tensor, slot: Tensor, ordinal: Tensor, values: Tensor) -> None:
    """Store new values (ordinals as in `window`); only each slot's last `width` are written."""
    width = ring.shape[1]
    final = torch.zeros(ring.shape[0], dtype=ordinal.dtype, device=ring.device)
    final.scatter_reduce_(0, slot, ordinal, "amax")
    keep = ordinal > final[slot] - width
    ring[slot[keep], torch.remainder(ordinal[keep] - 1, width)] = values[keep]


def ring_to_list(ring_row: Tensor, count: int) -> list:
    """The last min(count, width) values of one ring, oldest first (JSON-able)."""
    width = ring_row.shape[0]
    ordinals = torch.arange(max(count - width, 0) + 1, count + 1, device=ring_row.device)
    return ring_row[torch.remainder(ordinals - 1, width)].tolist()


def list_to_ring(ring_row: Tensor, values: list, count: int) -> None:
    """Inverse of `ring_to_list`, into a ring of any width (the newest values win)."""
    width = ring_row.shape[0]
    kept = values[max(len(values) - width, 0):]
    ordinals = torch.arange(count - len(kept) + 1, count + 1, device=ring_row.device)
    ring_row.zero_()
    ring_row[torch.remainder(ordinals - 1, width)] = torch.tensor(
        kept, dtype=ring_row.dtype, device=ring_row.device
    )
