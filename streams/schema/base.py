"""The base of every wire model: event time, init time and a schema version."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from streams.schema.storage import Stored

INT64_MAX = 2**63 - 1
NonNegativeNs = Annotated[StrictInt, Field(ge=0, le=INT64_MAX)]
# An instrument's name on our topics (their key): the one definition of a valid symbol.
SYMBOL_PATTERN = r"^[A-Za-z0-9._:/^-]{1,64}$"
Symbol = Annotated[str, Field(pattern=SYMBOL_PATTERN)]
# Prices travel as decimal strings so nothing is lost between venue and database.
Price = Annotated[Decimal, Field(allow_inf_nan=False)]
Money = Annotated[Decimal, Field(allow_inf_nan=False)]
PositiveSize = Annotated[StrictInt, Field(gt=0)]
NonNegativeSize = Annotated[StrictInt, Field(ge=0)]


class Event(BaseModel):
    """Every record on every topic.

    `ts_event`: ns since the epoch when the thing happened (at the venue, or the event time an
    engine's result refers to). `ts_init`: ns when this system created the object.
    `schema_version` is the model's version; readers reject versions they do not know.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", ser_json_inf_nan="null")

    SCHEMA_VERSION: ClassVar[int] = 1
    STORED: ClassVar[Stored | None] = None  # how it is stored; None: not stored

    schema_version: Annotated[StrictInt, Field(ge=1)] = 1
    ts_event: NonNegativeNs
    ts_init: NonNegativeNs

    def model_post_init(self, context: object, /) -> None:
        if self.schema_version > self.SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {self.schema_version} is newer than this reader's "
                f"{type(self).__name__} v{self.SCHEMA_VERSION}"
            )
