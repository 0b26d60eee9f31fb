"""DBnomics: any series by `provider/dataset/series` code, onto market.macro.

One request per series to the documented Web API v22,
`series/{provider}/{dataset}/{series}?observations=1&format=json&metadata=false`, whose
`series.docs` must hold exactly that one series with as many `value`s as `period`s; anything
else (another series, a mask matching several, arrays of different lengths, a period or value
that is not one) fails the series, and nothing of it is published. Each period becomes its
first day (`2023` -> 2023-01-01, `2023-Q2` -> 2023-04-01, `2023-01`, `2023-W05` -> its Monday,
`2023-S2`, `2023-01-15`); `--since` keeps periods from that day on. "NA" values (DBnomics'
not-available, kept as the provider sent them) give no record and are counted.

Vintages: DBnomics keeps none, only the latest values. A record's `realtime_start` is the UTC
date of the series' `indexed_at` (when DBnomics last indexed it) and its ts_event is that
instant: the earliest time we can prove the value was public. So history fetched today is
seen by replays only from its indexing on (conservative, never early). A re-indexed series
comes again as a new vintage of every period, revised or not; publishing keeps only the
periods whose value changed (`poll.Known`).

Configuration: NAUTILUS_DBNOMICS_SERIES (comma-separated series codes, e.g.
`AMECO/ZUTN/EA19.1.0.0.0.ZUTN`; unset: the source is off) and NAUTILUS_DBNOMICS_URL. DBnomics
needs no key and documents no rate limit: we ask at most twice a second.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streams.feeds.sources.base import Fetched, Source, SourceConfig, SourceRecord
from streams.feeds.sources.exceptions import PayloadError
from streams.feeds.sources.parsing import SPLIT_COMMAS, period_start, validated
from streams.schema import MacroObservation

NOT_AVAILABLE = "NA"
SeriesCode = Annotated[str, Field(pattern=r"^[^/\s]+/[^/\s]+/[^/\s]+$")]


class DbnomicsConfig(SourceConfig):
    """DBnomics' variables; the source is off while NAUTILUS_DBNOMICS_SERIES is unset."""

    series: Annotated[tuple[SeriesCode, ...], SPLIT_COMMAS] = Field(
        validation_alias="NAUTILUS_DBNOMICS_SERIES")
    url: str = Field(default="https://api.db.nomics.world/v22", pattern=r"^https?://",
                     validation_alias="NAUTILUS_DBNOMICS_URL")


class _SeriesDoc(BaseModel):
    model_config = ConfigDict(extra="ignore")

    provider_code: str
    dataset_code: str
    series_code: str
    indexed_at: dt.datetime
    period: list[str]
    value: list[float | str]


class _SeriesList(BaseModel):
    model_config = ConfigDict(extra="ignore")

    num_found: int = Field(ge=0)
    docs: list[_SeriesDoc]


class _SeriesResponse(BaseModel):
    """The documented JSON of `series/{provider}/{dataset}/{series}` (the rest ignored)."""

    model_config = ConfigDict(extra="ignore")

    series: _SeriesList


class DbnomicsSource(Source[DbnomicsConfig]):
    """Latest values of DBnomics series, dated from their indexing, onto market.macro."""

    name = "dbnomics"
    topics = ("market.macro",)
    config_model = DbnomicsConfig
    requests_per_s: ClassVar[float] = 2.0
    burst: ClassVar[int] = 2

    def items(self) -> list[str]:
        return list(self.config.series)

    def fetch(self, item: str, *, since: dt.date | None, ts_init: int) -> Fetched:
        what = f"DBnomics {item}"
        doc = self._series(item, what)
        if doc.indexed_at.tzinfo is None:
            raise PayloadError(f"{what}: indexed_at {doc.indexed_at} has no time zone")
        known_at = doc.indexed_at.astimezone(dt.UTC)
        ts_event = int(known_at.timestamp()) * 1_000_000_000 + known_at.microsecond * 1_000
        records: list[SourceRecord] = []
        missing = 0
        seen: set[dt.date] = set()
        for period, value in zip(doc.period, doc.value, strict=True):
            try:
                day = period_start(period)
            except ValueError as exc:
                raise PayloadError(f"{what}: {exc}") from None
            if day in seen:
                raise PayloadError(f"{what}: period {period!r} comes twice")
            seen.add(day)
            if since is not None and day < since:
                continue
            if value == NOT_AVAILABLE:
                missing += 1
                continue
            if isinstance(value, str) or not math.isfinite(value):
                raise PayloadError(f"{what} {period}: value {value!r} is not a number")
            try:
                records.append(MacroObservation(
                    ts_event=ts_event, ts_init=ts_init, source=self.name, series=item,
                    date=day, realtime_start=known_at.date(), value=value))
            except ValidationError as exc:
                raise PayloadError(f"{what} {period}: {exc.errors()[0]['msg']}") from None
        return Fetched(item, records, missing)

    def _series(self, item: str, what: str) -> _SeriesDoc:
        provider, dataset, code = item.split("/")
        url = "/".join([self.config.url.rstrip("/"), "series",
                        *(quote(part, safe="") for part in (provider, dataset, code))])
        response = self.http.get(url, {"observations": "1", "format": "json",
                                       "metadata": "false"})
        body = validated(_SeriesResponse, response.json(what), what)
        found = [(d.provider_code, d.dataset_code, d.series_code) for d in body.series.docs]
        if body.series.num_found != 1 or found != [(provider, dataset, code)]:
            raise PayloadError(f"{what}: expected that one series, got {body.series.num_found} "
                               f"found and {['/'.join(f) for f in found]} sent")
        doc = body.series.docs[0]
        if len(doc.period) != len(doc.value):
            raise PayloadError(f"{what}: {len(doc.period)} periods but {len(doc.value)} values "
                               "(partial payload)")
        return doc


SOURCE = DbnomicsSource
