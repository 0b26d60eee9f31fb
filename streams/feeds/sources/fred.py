"""FRED (St. Louis Fed): series observations with every vintage, onto market.macro.

Every real-time period of every observation (ALFRED's vintages, read by
`streams.feeds.sources.fred_api`): each row is one value of one period (`date`) as known from
its `realtime_start` on, so a revised value comes as a second row with a later
`realtime_start` and becomes a second record, never an overwrite. Rows whose value is "."
(FRED's missing value) give no record and are counted. A malformed or partial payload makes
the series fail, and nothing of it is published.

ts_event is the end (the last ns, UTC) of `realtime_start`, the day FRED first had the value:
FRED's API gives release dates but no release times, so a record counts as known once its
first real-time day is over. That is conservative, never early: a value released at 8:30 New
York time reaches a replay hours after its release, never before it (dating it at the start
of the day would show it to every bar of that morning before the release: a look-ahead). A
date given as an `as_of` (the API's) is that whole day, so the value is known as of its
`realtime_start`, as ALFRED reads it. Vintages before 1970 (ALFRED keeps a few) are dated at
the epoch, ts_event 0, the earliest the wire allows.

`--since D` (observation_start) limits the periods, never the vintages: asking FRED for a
later realtime_start would report older values as if first known then. A poll of a series
the topic holds asks from the newest vintage held on, and reads the whole history only where
a value valid that day is not held (`fred_api`): a poll with nothing new is two requests a
series.

Configuration: FRED_API_KEY (required; https://fred.stlouisfed.org/docs/api/api_key.html),
NAUTILUS_FRED_SERIES_FILE (the default series; fred_series.yaml at the repository root),
NAUTILUS_FRED_URL, NAUTILUS_FRED_PAGE_SIZE and NAUTILUS_FRED_VINTAGES_PER_REQUEST. FRED
allows 120 requests a minute per key.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import yaml
from pydantic import Field, SecretStr, ValidationError

from streams.exceptions import ConfigError
from streams.feeds.sources.base import Fetched, Source, SourceConfig, SourceRecord
from streams.feeds.sources.exceptions import PayloadError
from streams.feeds.sources.fred_api import (
    MAX_PAGE_SIZE,
    MAX_VINTAGES_PER_REQUEST,
    MISSING,
    FredApi,
    Observation,
)
from streams.feeds.sources.http import HttpFetcher
from streams.schema import MacroObservation

SHIPPED_SERIES_FILE = Path(__file__).resolve().parents[3] / "fred_series.yaml"
SERIES_ID = re.compile(r"[A-Za-z0-9_]{1,64}")
NS_PER_DAY = 86_400 * 1_000_000_000
EPOCH = dt.date(1970, 1, 1)


class FredConfig(SourceConfig):
    """FRED's variables; the source is off while FRED_API_KEY is unset."""

    api_key: SecretStr = Field(validation_alias="FRED_API_KEY")
    series_file: Path = Field(default=SHIPPED_SERIES_FILE,
                              validation_alias="NAUTILUS_FRED_SERIES_FILE")
    url: str = Field(default="https://api.stlouisfed.org/fred", pattern=r"^https?://",
                     validation_alias="NAUTILUS_FRED_URL")
    page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE,
                           validation_alias="NAUTILUS_FRED_PAGE_SIZE")
    vintages_per_request: int = Field(default=MAX_VINTAGES_PER_REQUEST, ge=1,
                                      le=MAX_VINTAGES_PER_REQUEST,
                                      validation_alias="NAUTILUS_FRED_VINTAGES_PER_REQUEST")


@dataclass(frozen=True, slots=True)
class FredSeries:
    """One entry of the series file."""

    id: str
    group: str
    title: str
    unit: str | None


def load_series(path: Path) -> list[FredSeries]:
    """The series file: groups, each a list of {id, title, unit}; a ConfigError naming the
    file and the entry that is wrong."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"FRED series file {path}: {exc}") from None
    if not isinstance(doc, dict) or not doc:
        raise ConfigError(f"FRED series file {path}: expected groups, each a list of series")
    series: list[FredSeries] = []
    for group, entries in doc.items():
        if not isinstance(entries, list):
            raise ConfigError(f"FRED series file {path}: group {group!r} is not a list")
        series += [_entry(path, str(group), entry) for entry in entries]
    seen: set[str] = set()
    for s in series:
        if s.id in seen:
            raise ConfigError(f"FRED series file {path}: {s.id} is listed twice")
        seen.add(s.id)
    return series


def _entry(path: Path, group: str, entry: object) -> FredSeries:
    if not isinstance(entry, dict) or not SERIES_ID.fullmatch(str(entry.get("id", ""))):
        raise ConfigError(f"FRED series file {path}, group {group}: {entry!r} needs an `id` "
                          "of letters, digits and underscores")
    unit = entry.get("unit")
    if unit is not None and not (isinstance(unit, str) and 0 < len(unit) <= 64):
        raise ConfigError(f"FRED series file {path}: {entry['id']}: `unit` must be text of "
                          "at most 64 characters")
    return FredSeries(str(entry["id"]), group, str(entry.get("title", "")), unit)


class FredSource(Source[FredConfig]):
    """Series observations of FRED/ALFRED, every vintage, onto market.macro."""

    name = "fred"
    topics = ("market.macro",)
    config_model = FredConfig
    requests_per_s: ClassVar[float] = 115 / 60  # FRED: 120 a minute per key
    burst: ClassVar[int] = 5

    def __init__(self, config: FredConfig, http: HttpFetcher) -> None:
        super().__init__(config, http)
        self.series = load_series(config.series_file)
        self._units = {s.id: s.unit for s in self.series}
        self._held: dict[str, dict[dt.date, float]] = {}  # series -> period -> newest value
        self._newest: dict[str, dt.date] = {}  # series -> its newest vintage held
        self._api = FredApi(http, config.url, config.api_key.get_secret_value(),
                            page_size=config.page_size,
                            vintages_per_request=config.vintages_per_request)

    def items(self) -> list[str]:
        return [s.id for s in self.series]

    def resume(self, held: Mapping[tuple[str, dt.date], tuple[dt.date, float]]) -> None:
        self._held, self._newest = {}, {}
        for (series, date), (realtime_start, value) in held.items():
            self._held.setdefault(series, {})[date] = value
            self._newest[series] = max(self._newest.get(series, realtime_start),
                                       realtime_start)

    def fetch(self, item: str, *, since: dt.date | None, ts_init: int) -> Fetched:
        records: list[SourceRecord] = []
        missing = 0
        for row in self._api.observations(item, since, realtime_from=self._newest.get(item),
                                          held=self._held.get(item)):
            if row.value.strip() == MISSING:
                missing += 1
                continue
            records.append(self._record(item, row, ts_init))
        return Fetched(item, records, missing)

    def _record(self, item: str, row: Observation, ts_init: int) -> MacroObservation:
        what = f"FRED {item} {row.date} (vintage {row.realtime_start})"
        try:
            value = float(row.value)
        except ValueError:
            raise PayloadError(f"{what}: value {row.value!r} is not a number") from None
        if not math.isfinite(value):
            raise PayloadError(f"{what}: value {row.value!r} is not finite")
        try:
            return MacroObservation(
                ts_event=known_from_ns(row.realtime_start), ts_init=ts_init, source=self.name,
                series=item, date=row.date, realtime_start=row.realtime_start, value=value,
                unit=self._units.get(item))
        except ValidationError as exc:
            raise PayloadError(f"{what}: {exc.errors()[0]['msg']}") from None


def known_from_ns(realtime_start: dt.date) -> int:
    """ts_event of a vintage: the last ns (UTC) of its first day (0 before 1970)."""
    return max(0, (realtime_start - EPOCH).days * NS_PER_DAY + NS_PER_DAY - 1)


SOURCE = FredSource
