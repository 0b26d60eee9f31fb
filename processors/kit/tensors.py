"""Per-key state as torch tensors on the engine's device, for any engine keyed by symbol,
account or anything else.

`KeyTable` gives every key a slot: row `slot` of each per-slot tensor (scalars, or ring
buffers of a fixed width). `RowStore` keeps variable-length per-key lists (VPIN's quotes and
trades waiting for their quote) as columns of rows grouped by slot. Both turn one key's
state into JSON-able data and back, exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from processors.kit.segments import list_to_ring, ring_to_list

FLOAT = "float"  # the engine's float dtype: float64, or float32 where the device has no f64


def float_dtype(device: torch.device) -> torch.dtype:
    """float64 where the device has it (MPS has not)."""
    return torch.float32 if device.type == "mps" else torch.float64


@dataclass(frozen=True, slots=True)
class SlotField:
    """One per-slot tensor: dtype (or FLOAT), initial value, ring width and its count field."""

    dtype: torch.dtype | str
    initial: float | int | bool = 0
    width: int = 0
    count: str = ""


class KeyTable:
    """Slots of per-key state; grows by doubling."""

    def __init__(self, fields: dict[str, SlotField], device: torch.device) -> None:
        self.fields = fields
        self.device = device
        self.float_dtype = float_dtype(device)
        self.slot_of: dict[str, int] = {}
        self._free: list[int] = []
        self._capacity = 0
        self.t: dict[str, Tensor] = {}
        self._grow(16)

    def __getitem__(self, name: str) -> Tensor:
        return self.t[name]

    def total(self, name: str) -> int:
        """Sum of a counter over all slots (0 when this configuration has no such field)."""
        return int(self.t[name].sum()) if name in self.t else 0

    def slots(self, keys: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        """The slot of every key, and the keys that got a new slot."""
        new = [k for k in dict.fromkeys(keys) if k not in self.slot_of]
        for key in new:
            self._allocate(key)
        return np.array([self.slot_of[k] for k in keys], dtype=np.int64), new

    def release(self, key: str) -> int | None:
        """Forget a key; its slot is reset and reused."""
        slot = self.slot_of.pop(key, None)
        if slot is not None:
            self._reset(slot)
            self._free.append(slot)
        return slot

    def key_array(self) -> np.ndarray:
        """Key of every slot (None where free), for turning slots back into keys."""
        names = np.full(self._capacity, None, dtype=object)
        for key, slot in self.slot_of.items():
            names[slot] = key
        return names

    def snapshot(self, slot: int) -> dict[str, object]:
        row = {}
        for name, spec in self.fields.items():
            if spec.width:
                row[name] = ring_to_list(self.t[name][slot], int(self.t[spec.count][slot]))
            else:
                row[name] = self.t[name][slot].item()
        return row

    def restore(self, slot: int, row: dict[str, object]) -> None:
        """Fields missing from `row` (another classification wrote it) start afresh."""
        self._reset(slot)
        for name, spec in self.fields.items():
            if not spec.width and name in row:
                self.t[name][slot] = row[name]  # type: ignore[assignment]
        for name, spec in self.fields.items():
            if spec.width and name in row:
                count = int(self.t[spec.count][slot])
                list_to_ring(self.t[name][slot], row[name], count)  # type: ignore[arg-type]

    def _allocate(self, key: str) -> None:
        if not self._free:
            self._grow(self._capacity * 2)
        self.slot_of[key] = self._free.pop()

    def _reset(self, slot: int) -> None:
        for name, spec in self.fields.items():
            self.t[name][slot] = spec.initial

    def _grow(self, capacity: int) -> None:
        extra = capacity - self._capacity
        for name, spec in self.fields.items():
            dtype = self.float_dtype if spec.dtype == FLOAT else spec.dtype
            shape = (extra, spec.width) if spec.width else (extra,)
            fresh = torch.full(shape, spec.initial, dtype=dtype, device=self.device)  # type: ignore[arg-type]
            old = self.t.get(name)
            self.t[name] = fresh if old is None else torch.cat([old, fresh])
        self._free.extend(range(capacity - 1, self._capacity - 1, -1))
        self._capacity = capacity


class RowStore:
    """Rows with a `slot` column, grouped by slot, arrival order kept within a slot."""

    def __init__(self, columns: dict[str, torch.dtype], device: torch.device) -> None:
        self.device = device
        self.dtypes = {"slot": torch.int64, **columns}
        self.t: dict[str, Tensor] = {
            name: torch.empty(0, dtype=dtype, device=device) for name, dtype in self.dtypes.items()
        }

    def __len__(self) -> int:
        return self.t["slot"].shape[0]

    def __getitem__(self, name: str) -> Tensor:
        return self.t[name]

    def append(self, rows: dict[str, Tensor], sort_by: str | None = None) -> None:
        """Add rows; keeps rows grouped by slot (and ordered by `sort_by` within a slot)."""
        merged = {n: torch.cat([self.t[n], rows[n].to(self.dtypes[n])]) for n in self.t}
        order = torch.arange(merged["slot"].shape[0], device=self.device)
        if sort_by is not None:
            order = torch.sort(merged[sort_by], stable=True).indices
        order = order[torch.sort(merged["slot"][order], stable=True).indices]
        self.t = {n: col[order] for n, col in merged.items()}

    def take(self, mask: Tensor) -> dict[str, Tensor]:
        """Remove and return the rows where `mask`."""
        rows = torch.nonzero(mask).squeeze(1)
        taken = {n: col[rows] for n, col in self.t.items()}
        self.keep(~mask)
        return taken

    def keep(self, mask: Tensor) -> None:
        """Drop every row but those where `mask`."""
        rows = torch.nonzero(mask).squeeze(1)
        self.t = {n: col[rows] for n, col in self.t.items()}

    def rows_of(self, slot: int, names: Sequence[str]) -> list[list]:
        mine = self.t["slot"] == slot
        return [list(row) for row in zip(*(self.t[n][mine].tolist() for n in names), strict=True)]

    def replace_slot(self, slot: int, rows: list[list], names: Sequence[str]) -> None:
        self.take(self.t["slot"] == slot)
        if rows:
            columns = list(zip(*rows, strict=True))
            new = {n: torch.tensor(c, dtype=self.dtypes[n], device=self.device)
                   for n, c in zip(names, columns, strict=True)}
            new["slot"] = torch.full((len(rows),), slot, dtype=torch.int64, device=self.device)
            self.append(new)
