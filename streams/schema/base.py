"""The base of every wire model: event time, init time and a schema version."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

from streams.schema.storage import Stored

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Every int field is held as int64 in columns (streams/schema/columns.py), so each one bounds
# itself to it: a value beyond would pass the model and fail the batch it is in.
Int64 = Annotated[StrictInt, Field(ge=INT64_MIN, le=INT64_MAX)]
NonNegativeNs = Annotated[StrictInt, Field(ge=0, le=INT64_MAX)]
# An instrument's name on our topics (their key): the one definition of a valid symbol.
SYMBOL_PATTERN = r"^[A-Za-z0-9._:/^-]{1,64}$"
Symbol = Annotated[str, Field(pattern=SYMBOL_PATTERN)]
# Free text a venue sends along (trade ids, venue names, condition codes): bounded, so a
# runaway value cannot bloat every row that stores it.
SHORT_TEXT_CHARS = 64
ShortText = Annotated[str, Field(max_length=SHORT_TEXT_CHARS)]


def _finite_as_float64(value: Decimal) -> Decimal:
    """Columns hold prices as float64: a decimal beyond its range would be inf there."""
    if not math.isfinite(float(value)):
        raise ValueError("beyond the range of a float64")
    return value


def _positive_finite_as_float64(value: Decimal) -> Decimal:
    """As `_finite_as_float64`; and a positive decimal too small for a float64 would be 0."""
    if float(_finite_as_float64(value)) == 0:
        raise ValueError("0 as a float64")
    return value


# Prices travel as decimal strings so nothing is lost between venue and database.
Price = Annotated[Decimal, Field(allow_inf_nan=False), AfterValidator(_finite_as_float64)]
# A trade's price: engines downstream take logs and ratios of prices (features' returns),
# and the file feeds refuse non-positive prices too.
PositivePrice = Annotated[Decimal, Field(gt=0, allow_inf_nan=False),
                          AfterValidator(_positive_finite_as_float64)]
Money = Annotated[Decimal, Field(allow_inf_nan=False), AfterValidator(_finite_as_float64)]
NonNegativeMoney = Annotated[Decimal, Field(ge=0, allow_inf_nan=False),
                             AfterValidator(_finite_as_float64)]
PositiveSize = Annotated[StrictInt, Field(gt=0, le=INT64_MAX)]
NonNegativeSize = Annotated[StrictInt, Field(ge=0, le=INT64_MAX)]


class Event(BaseModel):
    """Every record on every topic.

    `ts_event`: ns since the epoch when the thing happened (at the venue, or the event time an
    engine's result refers to). `ts_init`: ns when this system created the object.
    `schema_version` is the model's version; readers reject versions they do not know, and
    fields they do not know: a version's fields are fixed, so an unknown one is a writer's
    mistake (a misspelt optional field would otherwise silently read as its default) or a
    newer writer that did not bump the version.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="null")

    SCHEMA_VERSION: ClassVar[int] = 1
    STORED: ClassVar[Stored | None] = None  # how it is stored; None: not stored
    # fields in which its engine publishes one symbol's records strictly increasing, so a
    # record not after the newest one applied is a re-publication (see runtime/binding.py)
    SEQUENCE: ClassVar[tuple[str, ...] | None] = None

    schema_version: Annotated[StrictInt, Field(ge=1)] = 1
    ts_event: NonNegativeNs
    ts_init: NonNegativeNs

    def model_post_init(self, context: object, /) -> None:
        if self.schema_version > self.SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {self.schema_version} is newer than this reader's "
                f"{type(self).__name__} v{self.SCHEMA_VERSION}"
            )
