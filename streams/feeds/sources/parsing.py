"""What the sources share when they read a payload: validation against a model of the
documented format, dates to ts_event, the start day of a period, lists in one variable.

Sources without vintages (DBnomics, Yahoo, Data.gov, Trading Economics) state in their module
what their `realtime_start` is. As FRED's, a record known on a day without a time is dated at
the end of that day, UTC (`day_end_ns`): late, never early; a provider's own time of the
change (DBnomics' indexed_at, Trading Economics' LastUpdate) is used as it is.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TypeVar

from pydantic import BaseModel, BeforeValidator, ValidationError

from streams.feeds.sources.exceptions import PayloadError

M = TypeVar("M", bound=BaseModel)
NS_PER_DAY = 86_400 * 1_000_000_000
EPOCH = dt.date(1970, 1, 1)
_PERIOD = re.compile(r"(?P<year>\d{4})(?:-(?:(?P<month>\d{2})(?:-(?P<day>\d{2}))?"
                     r"|Q(?P<quarter>[1-4])|S(?P<half>[12])|W(?P<week>\d{2})))?")


def validated(model: type[M], doc: object, what: str) -> M:
    """`doc` as `model`; a PayloadError naming `what` and the first field that is wrong."""
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise PayloadError(f"{what}: malformed payload: {where}: {first['msg']}") from None


def day_start_ns(day: dt.date) -> int:
    """00:00 UTC of `day` in ns since the epoch (0 before 1970, the earliest the wire allows)."""
    return max(0, (day - EPOCH).days * NS_PER_DAY)


def day_end_ns(day: dt.date) -> int:
    """The last ns (UTC) of `day`: when a value known on that day, at an unknown time, surely
    was (0 before 1970)."""
    return max(0, (day - EPOCH).days * NS_PER_DAY + NS_PER_DAY - 1)


def period_start(period: str) -> dt.date:
    """The first day of a period written as DBnomics (ISO 8601 and SDMX) write them: `2023`,
    `2023-S2`, `2023-Q1`, `2023-01`, `2023-W05` (ISO week: its Monday), `2023-01-15`.
    A ValueError for any other text."""
    match = _PERIOD.fullmatch(period.strip())
    if match is None:
        raise ValueError(f"unknown period {period!r}")
    year = int(match["year"])
    if match["day"] is not None:
        return dt.date(year, int(match["month"]), int(match["day"]))
    if match["month"] is not None:
        return dt.date(year, int(match["month"]), 1)
    if match["quarter"] is not None:
        return dt.date(year, 3 * int(match["quarter"]) - 2, 1)
    if match["half"] is not None:
        return dt.date(year, 6 * int(match["half"]) - 5, 1)
    if match["week"] is not None:
        return dt.date.fromisocalendar(year, int(match["week"]), 1)
    return dt.date(year, 1, 1)


def _comma_list(value: object) -> object:
    if not isinstance(value, str):
        return value
    entries = tuple(part.strip() for part in value.split(",") if part.strip())
    if not entries:
        raise ValueError("expected comma-separated entries, got none")
    return entries


SPLIT_COMMAS = BeforeValidator(_comma_list)
"""Reads a tuple config field from one variable of comma-separated entries (`A,B, C`):
`Annotated[tuple[str, ...], SPLIT_COMMAS]`."""
