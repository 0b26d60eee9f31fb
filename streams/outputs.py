"""Replay's output files: `<topic>.parquet` and `<topic>.csv`, one fixed schema per topic.

The schema of a topic comes from its value model, never from the rows, so every file of a
topic has the same columns and types, an empty one included (a header, or a Parquet schema
with no rows). Columns are the model's fields in order:

| field type | Parquet | CSV |
|---|---|---|
| int | int64 | decimal digits |
| float | float64 | shortest round-trip text |
| price, money (Decimal) | decimal128(38, 18) | the exact decimal text (`5012.50`) |
| str, Literal | string | the text |
| bool | bool | `true` / `false` |
| date | date32 | ISO 8601 (`2026-12-07`) |
| list of the above | list of that type | JSON text |
| dict | string (JSON text) | JSON text |

Decimals: prices have at most 9 decimals, but money can have more (a commission is exact:
price x quantity x bps / 1e4), so Parquet keeps 18, with 20 digits before the point; a value
with more than 18 decimals (fee rates with many digits) is rounded half-even to 18 there,
and stays exact in CSV. None is a null in Parquet and an empty cell in CSV. Rows are in
canonical order (ts_event, then key, then emission order), so the same input gives
byte-identical files.
"""

from __future__ import annotations

import csv
import types
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, Union, get_args, get_origin

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from streams.catalog import Catalog
from streams.schema import MODELS, Event

if TYPE_CHECKING:  # the engines import torch: loaded only by the replay that made the outputs
    from processors import Emit, Engine

DECIMAL_PLACES = 18
PRICE_TYPE = pa.decimal128(38, DECIMAL_PLACES)  # 20 digits before the point
_SCALARS: dict[type, pa.DataType] = {
    bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string(), Decimal: PRICE_TYPE,
    date: pa.date32(),
}


def output_models(engines: list[type[Engine]], catalog: Catalog) -> dict[str, type[Event]]:
    """Every output topic of `engines`, sorted, with its value model from the catalog."""
    topics = sorted({t for e in engines for t in e.outputs})
    return {t: MODELS[catalog[t].value] for t in topics}


def arrow_schema(model: type[Event]) -> pa.Schema:
    """The Parquet schema of a model's records (see the module docstring)."""
    return pa.schema(
        pa.field(name, _arrow_type(info.annotation, f"{model.__name__}.{name}"))
        for name, info in model.model_fields.items()
    )


def _arrow_type(annotation: object, where: str) -> pa.DataType:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _arrow_type(args[0], where)
    if origin in (Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        if len(kept) == 1:
            return _arrow_type(kept[0], where)
    elif origin is Literal and len({type(a) for a in args}) == 1:
        return _arrow_type(type(args[0]), where)
    elif origin is list and len(args) == 1:
        return pa.list_(_arrow_type(args[0], where))
    elif origin is dict:
        return pa.string()
    elif isinstance(annotation, type) and annotation in _SCALARS:
        return _SCALARS[annotation]
    raise TypeError(f"{where}: no Parquet type for {annotation!r}")


def write_outputs(
    emitted: Mapping[str, list[Emit]], models: Mapping[str, type[Event]], out_dir: Path
) -> dict[str, Path]:
    """Write `<topic>.parquet` and `<topic>.csv` of every topic in `models` (empty ones too)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for topic, model in models.items():
        emits = sorted(emitted.get(topic, []), key=lambda e: (e.value.ts_event, e.key))
        rows = [e.value.model_dump(mode="python") for e in emits]
        parquet = out_dir / f"{topic}.parquet"
        write_parquet(rows, model, parquet)
        write_csv(rows, model, out_dir / f"{topic}.csv")
        written[topic] = parquet
    return written


def write_parquet(rows: list[dict[str, object]], model: type[Event], path: Path) -> None:
    schema = arrow_schema(model)
    columns = [
        pa.array([_parquet_value(row[field.name], field.type) for row in rows], field.type)
        for field in schema
    ]
    pq.write_table(pa.Table.from_arrays(columns, schema=schema), path)


def _parquet_value(value: object, kind: pa.DataType) -> object:
    if isinstance(value, float) and value != value:
        return None  # NaN is null, as on the wire
    if isinstance(value, Decimal) and value.as_tuple().exponent < -DECIMAL_PLACES:  # type: ignore[operator]
        with localcontext(prec=80):
            return value.quantize(Decimal(1).scaleb(-DECIMAL_PLACES), ROUND_HALF_EVEN)
    return _json(value) if pa.types.is_string(kind) and isinstance(value, dict) else value


def write_csv(rows: list[dict[str, object]], model: type[Event], path: Path) -> None:
    names = list(model.model_fields)
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([_csv_cell(row[name]) for name in names] for row in rows)


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")  # plain digits, never 1E-7
    if isinstance(value, float):
        return "" if value != value else repr(value)
    if isinstance(value, list | dict):
        return _json(value)
    return str(value)


def _json(value: object) -> str:
    return orjson.dumps(value, default=lambda v: format(v, "f")).decode()
