"""Columns of the per-row path and of model objects, and the scales of decimal prices.

`model_columns` lays validated model objects out as their layout's columns
(streams/schema/columns.py), exactly as the Arrow fast path (streams/columnar.py) lays out
their wire records; `default_column` does it for a field every record left out. `price_scale`
and `price_scales` say how many decimals a price was written with.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.schema import Event
from streams.schema.columns import REQUIRED, SIDE_CODES, Column, Kind, Layout

Columns = dict[str, np.ndarray]
# Prices are exact to 9 decimals (nano units, as the engines count notional); a price written
# with more decimals has its scale capped here.
MAX_PRICE_SCALE = 9


def price_scale(value: str | int | float | Decimal) -> int:
    """How many decimals a price is written with (`"5012.50"` -> 2, `99` -> 0; a float: those
    of its shortest text), capped at MAX_PRICE_SCALE. Engines that publish prices they were
    given (a bar's open) write them with this many decimals, as the venue did."""
    if isinstance(value, float):
        value = repr(value)
    try:
        exponent = Decimal(value).as_tuple().exponent
    except InvalidOperation:
        raise ValueError(f"not a decimal price: {value!r}") from None
    return min(max(0, -exponent), MAX_PRICE_SCALE) if isinstance(exponent, int) else 0


def price_scales(texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """`price_scale` of every decimal text (without surrounding blanks) of an Arrow column,
    as int8; 0 for nulls. Vectorised: a few passes over the bytes, no Python per row."""
    point = pc.find_substring(texts, ".").to_numpy(zero_copy_only=False)
    length = pc.binary_length(texts).to_numpy(zero_copy_only=False)  # decimal text is ASCII
    scales = np.nan_to_num(np.where(point >= 0, length - point - 1, 0))
    for letter in "eE":  # 1.25E-7: rare, one at a time
        at = pc.find_substring(texts, letter)
        if (pc.max(at).as_py() or -1) >= 0:
            for i in np.flatnonzero(pc.fill_null(at, -1).to_numpy(zero_copy_only=False) >= 0):
                scales[i] = price_scale(texts[int(i)].as_py())
    return np.clip(scales, 0, MAX_PRICE_SCALE).astype(np.int8)


# ---- the per-row layout: validated model objects -> columns -------------------------------


def model_columns(layout: Layout, events: Sequence[Event]) -> Columns:
    """Model objects as the layout's columns (what the fast path gives for the same records)."""
    return {c.name: _cells_column(c, [getattr(e, c.field) for e in events])
            for c in layout.columns}


def default_column(column: Column, n: int) -> np.ndarray:
    """n rows of a field that was left out: its default, in the column's layout."""
    if column.default is REQUIRED:
        raise ValueError(f"{column.field} has no default")
    default = column.default
    if isinstance(default, dict | list):  # each row its own
        return _cells_column(column, [copy.deepcopy(default) for _ in range(n)])
    return _cells_column(column, [default]).repeat(n, axis=0)


def _cells_column(column: Column, cells: list) -> np.ndarray:
    kind = column.kind
    if kind in (Kind.FLOAT, Kind.PRICE):
        return np.array([np.nan if c is None else float(c) for c in cells], np.float64)
    if kind is Kind.SCALE:
        return np.array([price_scale(c) for c in cells], np.int8)
    if kind is Kind.SIDE:
        return np.array([SIDE_CODES[c] for c in cells], np.int8)
    if kind is Kind.LEVELS:
        empty = np.nan if column.item is Kind.PRICE else 0
        matrix: np.ndarray = np.full((len(cells), column.width), empty, column.dtype)
        for i, levels in enumerate(cells):
            matrix[i, :len(levels)] = [float(v) for v in levels]
        return matrix
    if kind in (Kind.INT, Kind.BOOL):
        return np.array(cells, column.dtype)
    out = np.empty(len(cells), object)
    for i, cell in enumerate(cells):  # one by one: a list cell must stay one object
        out[i] = cell
    return out
