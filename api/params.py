"""What the routes share: time bounds, page size, cursors, the symbol check.

Times in: `from` / `to` accept ISO-8601 with a UTC offset (`2026-11-20T14:30:00Z`) or an
integer of nanoseconds since the epoch; `from` is inclusive, `to` exclusive; both optional,
and an empty one (`?from=`, as a form sends an empty field) is no bound. Their OpenAPI schema
says exactly that (a date-time, an integer, or empty), so clients and schemathesis know.
Routes over dated periods (macro observations, a company's fiscal periods, filings by their
filing day, daily prices) take `from` / `to` as dates (`2024-01-31`, the same inclusive /
exclusive bounds), and `as_of` (what was known then: an instant as above, or a date, meaning
the whole of that day in UTC).
Times out: every record has `ts_event` (int ns, exact) and `time` (ISO-8601 UTC, microseconds).

Lists are pages: `limit` (1-1000, default 100) items and `next_cursor`, an opaque token that
returns the following page when passed back as `cursor` (null on the last page; an empty
`cursor=` is the first page). Pages follow
the sort key, so paging never skips or repeats a record even while new ones arrive.
Text that reaches a query (a symbol, an account, a filter, a cursor's key) holds no NUL
(`NO_NUL`; 422 otherwise). A route that names a symbol answers 404 for one the database holds
nothing of (`require_symbol`, `NOT_FOUND` for its OpenAPI answers), one that names an account
likewise (`require_account`, `UNKNOWN_ACCOUNT`). The SQL side of these (the `from`/`to`
filter, rows as dicts) is in `api.queries`.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import HTTPException, Path, Query, status
from fastapi.openapi.models import Example
from pydantic import BaseModel, TypeAdapter

from api.deps import ConnectionDep
from api.models import EXAMPLE_NS, NO_NUL, ErrorBody, Page
from api.queries import accounts, market
from streams.schema.base import INT64_MAX
from streams.schema.market import SourceName

T = TypeVar("T", bound=BaseModel)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_LIMIT = 100
MAX_LIMIT = 1_000

NOT_FOUND = {status.HTTP_404_NOT_FOUND: {"description": "unknown symbol"}}
UNKNOWN_ACCOUNT: dict[int | str, dict[str, Any]] = {status.HTTP_404_NOT_FOUND: {
    "description": "unknown account: no position, portfolio snapshot, margin state, risk "
                   "report or risk command of it is stored"}}

_TIME_HELP = "ISO-8601 with offset (2026-11-20T14:30:00Z) or int ns since the epoch"
# What `parse_time` accepts, for the OpenAPI schema: a date-time with its offset, an int of ns,
# or nothing (an empty field)
_TIME_SCHEMA = {"anyOf": [{"type": "string", "format": "date-time"},
                          {"type": "integer", "minimum": 0, "maximum": INT64_MAX},
                          {"type": "string", "maxLength": 0}]}
# What `parse_date` accepts: an RFC 3339 full-date (2024-01-31) or nothing
_DATE_SCHEMA = {"anyOf": [{"type": "string", "format": "date"},
                          {"type": "string", "maxLength": 0}]}
# What `parse_as_of` accepts: a time as `from` / `to` take it, or a date
_AS_OF_SCHEMA = {"anyOf": [{"type": "string", "format": "date-time"},
                           {"type": "string", "format": "date"},
                           {"type": "integer", "minimum": 0, "maximum": INT64_MAX},
                           {"type": "string", "maxLength": 0}]}
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DAY_NS = 86_400 * 10**9


def examples(**named: object) -> dict[str, Example]:
    """`openapi_examples` for a parameter (what /docs offers in its drop-down): name=value."""
    return {name.replace("_", " "): {"value": value} for name, value in named.items()}


SOURCE_PATTERN: str = TypeAdapter(SourceName).json_schema()["pattern"]


def source_query(description: str, **named: str) -> Any:
    """The `source` query parameter of the routes over data sources (`fred`, `edgar`, ...):
    `Annotated[str | None, source_query(...)]`."""
    return Query(pattern=SOURCE_PATTERN, description=description,
                 openapi_examples=examples(**named))


def not_stored(description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI answer of a route's 404 for a key the database holds nothing of."""
    return {status.HTTP_404_NOT_FOUND: {"model": ErrorBody, "description": description}}


FromParam = Annotated[str | None, Query(
    alias="from", description=f"inclusive; {_TIME_HELP}", json_schema_extra=_TIME_SCHEMA,
    openapi_examples=examples(iso_8601="2026-11-20T14:30:00Z", ns="1795185000000000000"))]
ToParam = Annotated[str | None, Query(
    alias="to", description=f"exclusive; {_TIME_HELP}", json_schema_extra=_TIME_SCHEMA,
    openapi_examples=examples(iso_8601="2026-11-20T15:30:00+00:00", ns="1795188600000000000"))]
LimitParam = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page",
                                  openapi_examples=examples(default=DEFAULT_LIMIT,
                                                            largest=MAX_LIMIT))]
SymbolParam = Annotated[str, Query(min_length=1, max_length=64, pattern=NO_NUL,
                                   description="instrument",
                                   openapi_examples=examples(stock="AAPL", future="ESH7"))]
AccountParam = Annotated[str, Path(min_length=1, max_length=200, pattern=NO_NUL,
                                   description="the account",
                                   openapi_examples=examples(paper="paper"))]
DateFromParam = Annotated[str | None, Query(
    alias="from", description="inclusive; a date, YYYY-MM-DD", json_schema_extra=_DATE_SCHEMA,
    openapi_examples=examples(date="2024-01-01"))]
DateToParam = Annotated[str | None, Query(
    alias="to", description="exclusive; a date, YYYY-MM-DD", json_schema_extra=_DATE_SCHEMA,
    openapi_examples=examples(date="2025-01-01"))]
AsOfParam = Annotated[str | None, Query(
    description=f"what was known then: {_TIME_HELP}, or a date (YYYY-MM-DD: all of that day "
                "in UTC); absent or empty: everything stored",
    json_schema_extra=_AS_OF_SCHEMA,
    openapi_examples=examples(date="2024-01-10", iso_8601="2024-01-10T13:30:00Z",
                              ns="1704893400000000000"))]
OptionalSymbolParam = Annotated[str | None, Query(
    min_length=1, max_length=64, pattern=NO_NUL, description="one instrument; all when absent",
    openapi_examples=examples(stock="AAPL"))]


def parse_time(value: str | None, name: str) -> datetime | None:
    """A `from`/`to` value as an aware datetime (ns truncated to µs, as the `time` columns)."""
    text = (value or "").strip()
    if not text:
        return None  # absent or empty: no bound
    if text.lstrip("-").isdigit():
        ns = int(text)
        if not 0 <= ns <= INT64_MAX:
            raise _invalid(name, "nanoseconds must be between 0 and 2**63 - 1")
        return EPOCH + timedelta(microseconds=ns // 1000)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid(name, f"expected {_TIME_HELP}") from None
    if parsed.tzinfo is None:
        raise _invalid(name, "an ISO-8601 time needs a UTC offset, e.g. Z or +00:00")
    return parsed


def parse_date(value: str | None, name: str) -> date | None:
    """A date parameter (YYYY-MM-DD) as a date; None when absent or empty."""
    text = (value or "").strip()
    return _date(text, name) if text else None


def _date(text: str, name: str) -> date:
    if _DATE.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass  # 2024-02-30
    raise _invalid(name, "expected a date, YYYY-MM-DD")


def date_range(start: str | None, end: str | None) -> tuple[date | None, date | None]:
    """Parsed `from` and `to` dates; 422 when `from` is not before `to`."""
    lo, hi = parse_date(start, "from"), parse_date(end, "to")
    if lo is not None and hi is not None and lo >= hi:
        raise _invalid("from", "`from` must be before `to`")
    return lo, hi


def parse_as_of(value: str | None) -> int | None:
    """`as_of` as the last ns since the epoch that counts (inclusive): an instant's own, the
    last ns of a date's day in UTC; None (no bound) when absent or empty. Outside 0 to
    2**63 - 1 it is the nearest of -1 (nothing is known yet) and 2**63 - 1 (everything is)."""
    text = (value or "").strip()
    if not text:
        return None
    if _DATE.fullmatch(text):
        days = (_date(text, "as_of") - EPOCH.date()).days
        ns = (days + 1) * _DAY_NS - 1
    elif text.lstrip("-").isdigit():
        ns = int(text)
        if not 0 <= ns <= INT64_MAX:
            raise _invalid("as_of", "nanoseconds must be between 0 and 2**63 - 1")
    else:
        moment = _in_utc(parse_time(text, "as_of"))
        assert moment is not None  # text is not empty
        ns = (moment - EPOCH) // timedelta(microseconds=1) * 1000
    return min(max(ns, -1), INT64_MAX)


def time_range(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    """Parsed `from` and `to` in UTC; 422 when `from` is not before `to`."""
    lo, hi = parse_time(start, "from"), parse_time(end, "to")
    if lo is not None and hi is not None and lo >= hi:
        raise _invalid("from", "`from` must be before `to`")
    return _in_utc(lo), _in_utc(hi)


def _in_utc(moment: datetime | None) -> datetime | None:
    """`moment` in UTC; one that is before year 1 or after 9999 there (0001-01-01T00:00+01:00)
    becomes the first or last datetime, the same bound for records of 1970 to 2262."""
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        edge = datetime.min if moment.year == 1 else datetime.max
        return edge.replace(tzinfo=UTC)


def encode_cursor(key: list[Any]) -> str:
    """An opaque, URL-safe token for the sort key of a page's last item."""
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def cursor_query(*example_key: int | str) -> Any:
    """The `cursor` parameter of a route whose sort key is the time and then `example_key`'s
    kind of values: the example /docs offers is a cursor of that route (µs of EXAMPLE_TIME,
    then `example_key`), one it accepts."""
    return keyed_cursor_query(EXAMPLE_NS // 1000, *example_key)


def keyed_cursor_query(*example_key: int | str) -> Any:
    """The `cursor` parameter of a route whose sort key is `example_key`'s kind of values
    (the time not first, or not in it): /docs offers the cursor of `example_key`."""
    return Query(description="`next_cursor` of the previous page",
                 openapi_examples=examples(next_page=encode_cursor(list(example_key))))


def decode_cursor(cursor: str | None, types: tuple[type, ...]) -> list[Any] | None:
    """The sort key in a cursor, checked against the expected element types; 422 if bad."""
    if not cursor:
        return None  # absent or empty: the first page
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise _invalid("cursor", "not a cursor returned by this route") from None
    if not isinstance(key, list) or len(key) != len(types) or not all(
        isinstance(v, t) and not isinstance(v, bool) and not (isinstance(v, str) and "\x00" in v)
        for v, t in zip(key, types, strict=True)
    ):
        raise _invalid("cursor", "not a cursor returned by this route")
    return key


def cursor_date(value: str) -> date:
    """A date a cursor carries (ISO); 422 when it is not one."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _invalid("cursor", "not a cursor returned by this route") from None


def cursor_time(value: int) -> datetime:
    """A time a cursor carries (µs since the epoch); 422 when it is past the calendar."""
    try:
        return from_micros(value)
    except OverflowError:
        raise _invalid("cursor", "not a cursor returned by this route") from None


def _invalid(name: str, message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [{"loc": ["query", name], "msg": message, "type": "value_error"}],
    )


def micros(moment: datetime) -> int:
    """µs since the epoch: how cursors carry a `time`."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def page_of(item: type[T], rows: list[dict[str, Any]], limit: int, key: Any) -> Page[T]:
    """The page of the first `limit` rows as `item`s, with the cursor after the last one when
    more rows exist (queries fetch `limit + 1`); `key(row)` is the row's sort key as a JSON list.
    The rows are validated in one call into pydantic's core, not one model at a time."""
    kept, next_cursor = rows, None
    if len(rows) > limit:
        kept = rows[:limit]
        next_cursor = encode_cursor(key(kept[-1]))
    return Page[item].model_validate({"data": kept, "next_cursor": next_cursor})  # type: ignore[valid-type]


async def require_symbol(conn: ConnectionDep, symbol: str) -> None:
    """404 unless the database holds data for `symbol`."""
    if not await market.symbol_exists(conn, symbol):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown symbol {symbol!r}")


async def require_account(conn: ConnectionDep, account: str) -> None:
    """404 unless the database holds a row of `account` (see `UNKNOWN_ACCOUNT`)."""
    if not await accounts.account_known(conn, account):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown account {account!r}")
