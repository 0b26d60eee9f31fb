"""Batches as columns for every catalog model, in the layout of streams/schema/columns.py.

`arrow_rows` is the fast path: the batch is read by Arrow's C++ JSON reader as
newline-delimited JSON (streams/ndjson.py, which sets aside the records Arrow must not see or
stops at) and every column is checked as a whole against its declared kind, vectorised, each
check naming the records it fails for (a null where the model allows none, a value out of
range, text too long or not matching, a field the model does not have, a newer schema
version, a model validator's vectorised twin saying no). Those records are doubtful: the
caller sends them, and only them, through the per-row path (each record validated by its
pydantic model, which names exactly what is wrong, laid out by `streams.cells.model_columns`)
and puts the ones it accepts back in their places. Where a column's type rules out telling
which records are bad (but for an int field some records wrote with a fraction: those are
doubtful, and the rest read again without them where the floats Arrow made may not hold them
exactly), `arrow_rows` returns None and the whole batch takes the per-row path. So the fast path
only accepts what the models accept, and both paths give the same columns. `arrow_table` is
the same read for a batch with no doubtful record, with the table Arrow read (the records as
written, for the sink's rows).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import compress
from typing import NamedTuple

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError

from streams.cells import Columns, default_column, price_scales
from streams.ndjson import Read, read_table
from streams.schema.columns import REQUIRED, Column, Kind, Layout

# ---- the fast path: Arrow's JSON reader, whole columns at once -----------------------------


@dataclass(slots=True)
class _Rows:
    """The records of a table being laid out: as read, their bytes, and which are doubtful
    (a check failed for them: the per-row path decides)."""

    read: Read
    records: Sequence[bytes]
    doubtful: np.ndarray
    escaped: np.ndarray | None = None  # records with a backslash

    def mark(self, rows: np.ndarray | pa.Array | pa.ChunkedArray) -> None:
        if not isinstance(rows, np.ndarray):
            rows = rows.to_numpy(zero_copy_only=False)
        self.doubtful |= rows

    def mentioning(self, field: str, then: bytes = b"") -> np.ndarray:
        """Records that may have `field` as a key (followed by what the regex `then`
        matches): the quoted name appears so, or the record has an escape (a key may be
        written with them)."""
        if self.escaped is None:
            self.escaped = self.read.holding(rb"\\")
        return self.read.holding(re.escape(f'"{field}"'.encode()) + then) | self.escaped


def arrow_columns(layout: Layout, values: Sequence[bytes]) -> Columns | None:
    """The batch's columns, or None where any record may be bad (the per-row path decides)."""
    checked = arrow_table(layout, values)
    return None if checked is None else checked[1]


def arrow_table(layout: Layout, values: Sequence[bytes]) -> tuple[pa.Table, Columns] | None:
    """The batch as Arrow read it (the records as they were written: a price's text, say) and
    its columns, where every record passes every check; None where any record is doubtful
    (the per-row path decides)."""
    decoded = _decoded(layout, values, threads=True)
    if decoded is None or len(decoded.doubtful):
        return None
    return decoded.table, decoded.columns


def arrow_rows(layout: Layout, values: Sequence[bytes], *, threads: bool = True
               ) -> tuple[Columns, np.ndarray] | None:
    """The columns of the records Arrow reads and every check passes, and the indices (into
    `values`, ascending) of the others: doubtful, for the per-row path to decide. None where
    Arrow can tell nothing of the batch: every record takes the per-row path. `threads` as
    in `read_table`."""
    decoded = _decoded(layout, values, threads=threads)
    return None if decoded is None else (decoded.columns, decoded.doubtful)


class _Decoded(NamedTuple):
    """`arrow_rows`' columns and doubtful records, with the table Arrow read: of the records
    not set aside before the column checks (all of them where none is doubtful)."""

    table: pa.Table
    columns: Columns
    doubtful: np.ndarray


def _decoded(layout: Layout, values: Sequence[bytes], *, threads: bool) -> _Decoded | None:
    if not layout.columnar or not values:
        return None
    doubtful = np.zeros(len(values), bool)
    for _ in range(2):  # a second time without the records that spoilt a column's type
        read = read_table(values, doubtful, threads=threads)
        if read is None:
            return None
        at = np.flatnonzero(~doubtful)
        records = values if len(at) == len(values) else list(compress(values, ~doubtful))
        rows = _Rows(read, records, np.zeros(len(at), bool))
        columns = _columns(layout, read.table, rows)
        doubtful[at[rows.doubtful]] = True
        if columns is not None:
            good = ~rows.doubtful
            if not good.all():
                columns = {name: column[good] for name, column in columns.items()}
            return _Decoded(read.table, columns, np.flatnonzero(doubtful))
        if not rows.doubtful.any():
            return None
    return None


def _columns(layout: Layout, table: pa.Table, rows: _Rows) -> Columns | None:
    """The layout's columns of the table's records, the doubtful ones marked in `rows`; None
    where a column's type rules out telling which records are bad."""
    names = table.column_names
    for name in names:
        if name not in layout.fields:  # an unknown field: the records that name it
            rows.mark(pc.is_valid(table[name]))
            rows.mark(rows.mentioning(name))
    if "schema_version" in names and not _versions(
        table["schema_version"], layout.model.SCHEMA_VERSION, rows
    ):
        return None
    if not all(_text_checked(c, table[c.field], rows) for c in layout.left_out
               if c.field in names):
        return None
    columns: Columns = {}
    lengths: dict[str, np.ndarray] = {}
    docs: list | None = None
    for c in layout.columns:
        column: np.ndarray | None
        if c.kind is Kind.OBJECT:
            docs = docs if docs is not None else [orjson.loads(v) for v in rows.records]
            column = _object_column(c, docs, rows)
        elif c.field not in names:
            column = None if c.default is REQUIRED else default_column(c, table.num_rows)
        elif c.kind is Kind.LEVELS:
            column = _levels(c, table[c.field], lengths, rows)
        else:
            column = _CONVERTERS[c.kind](c, table[c.field], rows)
        if column is None:
            return None
        columns[c.name] = column
    if layout.batch_check is not None:
        rows.mark(layout.batch_check(columns, lengths))
    return columns


def _versions(version: pa.ChunkedArray, newest: int, rows: _Rows) -> bool:
    """Marks the records with a schema_version the reader does not know; False where the
    column's type cannot say which."""
    if pa.types.is_floating(version.type):
        known = _exact_ints("schema_version", version, rows)
        if known is None:
            return False
    elif pa.types.is_int64(version.type) or pa.types.is_null(version.type):
        known = pc.fill_null(version.cast(pa.int64()), 1).to_numpy()
    else:
        return False
    if version.null_count:  # written as null (bad), or left out (version 1)
        rows.mark(pc.is_null(version).to_numpy(zero_copy_only=False)
                  & rows.mentioning("schema_version"))
        known = np.where(pc.is_null(version).to_numpy(zero_copy_only=False), 1, known)
    rows.mark((known < 1) | (known > newest))
    return True


def _exact_ints(field: str, column: pa.ChunkedArray, rows: _Rows) -> np.ndarray | None:
    """An int field Arrow read as floats: some record wrote it with a fraction or an
    exponent, or beyond int64. Marks those records; the others' ints where the floats hold
    them exactly (all below 2**53), else None (read again without the marked records)."""
    floats = pc.fill_null(column, 0).to_numpy(zero_copy_only=False)
    rows.mark((floats != np.floor(floats)) | (np.abs(floats) >= 2.0**63))
    rows.mark(rows.mentioning(field, then=rb"\s*:\s*-?[0-9]+[.eE]"))
    kept = np.where(rows.doubtful, 0, floats)
    return kept.astype(np.int64) if (np.abs(kept) < 2.0**53).all() else None


def _int(c: Column, column: pa.ChunkedArray, rows: _Rows) -> np.ndarray | None:
    if pa.types.is_floating(column.type):
        ints = _exact_ints(c.field, column, rows)
        if ints is None:
            return None
    elif pa.types.is_int64(column.type):
        ints = pc.fill_null(column, 0).to_numpy()
    else:
        return None  # strings, bools: the per-row path names them
    if column.null_count:
        rows.mark(pc.is_null(column))
    if c.minimum is not None:
        rows.mark(ints < c.minimum)
    if c.choices is not None:
        rows.mark(~np.isin(ints, np.array(c.choices)))
    return ints


def _float(c: Column, column: pa.ChunkedArray, rows: _Rows) -> np.ndarray | None:
    kind = column.type
    if pa.types.is_null(kind) and c.optional:
        return np.full(len(column), np.nan)
    if not (pa.types.is_int64(kind) or pa.types.is_float64(kind)):
        return None
    _mark_nulls(c, column, rows)
    return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)  # null -> NaN


def _mark_nulls(c: Column, column: pa.ChunkedArray | pa.Array, rows: _Rows) -> None:
    if column.null_count and not c.optional:
        rows.mark(pc.is_null(column))


def _price(c: Column, column: pa.ChunkedArray, rows: _Rows) -> np.ndarray | None:
    if pa.types.is_null(column.type) and c.optional:
        return np.full(len(column), np.nan)
    read = _price_values(column)
    if read is None:
        return None
    prices, bad = read
    _mark_nulls(c, column, rows)
    rows.mark(bad)
    if c.positive:
        rows.mark(prices <= 0)  # NaN (a null) compares False
    elif c.non_negative:
        rows.mark(prices < 0)
    return prices


# What Arrow casts to a number; other text is a bad price (and the per-row path says so).
_DECIMAL_TEXT = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def _price_values(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """Decimal texts or JSON numbers as float64 (NaN for nulls and bad texts), and which are
    not finite decimals; None for a column of another type."""
    kind = column.type
    if not (pa.types.is_string(kind) or pa.types.is_int64(kind) or pa.types.is_float64(kind)):
        return None
    numeric: np.ndarray | None = None
    try:
        prices = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if not pa.types.is_string(kind):
            return None
        numeric = pc.fill_null(pc.match_substring_regex(column, _DECIMAL_TEXT), True) \
            .to_numpy(zero_copy_only=False)
        try:
            prices = pc.cast(pc.if_else(numeric, column, "0"), pa.float64()) \
                .to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    bad = ~np.isfinite(prices)
    if column.null_count:
        bad &= ~pc.is_null(column).to_numpy(zero_copy_only=False)
    if numeric is not None:
        bad |= ~numeric
    return prices, bad


def _scale(_: Column, column: pa.ChunkedArray, rows: _Rows) -> np.ndarray | None:
    """Scales of a price column; None (the per-row path) for JSON numbers with a fraction,
    whose text Arrow does not keep."""
    if pa.types.is_int64(column.type):
        return np.zeros(len(column), np.int8)
    if not pa.types.is_string(column.type):
        return None
    if rows.doubtful.any():  # a bad price's text may not be a decimal
        column = pc.if_else(rows.doubtful, "0", column)
    return price_scales(column)


def _bool(c: Column, column: pa.ChunkedArray, rows: _Rows) -> np.ndarray | None:
    if not pa.types.is_boolean(column.type):
        return None  # 1, "true": the per-row path names the bad rows
    if column.null_count:
        rows.mark(pc.is_null(column))
        column = pc.fill_null(column, False)
    return column.to_numpy(zero_copy_only=False)


_SIDE_VALUES = pa.array(["buy", "sell"])


def _side(c: Column, column: pa.ChunkedArray, rows: _Rows) -> np.ndarray | None:
    if pa.types.is_null(column.type) and c.optional:
        return np.zeros(len(column), np.int8)
    if not pa.types.is_string(column.type):
        return None
    _mark_nulls(c, column, rows)
    _mark_unlisted(column, _SIDE_VALUES, rows)
    buy = pc.fill_null(pc.equal(column, "buy"), False).to_numpy(zero_copy_only=False)
    sell = pc.fill_null(pc.equal(column, "sell"), False).to_numpy(zero_copy_only=False)
    return buy.astype(np.int8) - sell.astype(np.int8)


def _mark_unlisted(column: pa.ChunkedArray, values: pa.Array, rows: _Rows) -> None:
    """Marks the records whose value is not one of `values`; not a null (`is_in` says false
    for one, which made every null side or optional choice doubtful: `_mark_nulls` judges
    them)."""
    rows.mark(pc.and_(pc.is_valid(column), pc.invert(pc.is_in(column, value_set=values))))


def _symbol(c: Column, column: pa.ChunkedArray, rows: _Rows) -> np.ndarray | None:
    """Checked once per distinct value; one Python str per distinct value."""
    if pa.types.is_null(column.type) and c.optional:
        return np.full(len(column), None, object)
    if not pa.types.is_string(column.type) or c.pattern is None:
        return None
    encoded = column.combine_chunks().dictionary_encode()
    names = encoded.dictionary.to_pylist()
    index = pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False)
    symbols = np.array(names or [None], dtype=object)[index]
    unmatched = np.array([not c.pattern.fullmatch(v) for v in names] or [False], bool)
    rows.mark(unmatched[index])
    if encoded.null_count:
        symbols[pc.is_null(encoded).to_numpy(zero_copy_only=False)] = None
        _mark_nulls(c, column, rows)
    return symbols


def _text(c: Column, column: pa.ChunkedArray, rows: _Rows) -> np.ndarray | None:
    if pa.types.is_null(column.type) and c.optional:
        return np.full(len(column), None, object)
    return column.to_numpy(zero_copy_only=False) if _text_checked(c, column, rows) else None


def _text_checked(c: Column, column: pa.ChunkedArray, rows: _Rows) -> bool:
    """Marks the records whose value is not text the column allows, without making Python
    strings; False where the column is not text at all."""
    if pa.types.is_null(column.type):
        return c.optional
    if not pa.types.is_string(column.type):
        return False
    _mark_nulls(c, column, rows)
    if c.choices is not None:
        _mark_unlisted(column, pa.array(c.choices), rows)
    if c.max_length is not None:
        rows.mark(pc.fill_null(pc.greater(pc.utf8_length(column), c.max_length), False))
    return True


def _levels(c: Column, column: pa.ChunkedArray, lengths: dict[str, np.ndarray], rows: _Rows
            ) -> np.ndarray | None:
    """A list field as a (n, width) matrix, its list lengths into `lengths`."""
    lists = column.combine_chunks()
    if not pa.types.is_list(lists.type):
        return None
    n = len(lists)
    rows.mark(pc.is_null(lists))
    counts = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False) \
        .astype(np.int64)
    rows.mark(counts > c.width)
    flat = lists.flatten()
    row_of_cell = np.repeat(np.arange(n), counts)
    cells: np.ndarray
    bad_cells: np.ndarray | None = None
    if not len(flat):
        cells = np.empty(0, c.dtype)
    elif c.item is Kind.PRICE:
        read = _price_values(flat)
        if read is None:
            return None
        cells, bad_cells = read
    else:
        if not pa.types.is_int64(flat.type):
            return None
        cells = pc.fill_null(flat, 0).to_numpy(zero_copy_only=False)
        if c.minimum is not None:
            bad_cells = cells < c.minimum
    if flat.null_count:
        nulls = pc.is_null(flat).to_numpy(zero_copy_only=False)
        bad_cells = nulls if bad_cells is None else bad_cells | nulls
    if bad_cells is not None and bad_cells.any():
        rows.mark(np.bincount(row_of_cell[bad_cells], minlength=n) > 0)
    matrix: np.ndarray = np.full((n, c.width), np.nan if c.item is Kind.PRICE else 0, c.dtype)
    place = np.arange(len(cells)) - np.repeat(np.cumsum(counts) - counts, counts)
    fits = place < c.width
    matrix[row_of_cell[fits], place[fits]] = cells[fits]
    lengths[c.field] = counts
    return matrix


def _object_column(c: Column, docs: list, rows: _Rows) -> np.ndarray:
    """Values pydantic validates one by one (lists, dicts, JSON): exactly as the model does."""
    assert c.adapter is not None
    out = np.empty(len(docs), object)
    for i, doc in enumerate(docs):
        if c.field not in doc:
            if c.default is REQUIRED:
                rows.doubtful[i] = True
            else:
                out[i] = copy.deepcopy(c.default)
            continue
        try:
            out[i] = c.adapter.validate_python(doc[c.field])
        except ValidationError:
            rows.doubtful[i] = True
    return out


_CONVERTERS: dict[Kind, Callable[[Column, pa.ChunkedArray, _Rows], np.ndarray | None]] = {
    Kind.INT: _int, Kind.FLOAT: _float, Kind.PRICE: _price, Kind.SCALE: _scale, Kind.BOOL: _bool,
    Kind.SIDE: _side, Kind.SYMBOL: _symbol, Kind.TEXT: _text,
}
