"""The Data.gov source (Treasury average interest rates on Fiscal Data) against the fake Fiscal
Data API: page[number]/page[size] up to meta.total-pages, "null" counted, the publication lag
(known at the end of the 7th of the next month),
malformed and partial pages, config."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from streams.feeds.sources.base import Source, read_config
from streams.feeds.sources.datagov import DatagovSource
from streams.feeds.sources.exceptions import PayloadError
from streams.schema import MacroObservation
from tests.streams.feeds.sources.fake_macro import FISCAL_PATH, FakeFiscalData, source_from

NS_PER_DAY = 86_400 * 10**9
FEB_5 = (dt.date(2024, 2, 5) - dt.date(1970, 1, 1)).days * NS_PER_DAY


@pytest.fixture
def fake() -> Iterator[FakeFiscalData]:
    with FakeFiscalData() as server:
        server.add("Treasury Bills", "2023-10-31", "5.432")
        server.add("Treasury Notes", "2023-10-31", "2.611")
        server.add("Treasury Bills", "2023-11-30", "null")
        server.add("Treasury Bills", "2023-12-31", "5.300")
        server.add("Treasury Bills", "2024-01-31", "5.250")  # known at the end of Feb 7
        yield server


def datagov(fake: FakeFiscalData, page_size: int = 2) -> Source:
    return source_from(DatagovSource, {"NAUTILUS_DATAGOV_SECURITIES": "Treasury Bills",
                                       "NAUTILUS_DATAGOV_URL": fake.url,
                                       "NAUTILUS_DATAGOV_PAGE_SIZE": str(page_size)})


def test_pages_are_walked_to_the_last_and_each_month_is_known_7_days_after_its_end(
        fake: FakeFiscalData) -> None:
    fetched = datagov(fake).fetch("Treasury Bills", since=None, ts_init=FEB_5)

    assert fetched.records == [
        MacroObservation(ts_event=(known - dt.date(1970, 1, 1)).days * NS_PER_DAY
                         + NS_PER_DAY - 1,
                         ts_init=FEB_5, source="datagov",
                         series="avg_interest_rates/Treasury Bills", date=month,
                         realtime_start=known, value=value, unit="percent")
        for month, known, value in ((dt.date(2023, 10, 1), dt.date(2023, 11, 7), 5.432),
                                    (dt.date(2023, 12, 1), dt.date(2024, 1, 7), 5.3))]
    assert fetched.missing == 1
    assert [(r.path, r.params["page[number]"], r.params["page[size]"], r.params["filter"],
             r.params["sort"]) for r in fake.requests] == [
        (FISCAL_PATH, "1", "2", "security_desc:eq:Treasury Bills", "record_date"),
        (FISCAL_PATH, "2", "2", "security_desc:eq:Treasury Bills", "record_date")]


def test_since_filters_on_the_record_date(fake: FakeFiscalData) -> None:
    fetched = datagov(fake).fetch("Treasury Bills", since=dt.date(2023, 12, 1), ts_init=FEB_5)

    assert [r.date for r in fetched.records] == [dt.date(2023, 12, 1)]
    assert fake.requests[0].params["filter"] == ("security_desc:eq:Treasury Bills,"
                                                 "record_date:gte:2023-12-01")


def _on_page(number: int, change):  # type: ignore[no-untyped-def]
    def tamper(doc: dict) -> dict:
        if f"page%5Bnumber%5D={number}&" in doc["links"]["self"]:
            change(doc)
        return doc
    return tamper


@pytest.mark.parametrize(("tamper", "error"), [
    (_on_page(2, lambda doc: doc.update(data=[])), r"page 2 of 2 is empty \(partial payload\)"),
    (_on_page(2, lambda doc: doc["meta"].update({"total-count": 5})),
     r"page 2 says 5 rows in 2 pages, page 1 said 4 in 2"),
    (_on_page(1, lambda doc: doc["data"].pop()), r"3 rows received, total-count says 4"),
    (_on_page(2, lambda doc: doc["data"][0].pop("record_date")),
     r"\(page 2\): malformed payload: data.0.record_date: Field required"),
    (_on_page(1, lambda doc: doc["data"][0].update(avg_interest_rate_amt="5,4")),
     r"2023-10-31: value '5,4' is not a number"),
    (_on_page(2, lambda doc: doc["data"][0].update(security_desc="Treasury Notes")),
     r"rows of another security sent"),
    (_on_page(2, lambda doc: doc["data"][1].update(record_date="2023-10-31")),
     r"a month comes twice"),
])
def test_a_malformed_or_partial_page_fails_the_security(fake: FakeFiscalData, tamper,  # type: ignore[no-untyped-def]
                                                        error: str) -> None:
    fake.tamper["Treasury Bills"] = tamper

    with pytest.raises(PayloadError, match=rf"Data.gov avg_interest_rates Treasury Bills.*{error}"):
        datagov(fake).fetch("Treasury Bills", since=None, ts_init=FEB_5)


def test_without_securities_datagov_is_off() -> None:
    assert read_config(DatagovSource, {}) == "NAUTILUS_DATAGOV_SECURITIES not set"
