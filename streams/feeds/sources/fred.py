"""FRED (St. Louis Fed): series observations with every vintage, onto market.macro.

One request per page of `fred/series/observations` (file_type=json), asking for the whole
real-time range (realtime_start=1776-07-04, realtime_end=9999-12-31) with output_type=1
("observations by real-time period"): each row is one value of one period (`date`) and the
real-time period it held in, so a revised value comes as a second row with a later
`realtime_start`, and becomes a second record, never an overwrite. Rows whose value is "."
(FRED's missing value) give no record and are counted. Pages follow limit/offset until the
response's `count`; a page that is malformed, a count that changes between pages, or fewer
rows than the count make the series fail, and nothing of it is published.

ts_event is the start (00:00 UTC) of `realtime_start`, the day FRED first had the value:
FRED's API gives release dates but no release times, so the day is what is documented (a
value released at 8:30 New York time is thus seen from midnight UTC of that day by replays;
nothing is seen a day early). Vintages before 1970 (ALFRED keeps a few) are dated at the
epoch, ts_event 0, the earliest the wire allows.

`--since D` (observation_start) limits the periods, never the vintages: asking FRED for a
later realtime_start would report older values as if first known then.

Configuration: FRED_API_KEY (required; https://fred.stlouisfed.org/docs/api/api_key.html),
NAUTILUS_FRED_SERIES_FILE (the default series; fred_series.yaml at the repository root),
NAUTILUS_FRED_URL and NAUTILUS_FRED_PAGE_SIZE. FRED allows 120 requests a minute per key.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from streams.exceptions import ConfigError
from streams.feeds.sources.base import Fetched, Source, SourceConfig, SourceRecord
from streams.feeds.sources.exceptions import PayloadError
from streams.feeds.sources.http import HttpFetcher, Page, next_offset, paginate
from streams.schema import MacroObservation

SHIPPED_SERIES_FILE = Path(__file__).resolve().parents[3] / "fred_series.yaml"
SERIES_ID = re.compile(r"[A-Za-z0-9_]{1,64}")
MISSING = "."  # FRED's value of an observation it has no number for
FIRST_REALTIME = "1776-07-04"  # FRED's earliest and latest real-time dates: every vintage
LAST_REALTIME = "9999-12-31"
MAX_PAGE_SIZE = 100_000  # FRED's largest `limit`
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


class _Observation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    realtime_start: dt.date
    date: dt.date
    value: str


class _ObservationsPage(BaseModel):
    """The documented JSON of fred/series/observations (fields we do not use ignored)."""

    model_config = ConfigDict(extra="ignore")

    count: int = Field(ge=0)
    observations: list[_Observation]


class FredSource(Source[FredConfig]):
    """Series observations of FRED/ALFRED, every vintage, onto market.macro."""

    name = "fred"
    topic = "market.macro"
    config_model = FredConfig
    requests_per_s: ClassVar[float] = 115 / 60  # FRED: 120 a minute per key
    burst: ClassVar[int] = 5

    def __init__(self, config: FredConfig, http: HttpFetcher) -> None:
        super().__init__(config, http)
        self.series = load_series(config.series_file)
        self._units = {s.id: s.unit for s in self.series}

    def items(self) -> list[str]:
        return [s.id for s in self.series]

    def fetch(self, item: str, *, since: dt.date | None, ts_init: int) -> Fetched:
        rows = _SeriesPages(self, item, since).rows()
        records: list[SourceRecord] = []
        missing = 0
        for row in rows:
            if row.value.strip() == MISSING:
                missing += 1
                continue
            records.append(self._record(item, row, ts_init))
        return Fetched(item, records, missing)

    def _record(self, item: str, row: _Observation, ts_init: int) -> MacroObservation:
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

    def page(self, item: str, since: dt.date | None, offset: int) -> _ObservationsPage:
        """One page of the series' observations, every vintage, from `offset` on."""
        params = {"series_id": item, "file_type": "json", "output_type": "1",
                  "realtime_start": FIRST_REALTIME, "realtime_end": LAST_REALTIME,
                  "sort_order": "asc", "limit": str(self.config.page_size),
                  "offset": str(offset)}
        if since is not None:
            params["observation_start"] = since.isoformat()
        what = f"FRED {item} (offset {offset})"
        response = self.http.get(f"{self.config.url.rstrip('/')}/series/observations", params,
                                 secret_params={"api_key": self.config.api_key.get_secret_value()})
        try:
            return _ObservationsPage.model_validate(response.json(what))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PayloadError(f"{what}: malformed payload: {where}: {first['msg']}") from None


class _SeriesPages:
    """Every row of one series, page by page; a PayloadError when the pages do not add up to
    the count they report, or repeat rows."""

    def __init__(self, source: FredSource, item: str, since: dt.date | None) -> None:
        self._source, self._item, self._since = source, item, since
        self._count: int | None = None

    def rows(self) -> list[_Observation]:
        rows = list(paginate(self._page, 0))
        if len(rows) != self._count:
            raise PayloadError(f"FRED {self._item}: {len(rows)} observations received, the "
                               f"count says {self._count} (partial payload)")
        if len({(r.date, r.realtime_start) for r in rows}) != len(rows):
            raise PayloadError(f"FRED {self._item}: pages repeat observations (an offset "
                               "ignored?), so others are missing")
        return rows

    def _page(self, offset: int) -> Page[int, _Observation]:
        body = self._source.page(self._item, self._since, offset)
        if self._count is None:
            self._count = body.count
        elif body.count != self._count:
            raise PayloadError(f"FRED {self._item}: the count changed from {self._count} to "
                               f"{body.count} between pages (updated meanwhile: poll again)")
        what = f"FRED {self._item}"
        return Page(body.observations,
                    next_offset(offset, len(body.observations), body.count, what))


def known_from_ns(realtime_start: dt.date) -> int:
    """ts_event of a vintage: 00:00 UTC of its first day, in ns (0 before 1970)."""
    return max(0, (realtime_start - EPOCH).days * NS_PER_DAY)


SOURCE = FredSource
