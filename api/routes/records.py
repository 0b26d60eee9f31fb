"""Generic list routes: one `GET /api/v1/<table>` per stored model whose descriptor says
`served` (streams/schema/storage.py), so a new stored output needs no API code.

Each lists the table's records in (time, rest of the natural key) order, as pages with
cursors like every list (api/params.py); `from`/`to` bound the time, and each string column of
the natural key, and `symbol` where the model has one, is an optional equality filter. A
record is its wire model's fields (prices and money exact decimal strings) and `time`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.auth import AUTH_RESPONSES, RequireRead
from api.deps import ConnectionDep
from api.models import Page, ok, record_model
from api.params import (
    DEFAULT_LIMIT,
    NO_NUL,
    FromParam,
    LimitParam,
    ToParam,
    cursor_query,
    cursor_time,
    decode_cursor,
    examples,
    micros,
    page_of,
    time_range,
)
from api.queries import records
from streams.schema import MODELS, STORED, Event
from streams.schema.storage import TIME_COLUMN, Stored

router = APIRouter(prefix="/api/v1", dependencies=[RequireRead], responses=AUTH_RESPONSES,
                   tags=["records"])

Endpoint = Callable[..., Coroutine[Any, Any, Page[Any]]]


def equality_filters(model: type[Event], stored: Stored) -> list[str]:
    """The string columns of the natural key, and `symbol` where the model has one."""
    names = dict.fromkeys((*stored.key, "symbol"))
    return [n for n in names if n != TIME_COLUMN and n in model.model_fields
            and model.model_fields[n].annotation is str]


def list_endpoint(model: type[Event], stored: Stored, item: type[BaseModel]) -> Endpoint:
    """The route function listing `model`'s records, with a query parameter per filter."""
    order = records.sort_key(stored)
    # the cursor: time as µs, then the rest of the key, typed as on the model
    cursor_types = (int, *(int if model.model_fields[c].annotation is int else str
                           for c in order[1:]))
    columns = list(item.model_fields)
    filters = equality_filters(model, stored)

    async def list_records(
        conn: ConnectionDep, start: FromParam = None, end: ToParam = None,
        limit: LimitParam = DEFAULT_LIMIT, cursor: str | None = None, **equal: str | None,
    ) -> Page[Any]:
        lo, hi = time_range(start, end)
        key = decode_cursor(cursor, cursor_types)
        after = [cursor_time(key[0]), *key[1:]] if key else None
        given = {c: v for c, v in equal.items() if v is not None}
        rows = await records.records(conn, stored, columns, given, lo, hi, after, limit + 1)
        return page_of(item, rows, limit, lambda r: [micros(r[TIME_COLUMN]),
                                                     *(r[c] for c in order[1:])])

    signature = inspect.signature(list_records)
    cursor_param = Annotated[str | None, cursor_query(*(_example(item, c) for c in order[1:]))]
    fixed = [p.replace(annotation=cursor_param) if p.name == "cursor" else p
             for p in signature.parameters.values() if p.kind != p.VAR_KEYWORD]
    list_records.__signature__ = signature.replace(parameters=[  # type: ignore[attr-defined]
        *fixed, *(inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=None,
            annotation=Annotated[str | None, Query(
                min_length=1, max_length=200, pattern=NO_NUL,
                description=f"only records of this {name}",
                openapi_examples=examples(one=_example(item, name)))])
            for name in filters)])
    return list_records


def _example(item: type[BaseModel], name: str) -> object:
    return item.model_json_schema()["examples"][0][name]


def _add_route(model: type[Event], stored: Stored) -> None:
    item = record_model(model)
    filters = ", ".join(equality_filters(model, stored))
    router.add_api_route(
        stored.api_path.removeprefix(router.prefix), list_endpoint(model, stored, item),
        methods=["GET"], response_model=Page[item], responses=ok(Page[item]),  # type: ignore[valid-type]
        name=f"list_{stored.table}",
        summary=f"List {model.__name__} records",
        description=(f"{model.__name__} records stored from the log (table {stored.table}) in "
                     f"order of time, then {', '.join(records.sort_key(stored)[1:]) or 'nothing'}"
                     f"; optional filters: {filters or 'none'}. {inspect.getdoc(model) or ''}"),
    )


for _name, _stored in STORED.items():
    if _stored.served:
        _add_route(MODELS[_name], _stored)
