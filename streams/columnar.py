"""Batches as columns for every catalog model, in the layout of streams/schema/columns.py.

`arrow_columns` is the fast path: the batch is parsed by Arrow's C++ JSON reader as
newline-delimited JSON and every column is checked as a whole against its declared kind. Any
doubt (a parse error, a changed type, a null where the model allows none, a value out of
range, a field the model does not have, a model validator's vectorised twin saying no, a
record count that does not match) returns None, and the caller takes the per-row path: each
record validated by its pydantic model, which finds and names exactly the bad rows, and laid
out by `model_columns`. So the fast path only accepts what the models accept, and both paths
give the same columns. Arrow never sees what it cannot take safely: bytes that are not UTF-8
(its strings would not decode), or records nested deeper than MAX_OPENINGS_PER_RECORD (its
parser recurses, and a record some 30,000 levels deep overflows the stack: the process dies).
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
from pydantic import ValidationError

from streams.schema import Event
from streams.schema.columns import REQUIRED, SIDE_CODES, Column, Kind, Layout

Columns = dict[str, np.ndarray]
# Prices are exact to 9 decimals (nano units, as the engines count notional); a price written
# with more decimals has its scale capped here.
MAX_PRICE_SCALE = 9
# A record with more `[` and `{` than this (in strings too: a bound on its nesting) takes the
# per-row path, whose parser has a recursion limit. Far above any model's records, far below
# the depth that overflows Arrow's stack, and below orjson's limit (1,024) for OBJECT columns.
MAX_OPENINGS_PER_RECORD = 512
_NOT_OPENING_OR_NEWLINE = bytes(b for b in range(256) if b not in b"[{\n")


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


# ---- the fast path: Arrow's JSON reader, whole columns at once -----------------------------


def arrow_columns(layout: Layout, values: Sequence[bytes]) -> Columns | None:
    """The batch's columns, or None where any record may be bad (the per-row path decides)."""
    checked = arrow_table(layout, values)
    return None if checked is None else checked[1]


def arrow_table(layout: Layout, values: Sequence[bytes]) -> tuple[pa.Table, Columns] | None:
    """The batch as Arrow read it and its columns, or None where any record may be bad: the
    table holds the records as they were written (a price's text, say), each one checked as
    `arrow_columns` checks it."""
    if not layout.columnar or not values:
        return None
    table = _read(values)
    if table is None:
        return None
    columns = _checked_columns(layout, table, values)
    return None if columns is None else (table, columns)


def _checked_columns(layout: Layout, table: pa.Table, values: Sequence[bytes]
                     ) -> Columns | None:
    if (
        not layout.fields.issuperset(table.column_names)  # unknown fields: name them
        or not _versions_ok(table, layout.model.SCHEMA_VERSION)
        or not all(_text_ok(c, table[c.field]) for c in layout.left_out
                   if c.field in table.column_names)
    ):
        return None
    columns: Columns = {}
    lengths: dict[str, np.ndarray] = {}
    docs: list | None = None
    for c in layout.columns:
        if c.kind is Kind.OBJECT:
            docs = docs if docs is not None else [orjson.loads(v) for v in values]
            column = _object_column(c, docs)
        elif c.field not in table.column_names:
            column = None if c.default is REQUIRED else default_column(c, len(values))
        elif c.kind is Kind.LEVELS:
            column = _levels(c, table[c.field], lengths)
        else:
            column = _CONVERTERS[c.kind](c, table[c.field])
        if column is None:
            return None
        columns[c.name] = column
    if layout.batch_check is not None and not layout.batch_check(columns, lengths):
        return None
    return columns


def _read(values: Sequence[bytes]) -> pa.Table | None:
    # Arrow only ever sees single-line JSON objects: pyarrow 26 crashes the process on some
    # other top-level values (`null` then `1`), and a newline would shift records. The joined
    # bytes show it: n-1 newlines, each between a `}` and a `{`, and `{...}` around it all.
    data = b"\n".join(values)
    separators = len(values) - 1
    if not (
        data[:1] == b"{" and data[-1:] == b"}"
        and data.count(b"\n") == separators and data.count(b"}\n{") == separators
        and _utf8(data) and _shallow(data)
    ):
        return None
    try:
        table = pa_json.read_json(
            io.BytesIO(data),
            read_options=pa_json.ReadOptions(use_threads=True, block_size=1 << 20),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError):
        return None
    return table if table.num_rows == len(values) else None


def _utf8(data: bytes) -> bool:
    """Whether the batch is UTF-8: Arrow's reader does not check, and a string that is not
    fails when it becomes a Python str."""
    if data.isascii():
        return True
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _shallow(data: bytes) -> bool:
    """No record of the newline-joined batch has more than MAX_OPENINGS_PER_RECORD openings."""
    kept = data.translate(None, _NOT_OPENING_OR_NEWLINE)
    if len(kept) <= MAX_OPENINGS_PER_RECORD:
        return True
    newlines = np.flatnonzero(np.frombuffer(kept, np.uint8) == ord("\n"))
    openings = np.diff(newlines, prepend=-1, append=len(kept)) - 1
    return int(openings.max()) <= MAX_OPENINGS_PER_RECORD


def _versions_ok(table: pa.Table, newest: int) -> bool:
    if "schema_version" not in table.column_names:
        return True
    version = table["schema_version"]
    if not pa.types.is_int64(version.type) or version.null_count:
        return False
    low, high = pc.min_max(version).values()
    return 1 <= low.as_py() <= high.as_py() <= newest


def _nulls_ok(c: Column, column: pa.ChunkedArray) -> bool:
    return c.optional or column.null_count == 0


def _int(c: Column, column: pa.ChunkedArray) -> np.ndarray | None:
    if not pa.types.is_int64(column.type) or column.null_count:
        return None  # floats, bools, strings, uint64 overflow: the per-row path names them
    ints = column.to_numpy()
    if c.minimum is not None and len(ints) and ints.min() < c.minimum:
        return None
    if c.choices is not None and not np.isin(ints, np.array(c.choices)).all():
        return None
    return ints


def _float(c: Column, column: pa.ChunkedArray) -> np.ndarray | None:
    kind = column.type
    if pa.types.is_null(kind) and c.optional:
        return np.full(len(column), np.nan)
    if not (pa.types.is_int64(kind) or pa.types.is_float64(kind)) or not _nulls_ok(c, column):
        return None
    return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)  # null -> NaN


def _price(c: Column, column: pa.ChunkedArray) -> np.ndarray | None:
    if pa.types.is_null(column.type) and c.optional:
        return np.full(len(column), np.nan)
    prices = _price_values(column) if _nulls_ok(c, column) else None
    if prices is not None and c.positive and (prices <= 0).any():  # NaN (a null) compares False
        return None
    return prices


def _price_values(column: pa.ChunkedArray | pa.Array) -> np.ndarray | None:
    """Decimal texts or JSON numbers as float64, NaN for nulls; None unless all are finite."""
    kind = column.type
    if not (pa.types.is_string(kind) or pa.types.is_int64(kind) or pa.types.is_float64(kind)):
        return None
    try:
        prices = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    finite = np.isfinite(prices)
    if column.null_count:
        finite |= pc.is_null(column).to_numpy(zero_copy_only=False)
    return prices if finite.all() else None


def _scale(_: Column, column: pa.ChunkedArray) -> np.ndarray | None:
    """Scales of a price column; None (the per-row path) for JSON numbers with a fraction,
    whose text Arrow does not keep."""
    if pa.types.is_int64(column.type):
        return np.zeros(len(column), np.int8)
    return price_scales(column) if pa.types.is_string(column.type) else None


def _bool(_: Column, column: pa.ChunkedArray) -> np.ndarray | None:
    if not pa.types.is_boolean(column.type) or column.null_count:
        return None  # 1, "true", null: the per-row path names the bad rows
    return column.to_numpy(zero_copy_only=False)


_SIDE_VALUES = pa.array(["buy", "sell"])


def _side(c: Column, column: pa.ChunkedArray) -> np.ndarray | None:
    if pa.types.is_null(column.type) and c.optional:
        return np.zeros(len(column), np.int8)
    if not pa.types.is_string(column.type) or not _nulls_ok(c, column):
        return None
    if not _all_in(column, _SIDE_VALUES):
        return None
    buy = pc.fill_null(pc.equal(column, "buy"), False).to_numpy(zero_copy_only=False)
    sell = pc.fill_null(pc.equal(column, "sell"), False).to_numpy(zero_copy_only=False)
    return buy.astype(np.int8) - sell.astype(np.int8)


def _all_in(column: pa.ChunkedArray, values: pa.Array) -> bool:
    """Whether every value but the nulls is one of `values` (is_in says false, not null, for
    a null: a column with one took the per-row path)."""
    return bool(pc.all(pc.is_in(pc.drop_null(column), value_set=values)).as_py())


def _symbol(c: Column, column: pa.ChunkedArray) -> np.ndarray | None:
    """Checked once per distinct value; one Python str per distinct value."""
    if pa.types.is_null(column.type) and c.optional:
        return np.full(len(column), None, object)
    if not pa.types.is_string(column.type) or not _nulls_ok(c, column) or c.pattern is None:
        return None
    encoded = column.combine_chunks().dictionary_encode()
    names = encoded.dictionary.to_pylist()
    if not all(c.pattern.fullmatch(v) for v in names):
        return None
    if encoded.null_count:
        return np.array(encoded.to_pylist(), object)
    return np.array(names, dtype=object)[encoded.indices.to_numpy()]


def _text(c: Column, column: pa.ChunkedArray) -> np.ndarray | None:
    if pa.types.is_null(column.type) and c.optional:
        return np.full(len(column), None, object)
    return column.to_numpy(zero_copy_only=False) if _text_ok(c, column) else None


def _text_ok(c: Column, column: pa.ChunkedArray) -> bool:
    """Whether every value is text the column allows, without making Python strings."""
    if pa.types.is_null(column.type):
        return c.optional
    if not pa.types.is_string(column.type) or not _nulls_ok(c, column):
        return False
    if c.choices is not None and not _all_in(column, pa.array(c.choices)):
        return False
    if c.max_length is not None:
        longest = pc.max(pc.utf8_length(column)).as_py()
        if longest is not None and longest > c.max_length:
            return False
    return True


def _levels(c: Column, column: pa.ChunkedArray, lengths: dict[str, np.ndarray]
            ) -> np.ndarray | None:
    """A list field as a (n, width) matrix, its list lengths into `lengths`."""
    lists = column.combine_chunks()
    if not pa.types.is_list(lists.type) or lists.null_count:
        return None
    n = len(lists)
    counts = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = lists.flatten()
    if (n and counts.max() > c.width) or flat.null_count:
        return None
    cells: np.ndarray | None
    if not len(flat):
        cells = np.empty(0, c.dtype)
    elif c.item is Kind.PRICE:
        cells = _price_values(flat)
        if cells is None:
            return None
    else:
        if not pa.types.is_int64(flat.type):
            return None
        cells = flat.to_numpy()
        if c.minimum is not None and cells.min() < c.minimum:
            return None
    matrix: np.ndarray = np.full((n, c.width), np.nan if c.item is Kind.PRICE else 0, c.dtype)
    starts = np.cumsum(counts) - counts
    rows = np.repeat(np.arange(n), counts)
    matrix[rows, np.arange(len(cells)) - np.repeat(starts, counts)] = cells
    lengths[c.field] = counts
    return matrix


def _object_column(c: Column, docs: list) -> np.ndarray | None:
    """Values pydantic validates one by one (lists, dicts, JSON): exactly as the model does."""
    assert c.adapter is not None
    out = np.empty(len(docs), object)
    try:
        for i, doc in enumerate(docs):
            if c.field in doc:
                out[i] = c.adapter.validate_python(doc[c.field])
            elif c.default is REQUIRED:
                return None
            else:
                out[i] = copy.deepcopy(c.default)
    except ValidationError:
        return None
    return out


_CONVERTERS: dict[Kind, Callable[[Column, pa.ChunkedArray], np.ndarray | None]] = {
    Kind.INT: _int, Kind.FLOAT: _float, Kind.PRICE: _price, Kind.SCALE: _scale, Kind.BOOL: _bool,
    Kind.SIDE: _side, Kind.SYMBOL: _symbol, Kind.TEXT: _text,
}
