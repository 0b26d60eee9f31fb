"""The Trading Economics source against the fake (historical by country and indicator):
periods to their first day by frequency, LastUpdate as the vintage, null values counted,
the key kept secret, malformed rows, config."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from streams.feeds.sources.base import Source, read_config
from streams.feeds.sources.exceptions import FetchError, PayloadError
from streams.feeds.sources.poll import natural_key
from streams.feeds.sources.tradingeconomics import TradingEconomicsSource
from streams.schema import MacroObservation
from tests.streams.feeds.sources.fake_macro import TE_KEY, FakeTradingEconomics, source_from

GDP = "united states/gdp growth rate"


def _ns(when: str) -> int:
    return int(dt.datetime.fromisoformat(when).replace(tzinfo=dt.UTC).timestamp()) * 10**9


@pytest.fixture
def fake() -> Iterator[FakeTradingEconomics]:
    with FakeTradingEconomics() as server:
        server.add("United States", "GDP Growth Rate", "2023-09-30", 4.9, "Quarterly",
                   "2023-12-21T13:30:00")
        server.add("United States", "GDP Growth Rate", "2023-12-31", None, "Quarterly",
                   "2024-01-25T13:30:00")
        server.add("United States", "Inflation Rate", "2024-01-31", 3.1, "Monthly",
                   "2024-02-13T13:30:00")
        server.add("United States", "Inflation Rate", "2023-12-31", 3.4, "Monthly",
                   "2024-01-11T13:30:00")
        yield server


def te(fake: FakeTradingEconomics, key: str = TE_KEY) -> Source:
    return source_from(TradingEconomicsSource, {"TRADINGECONOMICS_API_KEY": key,
                                                "NAUTILUS_TRADINGECONOMICS_URL": fake.url})


def test_rows_are_dated_by_their_last_update_and_null_is_counted(
        fake: FakeTradingEconomics) -> None:
    fetched = te(fake).fetch(GDP, since=None, ts_init=7)

    assert fetched.records == [MacroObservation(
        ts_event=_ns("2023-12-21T13:30:00"), ts_init=7, source="tradingeconomics", series=GDP,
        date=dt.date(2023, 7, 1), realtime_start=dt.date(2023, 12, 21), value=4.9)]
    assert fetched.missing == 1
    assert [(r.path, r.params) for r in fake.requests] == [
        ("/historical/country/united states/indicator/gdp growth rate",
         {"c": TE_KEY, "f": "json"})]


def test_monthly_periods_start_on_the_first_and_since_keeps_the_later(
        fake: FakeTradingEconomics) -> None:
    fetched = te(fake).fetch("united states/inflation rate", since=dt.date(2024, 1, 1),
                             ts_init=7)

    assert [(r.date, r.value) for r in fetched.records] == [(dt.date(2024, 1, 1), 3.1)]


def test_a_wrong_key_is_refused_and_never_shown(fake: FakeTradingEconomics) -> None:
    with pytest.raises(FetchError, match=r"HTTP 401: .*Invalid credentials") as refused:
        te(fake, key="wrong:key").fetch(GDP, since=None, ts_init=7)

    assert "wrong:key" not in str(refused.value)


@pytest.mark.parametrize(("tamper", "error"), [
    (lambda rows: [{**rows[0], "Frequency": "Fortnightly"}],
     r"unknown frequency 'Fortnightly' at 2023-09-30"),
    (lambda rows: [rows[0], {**rows[1], "DateTime": rows[0]["DateTime"]}],
     r"period 2023-09-30 comes twice"),
    (lambda rows: [{**rows[0], "Category": "Inflation Rate"}],
     r"a row of United States/Inflation Rate sent"),
    (lambda rows: [rows[0], {"Country": "United States"}],
     r"\(row 1\): malformed payload: Category: Field required"),
    (lambda rows: {"Message": "No data"}, r"malformed payload: expected a list of rows"),
    (lambda rows: [], r"no rows \(unknown country or indicator"),
])
def test_a_malformed_payload_fails_the_indicator(fake: FakeTradingEconomics, tamper,  # type: ignore[no-untyped-def]
                                                 error: str) -> None:
    fake.tamper[GDP] = tamper

    with pytest.raises(PayloadError, match=rf"Trading Economics {GDP}.*{error}"):
        te(fake).fetch(GDP, since=None, ts_init=7)


def test_without_its_key_trading_economics_is_off() -> None:
    assert read_config(TradingEconomicsSource, {}) == "TRADINGECONOMICS_API_KEY not set"


def test_a_revised_row_is_a_new_record_and_the_others_keep_their_key(
        fake: FakeTradingEconomics) -> None:
    item = "united states/inflation rate"
    before = te(fake).fetch(item, since=None, ts_init=7).records
    fake.rows[item][0].update(Value=3.2, LastUpdate="2024-03-12T12:30:00")  # January revised

    after = te(fake).fetch(item, since=None, ts_init=8).records

    new = [r for r in after if natural_key(r) not in {natural_key(b) for b in before}]
    assert [(r.date, r.realtime_start, r.value) for r in new] == [
        (dt.date(2024, 1, 1), dt.date(2024, 3, 12), 3.2)]
    assert len(after) == len(before) == 2
