"""A columnar batch back to wire models, row by row, for the strategy callbacks.

Strategies are written against the catalog's models (`Bar`, `Execution`, ...), as
NautilusTrader strategies are against its data types. The batch was validated when it was
decoded, so the models are built without validating again (`model_construct`). Prices come
back as the shortest decimal of their float64 column (`101.1`, not `101.09999999999999`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal

import numpy as np

from streams.schema import Event
from streams.schema.columns import LAYOUTS, SIDE_CODES, Kind, Layout

Columns = Mapping[str, np.ndarray]
_SIDES = {code: side for side, code in SIDE_CODES.items()}


def _price(value: object) -> Decimal | None:
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else Decimal(repr(number))


def _float(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


_CONVERT: dict[Kind, Callable[[object], object]] = {
    Kind.INT: int,  # type: ignore[dict-item]
    Kind.FLOAT: _float,
    Kind.PRICE: _price,
    Kind.BOOL: bool,
    Kind.SIDE: lambda code: _SIDES[int(code)],  # type: ignore[call-overload]
    Kind.SYMBOL: str,
    Kind.TEXT: lambda text: text,
    Kind.OBJECT: lambda value: value,
}


class RowModels:
    """Builds one model of `model_name` from a row of its decoded columns."""

    def __init__(self, model_name: str) -> None:
        layout: Layout = LAYOUTS[model_name]
        unsupported = [c.name for c in layout.columns if c.kind not in _CONVERT]
        if unsupported:
            raise TypeError(f"{model_name}: no row conversion for columns {unsupported}")
        self._model = layout.model
        self._fields = [(c.name, c.field, _CONVERT[c.kind]) for c in layout.columns]

    def build(self, columns: Columns, rows: range | list[int]) -> list[Event]:
        """The models of `rows`, in order; one-dimensional columns are read as Python lists
        once for the batch, not one numpy scalar per cell."""
        cells = {name: column.tolist() if column.ndim == 1 else column
                 for name, column in columns.items()}
        construct = self._model.model_construct
        return [construct(None, **{field: convert(cells[name][row])
                                   for name, field, convert in self._fields})
                for row in rows]
