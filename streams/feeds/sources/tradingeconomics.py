"""Trading Economics: historical values of an indicator of a country, onto market.macro.

One documented dataset: `historical/country/{country}/indicator/{indicator}` (JSON: a list of
rows with Country, Category, DateTime, Value, Frequency, HistoricalDataSymbol, LastUpdate),
one request per item, the key as `c`. An item is `country/indicator` as Trading Economics
names them (`united states/gdp growth rate`), which is also the record's series. Rows must be
of that country and indicator, one per period; else the item fails and nothing of it is
published. A null Value gives no record and is counted.

Periods: DateTime is the period's last day; `date` is its first: monthly -> the 1st of the
month, quarterly -> of the quarter, biannual -> of the half, yearly -> 1 January; daily and
weekly rows keep their day. Another frequency fails the item.

Vintages: Trading Economics keeps none, but dates each row's latest change (`LastUpdate`,
UTC): a record's ts_event is that instant and its `realtime_start` that day, so a revised
value (a new LastUpdate) is a new record and an unchanged one is never published twice.

Configuration: TRADINGECONOMICS_API_KEY (required: `key:secret`; unset: the source is off),
NAUTILUS_TRADINGECONOMICS_INDICATORS (comma-separated items), NAUTILUS_TRADINGECONOMICS_URL.
Trading Economics allows one request a second.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from streams.feeds.sources.base import Fetched, Source, SourceConfig, SourceRecord
from streams.feeds.sources.exceptions import PayloadError
from streams.feeds.sources.parsing import SPLIT_COMMAS, validated
from streams.schema import MacroObservation

Item = Annotated[str, Field(pattern=r"^[a-z][a-z .\-]{0,60}/[a-z0-9][a-z0-9 .\-]{0,100}$")]
DEFAULT_INDICATORS = ("united states/gdp growth rate,united states/inflation rate,"
                      "united states/unemployment rate")


class TradingEconomicsConfig(SourceConfig):
    """Trading Economics' variables; the source is off while its key is unset."""

    api_key: SecretStr = Field(validation_alias="TRADINGECONOMICS_API_KEY")
    indicators: Annotated[tuple[Item, ...], SPLIT_COMMAS] = Field(
        default=DEFAULT_INDICATORS, validate_default=True,
        validation_alias="NAUTILUS_TRADINGECONOMICS_INDICATORS")
    url: str = Field(default="https://api.tradingeconomics.com", pattern=r"^https?://",
                     validation_alias="NAUTILUS_TRADINGECONOMICS_URL")


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore")

    Country: str
    Category: str
    DateTime: dt.datetime
    Value: float | None
    Frequency: str
    LastUpdate: dt.datetime


class TradingEconomicsSource(Source[TradingEconomicsConfig]):
    """Historical indicator values of Trading Economics, dated by their last update."""

    name = "tradingeconomics"
    topics = ("market.macro",)
    config_model = TradingEconomicsConfig
    requests_per_s: ClassVar[float] = 1.0

    def items(self) -> list[str]:
        return list(self.config.indicators)

    def fetch(self, item: str, *, since: dt.date | None, ts_init: int) -> Fetched:
        what = f"Trading Economics {item}"
        records: list[SourceRecord] = []
        missing = 0
        seen: set[dt.date] = set()
        for row in self._rows(item, what):
            if f"{row.Country}/{row.Category}".lower() != item:
                raise PayloadError(f"{what}: a row of {row.Country}/{row.Category} sent")
            start = _period_start(row.DateTime.date(), row.Frequency, what)
            if start in seen:
                raise PayloadError(f"{what}: period {row.DateTime.date()} comes twice")
            seen.add(start)
            if since is not None and start < since:
                continue
            if row.Value is None:
                missing += 1
                continue
            records.append(self._record(item, row, start, ts_init, what))
        return Fetched(item, records, missing)

    def _record(self, item: str, row: _Row, start: dt.date, ts_init: int,
                what: str) -> MacroObservation:
        assert row.Value is not None
        if not math.isfinite(row.Value):
            raise PayloadError(f"{what} {start}: value {row.Value!r} is not finite")
        updated = row.LastUpdate.replace(tzinfo=row.LastUpdate.tzinfo or dt.UTC)
        updated = updated.astimezone(dt.UTC)
        ts_event = int(updated.timestamp()) * 1_000_000_000 + updated.microsecond * 1_000
        try:
            return MacroObservation(ts_event=max(0, ts_event), ts_init=ts_init,
                                    source=self.name, series=item, date=start,
                                    realtime_start=updated.date(), value=row.Value)
        except ValidationError as exc:
            raise PayloadError(f"{what} {start}: {exc.errors()[0]['msg']}") from None

    def _rows(self, item: str, what: str) -> list[_Row]:
        country, indicator = item.split("/")
        url = (f"{self.config.url.rstrip('/')}/historical/country/{quote(country, safe='')}"
               f"/indicator/{quote(indicator, safe='')}")
        response = self.http.get(url, {"f": "json"},
                                 secret_params={"c": self.config.api_key.get_secret_value()})
        doc = response.json(what)
        if not isinstance(doc, list):
            raise PayloadError(f"{what}: malformed payload: expected a list of rows")
        if not doc:
            raise PayloadError(f"{what}: no rows (unknown country or indicator, or not in "
                               "this key's plan)")
        return [validated(_Row, row, f"{what} (row {n})") for n, row in enumerate(doc)]


def _period_start(last_day: dt.date, frequency: str, what: str) -> dt.date:
    kind = frequency.strip().lower()
    if kind in ("daily", "weekly"):
        return last_day
    if kind == "monthly":
        return last_day.replace(day=1)
    if kind == "quarterly":
        return dt.date(last_day.year, 3 * ((last_day.month - 1) // 3) + 1, 1)
    if kind == "biannual":
        return dt.date(last_day.year, 6 * ((last_day.month - 1) // 6) + 1, 1)
    if kind in ("yearly", "annual"):
        return dt.date(last_day.year, 1, 1)
    raise PayloadError(f"{what}: unknown frequency {frequency!r} at {last_day}")


SOURCE = TradingEconomicsSource
