"""Text cells to typed columns, whole arrow arrays at a time, naming every bad cell.

Each converter casts a column at once; only when that fails does it look for the cells that
do not parse (a regular expression over the column, still vectorised) and flag their rows
in `Rejects` with a reason. A row keeps the first reason found for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from streams.feeds.badrows import BadRow
from streams.schema.base import SYMBOL_PATTERN

_INT = r"^-?\d{1,18}$"
_FLOAT = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^(?i:[+-]?(nan|inf|infinity))$"
# Aggressor spellings: buy/sell, B/S, 1/-1; Databento's A (ask side: a seller hit the bid).
SIDE_CODES = {"buy": 1, "b": 1, "1": 1, "sell": -1, "s": -1, "a": -1, "-1": -1,
              "": 0, "0": 0, "n": 0, "none": 0, "unknown": 0}

Reason = str | Callable[[int], str]


class Rejects:
    """The first reason each row of a chunk is bad, by row index; `mask` marks bad rows."""

    def __init__(self, n: int) -> None:
        self.mask = np.zeros(n, dtype=bool)
        self._reasons: dict[int, str] = {}

    def flag(self, rows: np.ndarray, reason: Reason) -> None:
        """Flag rows (indices, or a boolean mask); `reason` is text or a function of the row."""
        index = np.flatnonzero(rows) if rows.dtype == bool else rows
        for i in index.tolist():
            if i not in self._reasons:
                self._reasons[i] = reason if isinstance(reason, str) else reason(i)
        self.mask[index] = True

    def absorb(self, part: Rejects, rows: np.ndarray) -> None:
        """The flags of `part`, a Rejects over the subset `rows` of this chunk's rows."""
        for j, reason in sorted(part._reasons.items()):
            self._reasons.setdefault(int(rows[j]), reason)
        self.mask[rows[part.mask]] = True

    def rows(self, path: Path, lines: np.ndarray, raw: Callable[[np.ndarray], list[str]]
             ) -> list[BadRow]:
        """The flagged rows as BadRows of `path`; `raw` gives their cells as text."""
        index = np.array(sorted(self._reasons), dtype=np.int64)
        texts = raw(index)
        return [BadRow(path, int(lines[i]), self._reasons[i], text)
                for i, text in zip(index.tolist(), texts, strict=True)]


def text(column: pa.Array) -> pa.Array:
    """Cells without surrounding blanks."""
    return pc.utf8_trim_whitespace(column)


def _parsed(cells: pa.Array, kind: pa.DataType, pattern: str, blank: str | None = None
            ) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Cells cast to `kind` (0 where they do not parse), which did not, and the cells as read.

    The whole column is cast at once; only if that fails are blanks trimmed and the cells
    that still do not parse found with `pattern`. `blank` stands in for empty cells.
    """
    if blank is not None:
        cells = pc.if_else(pc.equal(cells, ""), blank, cells)
    try:
        values = pc.cast(cells, kind).to_numpy(zero_copy_only=False)
        return values, np.zeros(len(cells), bool), cells
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    cells = text(cells)
    if blank is not None:
        cells = pc.if_else(pc.equal(cells, ""), blank, cells)
    ok = pc.match_substring_regex(cells, pattern)
    values = pc.cast(pc.if_else(ok, cells, "0"), kind).to_numpy(zero_copy_only=False)
    return values, ~ok.to_numpy(zero_copy_only=False), cells


def ints(column: pa.Array, name: str, bad: Rejects, minimum: int, blank: str | None = None
         ) -> np.ndarray:
    """Integers >= minimum; `blank` stands in for empty cells (else they are missing)."""
    values, failed, cells = _parsed(column, pa.int64(), _INT, blank)
    low = (values < minimum) & ~failed
    shown = cells.to_pylist() if failed.any() or low.any() else []
    bad.flag(failed, lambda i: f"{name} is missing" if not shown[i]
             else f"{name} is not an integer: {shown[i]!r}")
    bad.flag(low, lambda i: f"{name} must be >= {minimum}, got {shown[i]}")
    return values


def prices(column: pa.Array, name: str, bad: Rejects, optional: bool = False
           ) -> tuple[np.ndarray, pa.Array]:
    """Positive finite prices and their text; with `optional`, empty cells are NaN and null."""
    values, failed, cells = _parsed(column, pa.float64(), _FLOAT, "nan" if optional else None)
    wrong = (~(values > 0) | ~np.isfinite(values)) & ~failed
    if optional:
        blank = pc.equal(text(column), "")
        wrong &= ~blank.to_numpy(zero_copy_only=False)
        cells = pc.if_else(blank, pa.scalar(None, pa.string()), cells)
    shown = column.to_pylist() if failed.any() or wrong.any() else []
    bad.flag(failed, lambda i: f"{name} is missing" if not shown[i].strip()
             else f"{name} is not a number: {shown[i].strip()!r}")
    bad.flag(wrong, lambda i: f"{name} must be a positive finite price, got {shown[i].strip()!r}")
    return values, cells


def symbols(column: pa.Array, bad: Rejects) -> np.ndarray:
    """Symbols as an object array; checked once per distinct value, not per row."""
    encoded = pc.dictionary_encode(column)
    names = text(encoded.dictionary)
    valid = pc.match_substring_regex(names, SYMBOL_PATTERN).to_numpy(zero_copy_only=False)
    distinct = names.to_numpy(zero_copy_only=False)
    index = encoded.indices.to_numpy(zero_copy_only=False)
    bad.flag(np.isin(index, np.flatnonzero(distinct == "")), "missing symbol")
    wrong = np.flatnonzero(~valid & (distinct != ""))
    bad.flag(np.isin(index, wrong), lambda i: f"invalid symbol {distinct[index[i]]!r}")
    return distinct[index]


def sides(column: pa.Array, name: str, bad: Rejects) -> np.ndarray:
    """Aggressor codes: 1 buy, -1 sell, 0 unknown."""
    keys = pa.array(list(SIDE_CODES))
    index = pc.index_in(pc.utf8_lower(text(column)), value_set=keys)
    codes = np.array(list(SIDE_CODES.values()), dtype=np.int8)
    found = pc.is_valid(index).to_numpy(zero_copy_only=False)
    cells = column.to_pylist() if not found.all() else []
    bad.flag(~found, lambda i: f"{name} must be buy/sell/B/S or blank, got {cells[i]!r}")
    return codes[pc.fill_null(index, 0).to_numpy(zero_copy_only=False)]


def levels_text(levels: Sequence[pa.Array], width: int) -> pa.Array:
    """Per-level text arrays (each n long) as one list of `width` per row, null-padded."""
    n = len(levels[0]) if levels else 0
    padding = [pa.nulls(n, pa.string())] * (width - len(levels))
    flat = pa.concat_arrays([*levels, *padding]) if n else pa.array([], pa.string())
    order = (np.arange(width)[None, :] * n + np.arange(n)[:, None]).ravel()
    return pa.FixedSizeListArray.from_arrays(flat.take(order), width)


def check_levels(prices_: np.ndarray, side: str, bad: Rejects) -> None:
    """(n, levels) prices of one side, NaN for an empty level: no gaps, best first."""
    present = ~np.isnan(prices_)
    bad.flag((~present[:, :-1] & present[:, 1:]).any(axis=1),
             f"{side} levels have a gap (an empty level before a priced one)")
    step = np.diff(prices_, axis=1)
    wrong = (step >= 0) if side == "bid" else (step <= 0)  # NaN compares False
    order = "strictly decrease" if side == "bid" else "strictly increase"
    bad.flag(wrong.any(axis=1), f"{side} prices must {order} from level 1")


def check_crossed(bid: np.ndarray, ask: np.ndarray, bid_text: pa.Array, ask_text: pa.Array,
                  bad: Rejects) -> None:
    """Best bid below best ask (an empty side, NaN, compares False); texts of level 1."""
    bad.flag(bid[:, 0] >= ask[:, 0], lambda i: (
        f"crossed book: best bid {bid_text[i].as_py()} >= best ask {ask_text[i].as_py()}"))
