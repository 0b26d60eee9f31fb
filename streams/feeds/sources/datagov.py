"""Data.gov: the U.S. Treasury's Average Interest Rates on U.S. Treasury Securities (Fiscal Data,
api.fiscaldata.treasury.gov, listed on data.gov), onto market.macro.

One dataset, `v2/accounting/od/avg_interest_rates`: each month-end `record_date`, the average
rate (percent) the Treasury pays on each kind of security (`security_desc`: Treasury Bills,
Treasury Notes, Total Marketable, ...). An item is one `security_desc`; its series is
`avg_interest_rates/<security_desc>` and its records are one per month, dated the month's
first day (`date`), the value "avg_interest_rate_amt" (the string "null": missing, counted).

Pages: `page[number]` from 1 with `page[size]` rows, until `meta.total-pages`; the rows must add
up to `meta.total-count`, the same on every page, with no month twice, or the item fails and
nothing of it is published.

Vintages: Fiscal Data keeps none and gives no publication date. The month's figures come with
the Monthly Statement of the Public Debt, published on the fourth business day of the next
month: the 7th at the latest (a Saturday 1st and a Monday holiday). Fiscal Data's dataset
page agrees: data through 06/30/2024, "Last Updated 07/05/2024", the fourth business day
after the 4 July holiday. So a record's
`realtime_start` is `record_date` + 7 days, the 7th, and its ts_event the end of that day, UTC
(as FRED's vintages): conservative, up to a few days late, never early. A month whose
ts_event is still ahead of the fetch is left for a later poll, so nothing on the log is dated
in the future of when it was fetched.

Configuration: NAUTILUS_DATAGOV_SECURITIES (comma-separated `security_desc` values, e.g.
`Treasury Bills,Treasury Notes,Total Marketable`; unset: the source is off; no key needed),
NAUTILUS_DATAGOV_URL, NAUTILUS_DATAGOV_PAGE_SIZE. No documented rate limit: at most two
requests a second.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streams.feeds.sources.base import Fetched, Source, SourceConfig, SourceRecord
from streams.feeds.sources.exceptions import PayloadError
from streams.feeds.sources.parsing import SPLIT_COMMAS, day_end_ns, validated
from streams.schema import MacroObservation

DATASET = "avg_interest_rates"
PATH = "/services/api/fiscal_service/v2/accounting/od/avg_interest_rates"
MISSING = "null"  # Fiscal Data's value of a field it has no number for
PUBLICATION_LAG = dt.timedelta(days=7)  # month end to the latest 4th business day
MAX_PAGE_SIZE = 10_000
SecurityDesc = Annotated[str, Field(pattern=r"^[A-Za-z0-9 ()\-.&]{1,100}$")]


class DatagovConfig(SourceConfig):
    """Data.gov's variables; the source is off while NAUTILUS_DATAGOV_SECURITIES is unset."""

    securities: Annotated[tuple[SecurityDesc, ...], SPLIT_COMMAS] = Field(
        validation_alias="NAUTILUS_DATAGOV_SECURITIES")
    url: str = Field(default="https://api.fiscaldata.treasury.gov", pattern=r"^https?://",
                     validation_alias="NAUTILUS_DATAGOV_URL")
    page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE,
                           validation_alias="NAUTILUS_DATAGOV_PAGE_SIZE")


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore")

    record_date: dt.date
    security_desc: str
    avg_interest_rate_amt: str


class _Meta(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    total_count: int = Field(ge=0, alias="total-count")
    total_pages: int = Field(ge=0, alias="total-pages")


class _Page(BaseModel):
    """Fiscal Data's documented JSON: `data` rows and `meta` (the rest ignored)."""

    model_config = ConfigDict(extra="ignore")

    data: list[_Row]
    meta: _Meta


class DatagovSource(Source[DatagovConfig]):
    """Monthly average interest rates on U.S. Treasury securities, onto market.macro."""

    name = "datagov"
    topics = ("market.macro",)
    config_model = DatagovConfig
    requests_per_s: ClassVar[float] = 2.0
    burst: ClassVar[int] = 2

    def items(self) -> list[str]:
        return list(self.config.securities)

    def fetch(self, item: str, *, since: dt.date | None, ts_init: int) -> Fetched:
        records: list[SourceRecord] = []
        missing = 0
        for row in self._rows(item, since):
            known = row.record_date + PUBLICATION_LAG
            if day_end_ns(known) > ts_init:
                continue  # not surely published yet: a later poll takes it
            if row.avg_interest_rate_amt.strip() == MISSING:
                missing += 1
                continue
            records.append(self._record(item, row, known, ts_init))
        return Fetched(item, records, missing)

    def _record(self, item: str, row: _Row, known: dt.date, ts_init: int) -> MacroObservation:
        what = f"Data.gov {DATASET} {item} {row.record_date}"
        try:
            value = float(row.avg_interest_rate_amt)
        except ValueError:
            raise PayloadError(f"{what}: value {row.avg_interest_rate_amt!r} is not a "
                               "number") from None
        if not math.isfinite(value):
            raise PayloadError(f"{what}: value {row.avg_interest_rate_amt!r} is not finite")
        try:
            return MacroObservation(
                ts_event=day_end_ns(known), ts_init=ts_init, source=self.name,
                series=f"{DATASET}/{item}", date=row.record_date.replace(day=1),
                realtime_start=known, value=value, unit="percent")
        except ValidationError as exc:
            raise PayloadError(f"{what}: {exc.errors()[0]['msg']}") from None

    def _rows(self, item: str, since: dt.date | None) -> list[_Row]:
        """Every row of the item, page by page; a PayloadError when the pages do not add up."""
        what = f"Data.gov {DATASET} {item}"
        rows: list[_Row] = []
        first = self._page(item, since, 1)
        total_count, total_pages = first.meta.total_count, first.meta.total_pages
        page, number = first, 1
        while True:
            if (page.meta.total_count, page.meta.total_pages) != (total_count, total_pages):
                raise PayloadError(f"{what}: page {number} says {page.meta.total_count} rows in "
                                   f"{page.meta.total_pages} pages, page 1 said {total_count} "
                                   f"in {total_pages} (updated meanwhile: poll again)")
            if not page.data and number <= total_pages:
                raise PayloadError(f"{what}: page {number} of {total_pages} is empty "
                                   "(partial payload)")
            rows += page.data
            if number >= total_pages:
                break
            number += 1
            page = self._page(item, since, number)
        if len(rows) != total_count:
            raise PayloadError(f"{what}: {len(rows)} rows received, total-count says "
                               f"{total_count} (partial payload)")
        if any(r.security_desc != item for r in rows):
            raise PayloadError(f"{what}: rows of another security sent (filter ignored?)")
        if len({r.record_date for r in rows}) != len(rows):
            raise PayloadError(f"{what}: a month comes twice (pages overlap?)")
        return rows

    def _page(self, item: str, since: dt.date | None, number: int) -> _Page:
        filters = f"security_desc:eq:{item}"
        if since is not None:
            filters += f",record_date:gte:{since.isoformat()}"
        params = {"fields": "record_date,security_desc,avg_interest_rate_amt",
                  "filter": filters, "sort": "record_date", "format": "json",
                  "page[number]": str(number), "page[size]": str(self.config.page_size)}
        what = f"Data.gov {DATASET} {item} (page {number})"
        response = self.http.get(f"{self.config.url.rstrip('/')}{PATH}", params)
        return validated(_Page, response.json(what), what)


SOURCE = DatagovSource
