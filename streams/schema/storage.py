"""How a wire model is stored: one `Stored` descriptor per stored model, next to its fields.

A model that goes to the database says so once, as `STORED: ClassVar[Stored | None]` on its
class: the table, its natural key (what the sink upserts on), whether it is a hypertable,
its retention class and whether the API's generic list route serves it. The sink's routing
(streams/sink/tables.py), the TimescaleDB policy lists (streams/storage/policy.py), the
schema check after migrating (streams/storage/schema_check.py) and the generic API routes
(api/routes/records.py) follow from it. Migrations stay explicit SQL files: a descriptor
names what the migrations must have created and never creates anything itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TIME_COLUMN = "time"
"""Every stored table's event-time column: a timestamptz, ns truncated to microseconds."""

Retention = Literal["tick", "reading"]
"""Retention classes of streams/storage/policy.Horizons: `tick` for high-volume tables
(NAUTILUS_STORAGE_TICK_RETENTION, and the tick chunk interval), `reading` for derived ones
(NAUTILUS_STORAGE_READING_RETENTION). None on a descriptor keeps rows forever."""


@dataclass(frozen=True, slots=True)
class Stored:
    """Where and how a model's records are stored.

    `table`: the table the sink writes. `key`: its natural key, the primary key or a unique
    key of the table (re-delivered records upsert on it). `hypertable`: TimescaleDB
    partitions the table by `time` (then `time` must be in the key). `retention`: which
    horizon drops old chunks (None: kept forever; only hypertables have one).
    `on_conflict`: `nothing` (a re-delivered record is the same record) or `update` (a later
    version replaces the row). `served`: the API lists it at `api_path` through the generic
    route (models with routes of their own leave it False). `time_from`: the field whose ns
    give the `time` column.
    """

    table: str
    key: tuple[str, ...]
    hypertable: bool = True
    retention: Retention | None = "reading"
    on_conflict: Literal["nothing", "update"] = "nothing"
    served: bool = False
    time_from: str = "ts_event"

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError(f"table {self.table}: a stored model needs a natural key")
        if self.hypertable and TIME_COLUMN not in self.key:
            raise ValueError(f"table {self.table}: a hypertable's key must include "
                             f"{TIME_COLUMN!r} (TimescaleDB's unique indexes do)")
        if self.retention is not None and not self.hypertable:
            raise ValueError(f"table {self.table}: retention drops hypertable chunks; a "
                             "plain table keeps its rows (retention=None)")

    @property
    def api_path(self) -> str:
        """The generic list route's path: `/api/v1/` and the table name, dashes for
        underscores."""
        return f"/api/v1/{self.table.replace('_', '-')}"
