"""Each value model's columns, declared once: the layout `streams.codec` decodes a batch into.

A model's columns follow from its fields (`layout_of`):
  - an int -> int64 (`minimum` from its ge/gt; every int field bounds itself to int64, see
    `Int64`); a float -> float64; a price or money (Decimal) -> float64 (`positive` from a
    gt=0); an optional float or price is NaN where None;
  - a bool -> bool; a `Side` (buy/sell, optional or not) -> int8 via SIDE_CODES;
  - a pattern-checked text (`Symbol`) -> object array of str, checked once per distinct value;
    any other text or text Literal -> object array of str (None where optional; `max_length`
    from its max_length);
  - a list with a max_length (depth levels) -> a (n, max_length) matrix named by its singular
    (`bid_prices` -> `bid_price`): prices float64 NaN-padded, sizes int64 0-padded;
  - anything else (an optional int, other lists, dicts, JSON) -> object array of the values.
`schema_version` is checked, never a column. What the fields cannot say is the small spec
below: the text the hot topics leave out (a Python object per row the engines never read:
still checked, as `Layout.left_out`) and the prices that also carry their scale
(`price_scale`: the decimals the text was written with).

A model with a model validator gets the columnar fast path only with a vectorised twin of it
in BATCH_CHECKS (True for each row that may fail it); without one every batch of it takes the
per-row path.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from functools import partial
from typing import Annotated, Literal, Union, cast, get_args, get_origin

import annotated_types as at
import numpy as np
from pydantic import TypeAdapter
from pydantic.fields import FieldInfo

from streams.schema import MODELS
from streams.schema.base import INT64_MAX, INT64_MIN, Event
from streams.schema.market import Side

LEFT_OUT: dict[str, frozenset[str]] = {
    "Trade": frozenset({"trade_id", "venue", "conditions"}),
    "Quote": frozenset({"venue"}),
    "DepthSnapshot": frozenset({"venue"}),
}
SCALED: dict[str, frozenset[str]] = {"Trade": frozenset({"price"})}
SIDE_CODES: dict[str | None, int] = {"buy": 1, "sell": -1, None: 0}
REQUIRED = object()  # a Column's default when the field must be present


class Kind(Enum):
    INT = "int"
    FLOAT = "float"
    PRICE = "price"
    SCALE = "scale"
    BOOL = "bool"
    SIDE = "side"
    SYMBOL = "symbol"
    TEXT = "text"
    LEVELS = "levels"
    OBJECT = "object"


_DTYPES = {Kind.INT: np.int64, Kind.FLOAT: np.float64, Kind.PRICE: np.float64,
           Kind.SCALE: np.int8, Kind.BOOL: np.bool_, Kind.SIDE: np.int8}


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a model's batch: its name, the field it is read from and how."""

    name: str
    field: str
    kind: Kind
    optional: bool = False
    default: object = REQUIRED
    minimum: int | None = None  # INT, and the items of INT LEVELS
    positive: bool = False  # PRICE: only values > 0
    non_negative: bool = False  # PRICE: only values >= 0
    max_length: int | None = None  # TEXT: at most this many characters
    choices: tuple[object, ...] | None = None  # INT, TEXT from a Literal
    pattern: re.Pattern[str] | None = None  # SYMBOL
    width: int = 0  # LEVELS
    item: Kind | None = None  # LEVELS: PRICE or INT
    adapter: TypeAdapter | None = None  # OBJECT: validates one value as the model does

    @property
    def dtype(self) -> type:
        if self.kind is Kind.LEVELS:
            return np.float64 if self.item is Kind.PRICE else np.int64
        return _DTYPES.get(self.kind, object)

    def expects(self, item: bool = False) -> str:
        """What a valid value is, for a bad row's reason (`item`: one element of a list)."""
        kind = self.kind
        if kind is Kind.LEVELS:
            if not item:
                what = "prices" if self.item is Kind.PRICE else "non-negative integers"
                return f"a list of up to {self.width} {what}"
            kind = self.item or kind
        if kind is Kind.INT and self.choices is None:
            text = {None: "an integer", 0: "a non-negative integer", 1: "a positive integer"}
            unit = " (ns)" if self.field.startswith("ts_") or self.field.endswith("_ns") else ""
            return text.get(self.minimum, f"an integer >= {self.minimum}") + unit
        if kind is Kind.SYMBOL and self.pattern is not None:
            return f"text matching {self.pattern.pattern}"
        if self.choices is not None:
            return "one of " + ", ".join(map(repr, self.choices))
        if kind is Kind.SIDE and self.optional:
            return "buy, sell or null"
        what = _EXPECTS[kind]
        if self.positive or self.non_negative:
            sign = "positive" if self.positive else "non-negative"
            what = f"a {sign} {what.removeprefix('a ')}"
        if self.max_length is not None:
            what += f" of at most {self.max_length} characters"
        return what + (" or null" if self.optional else "")


_EXPECTS = {Kind.FLOAT: "a number", Kind.PRICE: "a finite decimal string or number",
            Kind.BOOL: "true or false", Kind.SIDE: "buy or sell", Kind.TEXT: "text",
            Kind.SYMBOL: "text", Kind.OBJECT: "valid"}


@dataclass(frozen=True, slots=True)
class Layout:
    """A model's columns in order, the vectorised check of its model validators, the text
    fields left out of the columns (checked all the same) and every field the model has."""

    model: type[Event]
    columns: tuple[Column, ...]
    batch_check: Callable[[dict[str, np.ndarray], dict[str, np.ndarray]], np.ndarray] | None
    by_field: dict[str, Column] = field(default_factory=dict)
    left_out: tuple[Column, ...] = ()
    fields: frozenset[str] = frozenset()

    @property
    def columnar(self) -> bool:
        """Whether a batch may take the fast path: no model validator it cannot check."""
        validators = self.model.__pydantic_decorators__.model_validators
        return not validators or self.batch_check is not None


def layout_of(model: type[Event]) -> Layout:
    name = model.__name__
    columns: list[Column] = []
    left_out: list[Column] = []
    for field_name, info in model.model_fields.items():
        if field_name == "schema_version":
            continue
        column = _column(field_name, info)
        if field_name in LEFT_OUT.get(name, ()):
            if column.kind is not Kind.TEXT:
                raise TypeError(f"{name}.{field_name} is left out of the columns, which only "
                                "text may be (it is checked as text)")
            left_out.append(column)
            continue
        columns.append(column)
        if field_name in SCALED.get(name, ()):
            columns.append(Column(f"{field_name}_scale", field_name, Kind.SCALE))
    by_field = {c.field: c for c in [*columns, *left_out] if c.kind is not Kind.SCALE}
    return Layout(model, tuple(columns), BATCH_CHECKS.get(name), by_field, tuple(left_out),
                  frozenset(model.model_fields))


def _column(name: str, info: FieldInfo) -> Column:
    default = REQUIRED if info.is_required() else info.get_default(call_default_factory=True)
    annotation, metadata, optional = _unwrap(info.annotation, list(info.metadata))
    make = partial(Column, name=name, field=name, optional=optional, default=default)
    if get_origin(annotation) is Literal:
        choices = get_args(annotation)
        if annotation == Side:
            return make(kind=Kind.SIDE)
        if all(isinstance(c, str) for c in choices):
            return make(kind=Kind.TEXT, choices=choices)
        if all(type(c) is int for c in choices) and not optional:
            return make(kind=Kind.INT, choices=choices)
    if annotation is int and not optional:
        return make(kind=Kind.INT, minimum=_minimum(name, metadata))
    if annotation is float:
        return make(kind=Kind.FLOAT)
    if annotation is Decimal:
        positive, non_negative = _price_bound(name, metadata)
        return make(kind=Kind.PRICE, positive=positive, non_negative=non_negative)
    if annotation is bool and not optional:
        return make(kind=Kind.BOOL)
    max_length = next((m.max_length for m in metadata if isinstance(m, at.MaxLen)), None)
    if annotation is str:
        pattern = next((m.pattern for m in metadata if getattr(m, "pattern", None)), None)
        if pattern is None:
            return make(kind=Kind.TEXT, max_length=max_length)
        return make(kind=Kind.SYMBOL, pattern=re.compile(pattern))
    width = max_length or 0
    if get_origin(annotation) is list and width and not optional:
        item, item_metadata, _ = _unwrap(get_args(annotation)[0], [])
        if item in (Decimal, int):
            return Column(name=name.removesuffix("s"), field=name, kind=Kind.LEVELS, width=width,
                          item=Kind.PRICE if item is Decimal else Kind.INT,
                          minimum=_minimum(name, item_metadata) if item is int else None,
                          default=default)
    return make(kind=Kind.OBJECT, adapter=TypeAdapter(info.rebuild_annotation()))


def _unwrap(annotation: object, metadata: list) -> tuple[object, list, bool]:
    """The type under Optional and Annotated, its constraints, and whether None is allowed."""
    optional = False
    while True:
        origin, args = get_origin(annotation), get_args(annotation)
        if origin is Annotated:
            annotation = args[0]
            for extra in args[1:]:
                metadata += extra.metadata if isinstance(extra, FieldInfo) else [extra]
        elif origin in (Union, types.UnionType) and type(None) in args and len(args) == 2:
            optional = True
            annotation = next(a for a in args if a is not type(None))
        else:
            return annotation, metadata, optional


def _minimum(name: str, metadata: list) -> int | None:
    """The least value an int field allows (None: any int64); TypeError for a field not
    bounded to int64, or with a bound no column check knows."""
    minimum, bounded = INT64_MIN, False
    for m in metadata:
        if isinstance(m, at.Ge):
            minimum = max(minimum, int(cast(int, m.ge)))
        elif isinstance(m, at.Gt):
            minimum = max(minimum, int(cast(int, m.gt)) + 1)
        elif isinstance(m, at.Le) and m.le == INT64_MAX:
            bounded = True
        elif isinstance(m, at.Le | at.Lt):
            raise TypeError(f"{name}: no column check for {m!r}: teach streams/schema/columns.py")
    if not bounded:
        raise TypeError(f"{name}: an int column is int64; bound the field to it "
                        "(streams.schema.base.Int64)")
    return None if minimum == INT64_MIN else minimum


def _price_bound(name: str, metadata: list) -> tuple[bool, bool]:
    """Whether a price field allows only values > 0, and only values >= 0; TypeError for a
    bound no column check knows."""
    bounds = [m for m in metadata if isinstance(m, at.Ge | at.Gt | at.Le | at.Lt)]
    positive = [m for m in bounds if isinstance(m, at.Gt) and m.gt == 0]
    non_negative = [m for m in bounds if isinstance(m, at.Ge) and m.ge == 0]
    if len(positive) + len(non_negative) != len(bounds) or len(bounds) > 1:
        raise TypeError(f"{name}: no column check for {bounds!r}: teach streams/schema/columns.py")
    return bool(positive), bool(non_negative)


# ---- the model validators, vectorised: True for each row that may fail them -------------


def _quote_crossed(columns: dict[str, np.ndarray], _: dict[str, np.ndarray]) -> np.ndarray:
    return columns["bid_price"] > columns["ask_price"]


def _depth_inconsistent(columns: dict[str, np.ndarray], lengths: dict[str, np.ndarray]
                        ) -> np.ndarray:
    """DepthSnapshot._consistent on whole matrices; NaN (a missing level) compares False."""
    bid, ask = columns["bid_price"], columns["ask_price"]
    return (
        (lengths["bid_prices"] != lengths["bid_sizes"])
        | (lengths["ask_prices"] != lengths["ask_sizes"])
        | (np.diff(bid, axis=1) >= 0).any(axis=1)
        | (np.diff(ask, axis=1) <= 0).any(axis=1)
        | (bid[:, 0] >= ask[:, 0])
    )


BATCH_CHECKS = {"Quote": _quote_crossed, "DepthSnapshot": _depth_inconsistent}

LAYOUTS: dict[str, Layout] = {name: layout_of(model) for name, model in MODELS.items()}
