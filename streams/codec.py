"""Wire codec: JSON (orjson) with a columnar fast path for the hot market topics.

`encode` / `decode` handle any catalog model. `decode_columns` turns a batch of raw
market.trades / market.quotes / market.depth values straight into numpy columns without
building a model object per record; rows that fail come back as `Rejected` with the reason,
so the caller can dead-letter them and go on.
"""

from __future__ import annotations

import base64
import io
import math
import re
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Union, get_args, get_origin

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
from pydantic import ValidationError

from streams.exceptions import DecodeError
from streams.schema import DEPTH_LEVELS, MODELS, DeadLetter, Event

MAX_SCHEMA_VERSION = 1
INT64_MAX = 2**63 - 1
_SYMBOL = re.compile(r"[A-Za-z0-9._:/^-]{1,64}")
SIDE_CODES = {"buy": 1, "sell": -1, None: 0}
# Prices are exact to 9 decimals (nano units, as the engines count notional); a price written
# with more decimals has its scale capped here.
MAX_PRICE_SCALE = 9


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record of a batch that could not be decoded: its index in the batch and why."""

    index: int
    reason: str


Columns = dict[str, np.ndarray]


def encode(event: Event) -> bytes:
    """Serialize a model to its wire bytes (JSON; prices as decimal strings)."""
    return event.__pydantic_serializer__.to_json(event)


def decode(model_name: str, raw: bytes) -> Event:
    """Validate wire bytes against a catalog model; raises DecodeError with a reason."""
    try:
        model = MODELS[model_name]
    except KeyError:
        raise DecodeError(f"unknown value model {model_name!r}") from None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise DecodeError(_short_reason(exc)) from exc


def dead_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    reason: str,
    ts_event: int,
    ts_init: int,
) -> DeadLetter:
    """The logic.deadletter record for one bad input record."""
    return DeadLetter(
        ts_event=ts_event,
        ts_init=ts_init,
        source_topic=topic,
        source_partition=partition,
        source_offset=offset,
        reason=reason[:1000],
        key_b64=base64.b64encode(key).decode() if key is not None else None,
        value_b64=base64.b64encode(value or b"").decode(),
    )


def decode_columns(model_name: str, values: Sequence[bytes]) -> tuple[Columns, list[Rejected]]:
    """Decode a batch of values of any catalog model into columns; bad rows are returned, not
    raised. The hot market models skip building a model object per record."""
    if model_name not in _COLUMNAR:
        return _decode_models(model_name, values)
    row_reader, build, empty = _COLUMNAR[model_name]
    if model_name in _FLAT_SPECS and values:
        columns = _flat_fast(_FLAT_SPECS[model_name], values)
        if columns is not None:
            return columns, []
    rows: list[tuple] = []
    rejected: list[Rejected] = []
    for i, raw in enumerate(values):
        try:
            doc = orjson.loads(raw)
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
            _check_version(doc)
            rows.append(row_reader(doc))
        except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
            rejected.append(Rejected(i, _row_reason(exc)))
    return (build(rows) if rows else empty()), rejected


# ---- row readers: one dict -> one tuple, validating what the models validate ------------


def _check_version(doc: dict) -> None:
    version = doc.get("schema_version", 1)
    if type(version) is not int or not 1 <= version <= MAX_SCHEMA_VERSION:
        raise ValueError(f"unsupported schema_version {version!r}")


def _ns(doc: dict, field: str) -> int:
    value = doc[field]
    if type(value) is not int or not 0 <= value <= INT64_MAX:
        raise ValueError(f"{field} must be a non-negative int64 (ns), got {value!r}")
    return value


def _price(doc: dict, field: str) -> float:
    value = doc[field]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{field} must be a decimal string or number, got {value!r}")
    price = float(value)
    if not math.isfinite(price):
        raise ValueError(f"{field} must be finite, got {value!r}")
    return price


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


def _size(doc: dict, field: str, *, positive: bool) -> int:
    value = doc[field]
    if type(value) is not int or not (1 if positive else 0) <= value <= INT64_MAX:
        kind = "positive" if positive else "non-negative"
        raise ValueError(f"{field} must be a {kind} integer, got {value!r}")
    return value


def _symbol(doc: dict) -> str:
    value = doc["symbol"]
    if not isinstance(value, str) or not _SYMBOL.fullmatch(value):
        raise ValueError(f"symbol must be 1-64 of A-Z a-z 0-9 . _ : / ^ -, got {value!r}")
    return value


def _trade_row(doc: dict) -> tuple:
    aggressor = doc.get("aggressor")
    if aggressor not in SIDE_CODES:
        raise ValueError(f"aggressor must be buy, sell or null, got {aggressor!r}")
    unreported = doc.get("unreported", False)
    if type(unreported) is not bool:
        raise ValueError(f"unreported must be true or false, got {unreported!r}")
    return (
        _ns(doc, "ts_event"),
        _ns(doc, "ts_init"),
        _symbol(doc),
        _price(doc, "price"),
        price_scale(doc["price"]),
        _size(doc, "size", positive=True),
        SIDE_CODES[aggressor],
        unreported,
    )


def _quote_row(doc: dict) -> tuple:
    bid, ask = _price(doc, "bid_price"), _price(doc, "ask_price")
    if bid > ask:
        raise ValueError(f"crossed quote: bid {bid} > ask {ask}")
    return (
        _ns(doc, "ts_event"),
        _ns(doc, "ts_init"),
        _symbol(doc),
        bid,
        _size(doc, "bid_size", positive=False),
        ask,
        _size(doc, "ask_size", positive=False),
    )


def _levels(doc: dict, side: str) -> tuple[list[float], list[int]]:
    prices, sizes = doc[f"{side}_prices"], doc[f"{side}_sizes"]
    if not isinstance(prices, list) or not isinstance(sizes, list):
        raise ValueError(f"{side}_prices and {side}_sizes must be lists")
    if len(prices) != len(sizes) or len(prices) > DEPTH_LEVELS:
        raise ValueError(f"{side} levels: {len(prices)} prices, {len(sizes)} sizes (max 10)")
    p = [_price({"p": v}, "p") for v in prices]
    s = [_size({"s": v}, "s", positive=False) for v in sizes]
    return p, s


def _depth_row(doc: dict) -> tuple:
    bp, bs = _levels(doc, "bid")
    ap, asz = _levels(doc, "ask")
    if any(a <= b for a, b in zip(bp, bp[1:], strict=False)):
        raise ValueError("bid_prices must strictly decrease from the best level")
    if any(a >= b for a, b in zip(ap, ap[1:], strict=False)):
        raise ValueError("ask_prices must strictly increase from the best level")
    if bp and ap and bp[0] >= ap[0]:
        raise ValueError(f"crossed book: best bid {bp[0]} >= best ask {ap[0]}")
    return (_ns(doc, "ts_event"), _ns(doc, "ts_init"), _symbol(doc), bp, bs, ap, asz)


# ---- columns -----------------------------------------------------------------------------

_TRADE_COLUMNS = (
    ("ts_event", np.int64), ("ts_init", np.int64), ("symbol", object),
    ("price", np.float64), ("price_scale", np.int8), ("size", np.int64), ("aggressor", np.int8),
    ("unreported", np.bool_),
)
_QUOTE_COLUMNS = (
    ("ts_event", np.int64), ("ts_init", np.int64), ("symbol", object),
    ("bid_price", np.float64), ("bid_size", np.int64),
    ("ask_price", np.float64), ("ask_size", np.int64),
)


def _flat_columns(spec: tuple) -> tuple[Callable[[list[tuple]], Columns], Callable[[], Columns]]:
    def build(rows: list[tuple]) -> Columns:
        cols = list(zip(*rows, strict=True))
        return {name: np.array(col, dtype=dt) for (name, dt), col in zip(spec, cols, strict=True)}

    def empty() -> Columns:
        return {name: np.empty(0, dtype=dt) for name, dt in spec}

    return build, empty


def _depth_build(rows: list[tuple]) -> Columns:
    n = len(rows)
    cols = {
        "ts_event": np.fromiter((r[0] for r in rows), np.int64, n),
        "ts_init": np.fromiter((r[1] for r in rows), np.int64, n),
        "symbol": np.array([r[2] for r in rows], dtype=object),
    }
    # Missing levels are NaN prices with size 0.
    for offset, side in ((3, "bid"), (5, "ask")):
        prices = np.full((n, DEPTH_LEVELS), np.nan)
        sizes = np.zeros((n, DEPTH_LEVELS), np.int64)
        for i, row in enumerate(rows):
            k = len(row[offset])
            prices[i, :k] = row[offset]
            sizes[i, :k] = row[offset + 1]
        cols[f"{side}_price"], cols[f"{side}_size"] = prices, sizes
    return cols


def _depth_empty() -> Columns:
    return _depth_build([])


# ---- fast path for flat models: Arrow's JSON reader, whole columns at once -----------------
# The batch is parsed by Arrow's C++ JSON reader as newline-delimited JSON, and every column is
# checked as a whole. Any doubt (a parse error, a changed type, a null, a bad value, a record
# count that does not match) returns None and the caller takes the per-row path above, which
# finds and names exactly the bad rows; so the fast path only accepts what that path accepts.

_SIDE_VALUES = pa.array(["buy", "sell"])


def _flat_fast(spec: tuple, values: Sequence[bytes]) -> Columns | None:
    # Arrow only ever sees single-line JSON objects: pyarrow 26 crashes the process on some
    # other top-level values (`null` then `1`), and a newline would shift records. The joined
    # bytes show it: n-1 newlines, each between a `}` and a `{`, and `{...}` around it all.
    data = b"\n".join(values)
    separators = len(values) - 1
    if not (
        data[:1] == b"{" and data[-1:] == b"}"
        and data.count(b"\n") == separators and data.count(b"}\n{") == separators
    ):
        return None
    try:
        table = pa_json.read_json(
            io.BytesIO(data),
            read_options=pa_json.ReadOptions(use_threads=True, block_size=1 << 20),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError):
        return None
    if table.num_rows != len(values) or not _versions_ok(table):
        return None
    columns = {}
    for name, _ in spec:
        column = _arrow_column(name, table)
        if column is None:
            return None
        columns[name] = column
    if "bid_price" in columns and (columns["bid_price"] > columns["ask_price"]).any():
        return None
    return columns


def _versions_ok(table: pa.Table) -> bool:
    if "schema_version" not in table.column_names:
        return True
    version = table["schema_version"]
    return pa.types.is_integer(version.type) and pc.all(pc.equal(version, 1)).as_py() is True


_ABSENT_MEANS_ZERO = {"aggressor": np.int8, "unreported": np.bool_}  # optional with a default


def _arrow_column(name: str, table: pa.Table) -> np.ndarray | None:
    if name.endswith("_scale"):
        return _arrow_scales(table[name.removesuffix("_scale")])
    if name not in table.column_names:
        dtype = _ABSENT_MEANS_ZERO.get(name)
        return None if dtype is None else np.zeros(table.num_rows, dtype)
    column = table[name]
    if name == "aggressor":
        return _side_codes(column)
    if name == "unreported":
        if not pa.types.is_boolean(column.type) or column.null_count:
            return None  # 1, "true", null: the per-row path names the bad rows
        return column.to_numpy(zero_copy_only=False)
    if column.null_count:
        return None
    if name == "symbol":
        if not pa.types.is_string(column.type):
            return None
        encoded = column.combine_chunks().dictionary_encode()  # one Python str per symbol
        names = encoded.dictionary.to_pylist()
        if not all(_SYMBOL.fullmatch(v) for v in names):
            return None
        return np.array(names, dtype=object)[encoded.indices.to_numpy()]
    if name.endswith("price"):
        return _arrow_prices(column)
    if not pa.types.is_int64(column.type):
        return None  # floats, bools, strings, uint64 overflow: the per-row path names them
    ints = column.to_numpy()
    return ints if (ints >= (1 if name == "size" else 0)).all() else None


def _arrow_prices(column: pa.ChunkedArray) -> np.ndarray | None:
    kind = column.type
    if not (pa.types.is_string(kind) or pa.types.is_int64(kind) or pa.types.is_float64(kind)):
        return None
    try:
        prices = pc.cast(column, pa.float64()).to_numpy()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return prices if np.isfinite(prices).all() else None


def _arrow_scales(column: pa.ChunkedArray) -> np.ndarray | None:
    """Scales of a price column; None (the per-row path) for JSON numbers with a fraction,
    whose text Arrow does not keep."""
    if pa.types.is_int64(column.type):
        return np.zeros(len(column), np.int8)
    if not pa.types.is_string(column.type):
        return None
    return price_scales(column)


def _side_codes(column: pa.ChunkedArray) -> np.ndarray | None:
    if pa.types.is_null(column.type):
        return np.zeros(len(column), np.int8)
    if not pa.types.is_string(column.type):
        return None
    valid = pc.is_in(column, value_set=_SIDE_VALUES, skip_nulls=True)
    if pc.any(pc.invert(pc.fill_null(valid, True))).as_py():
        return None
    buy = pc.fill_null(pc.equal(column, "buy"), False).to_numpy(zero_copy_only=False)
    sell = pc.fill_null(pc.equal(column, "sell"), False).to_numpy(zero_copy_only=False)
    return buy.astype(np.int8) - sell.astype(np.int8)


_trade_build, _trade_empty = _flat_columns(_TRADE_COLUMNS)
_quote_build, _quote_empty = _flat_columns(_QUOTE_COLUMNS)

_COLUMNAR: dict[
    str,
    tuple[Callable[[dict], tuple], Callable[[list[tuple]], Columns], Callable[[], Columns]],
] = {
    "Trade": (_trade_row, _trade_build, _trade_empty),
    "Quote": (_quote_row, _quote_build, _quote_empty),
    "DepthSnapshot": (_depth_row, _depth_build, _depth_empty),
}
COLUMNAR_MODELS = frozenset(_COLUMNAR)
_FLAT_SPECS = {"Trade": _TRADE_COLUMNS, "Quote": _QUOTE_COLUMNS}


def _decode_models(model_name: str, values: Sequence[bytes]) -> tuple[Columns, list[Rejected]]:
    """Any other model: each record validated by its pydantic model, then laid out in columns."""
    events: list[Event] = []
    rejected: list[Rejected] = []
    for i, raw in enumerate(values):
        try:
            events.append(decode(model_name, raw))
        except DecodeError as exc:
            rejected.append(Rejected(i, str(exc)))
    return event_columns(model_name, events), rejected


def event_columns(model_name: str, events: Sequence[Event]) -> Columns:
    """Model objects as columns, one per field: int -> int64, float and price -> float64 (None is
    NaN), bool -> bool; an optional int, text, lists and dicts -> object arrays."""
    try:
        model = MODELS[model_name]
    except KeyError:
        raise DecodeError(f"unknown value model {model_name!r}") from None
    columns: Columns = {}
    for name, info in model.model_fields.items():
        cells = [getattr(e, name) for e in events]
        kind = _column_kind(info.annotation)
        if kind is float:
            columns[name] = np.array([np.nan if c is None else float(c) for c in cells], np.float64)
        elif kind is int:
            columns[name] = np.array(cells, np.int64)
        elif kind is bool:
            columns[name] = np.array(cells, np.bool_)
        else:
            column = np.empty(len(cells), object)
            column[:] = cells
            columns[name] = column
    return columns


def _column_kind(annotation: object) -> type:
    """float, int or bool for a field kept in a numeric column, object for the rest."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _column_kind(args[0])
    if origin in (Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        inner = _column_kind(kept[0]) if len(kept) == 1 else object
        return float if inner is float else object
    if annotation in (float, Decimal):
        return float
    if annotation in (int, bool):
        return annotation  # type: ignore[return-value]
    return object


def _row_reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    if isinstance(exc, orjson.JSONDecodeError):
        return f"invalid JSON: {exc}"
    return str(exc)


def _short_reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(x) for x in err["loc"]) or "record"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
