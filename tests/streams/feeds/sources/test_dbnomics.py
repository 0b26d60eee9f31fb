"""The DBnomics source against the fake DBnomics (API v22's documented JSON): periods to their
first day, NA counted, indexed_at as the vintage, malformed and partial payloads, config."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from streams.exceptions import ConfigError
from streams.feeds.sources.base import Source, read_config
from streams.feeds.sources.dbnomics import DbnomicsSource
from streams.feeds.sources.exceptions import FetchError, PayloadError
from streams.feeds.sources.poll import natural_key
from streams.schema import MacroObservation
from tests.streams.feeds.sources.fake_macro import FakeDbnomics, source_from

ZUTN = "AMECO/ZUTN/EA19.1.0.0.0.ZUTN"
INDEXED = "2024-05-16T09:15:30.250Z"
INDEXED_NS = int(dt.datetime(2024, 5, 16, 9, 15, 30, 250_000, dt.UTC).timestamp() * 10**6) * 1000


@pytest.fixture
def fake() -> Iterator[FakeDbnomics]:
    with FakeDbnomics() as server:
        server.add(ZUTN, INDEXED, {"2021": 7.7, "2022": "NA", "2023": 6.6})
        yield server


def dbnomics(fake: FakeDbnomics) -> Source:
    return source_from(DbnomicsSource, {"NAUTILUS_DBNOMICS_SERIES": ZUTN,
                                        "NAUTILUS_DBNOMICS_URL": f"{fake.url}/v22"})


def test_values_are_dated_from_the_series_indexing_and_na_is_counted(
        fake: FakeDbnomics) -> None:
    fetched = dbnomics(fake).fetch(ZUTN, since=None, ts_init=7)

    assert fetched.records == [
        MacroObservation(ts_event=INDEXED_NS, ts_init=7, source="dbnomics", series=ZUTN,
                         date=dt.date(year, 1, 1), realtime_start=dt.date(2024, 5, 16),
                         value=value)
        for year, value in ((2021, 7.7), (2023, 6.6))]
    assert fetched.missing == 1
    assert fake.requests[0].path == f"/v22/series/{ZUTN}"
    assert fake.requests[0].params == {"observations": "1", "format": "json",
                                       "metadata": "false"}


def test_each_kind_of_period_is_its_first_day_and_since_keeps_the_later(
        fake: FakeDbnomics) -> None:
    fake.add("ECB/X/Y", INDEXED, {"2023-Q2": 1.0, "2023-S2": 2.0, "2023-W05": 3.0,
                                  "2023-11": 4.0, "2023-12-15": 5.0, "2022-Q4": 0.5})

    fetched = dbnomics(fake).fetch("ECB/X/Y", since=dt.date(2023, 1, 1), ts_init=7)

    assert [(r.date.isoformat(), r.value) for r in fetched.records] == [
        ("2023-04-01", 1.0), ("2023-07-01", 2.0), ("2023-01-30", 3.0), ("2023-11-01", 4.0),
        ("2023-12-15", 5.0)]


@pytest.mark.parametrize(("tamper", "error"), [
    (lambda doc: {**doc, "series": {**doc["series"], "docs": doc["series"]["docs"] * 2,
                                    "num_found": 2}}, r"expected that one series, got 2"),
    (lambda doc: {"series": {**doc["series"], "docs": [{**doc["series"]["docs"][0],
                                                        "value": [7.7, "NA"]}]}},
     r"3 periods but 2 values \(partial payload\)"),
    (lambda doc: {"series": {**doc["series"], "docs": [{**doc["series"]["docs"][0],
                                                        "period": ["2021", "2022", "21M3"]}]}},
     r"unknown period '21M3'"),
    (lambda doc: {"series": {**doc["series"], "docs": [{**doc["series"]["docs"][0],
                                                        "value": [7.7, "n/a", 6.6]}]}},
     r"2022: value 'n/a' is not a number"),
    (lambda doc: {"series": {"num_found": 1}}, r"malformed payload: series.docs: Field required"),
    (lambda doc: b'{"series": {"docs": [', r"response is not JSON"),
])
def test_a_malformed_or_partial_series_fails_whole(fake: FakeDbnomics, tamper,  # type: ignore[no-untyped-def]
                                                   error: str) -> None:
    fake.tamper[ZUTN] = tamper

    with pytest.raises(PayloadError, match=rf"DBnomics {ZUTN}.*{error}"):
        dbnomics(fake).fetch(ZUTN, since=None, ts_init=7)


def test_an_unknown_series_is_dbnomics_404_message(fake: FakeDbnomics) -> None:
    with pytest.raises(FetchError, match=r"HTTP 404: .*Series 'A/B/C' not found"):
        dbnomics(fake).fetch("A/B/C", since=None, ts_init=7)


def test_without_series_dbnomics_is_off_and_a_wrong_code_is_named() -> None:
    assert read_config(DbnomicsSource, {}) == "NAUTILUS_DBNOMICS_SERIES not set"
    with pytest.raises(ConfigError, match=r"NAUTILUS_DBNOMICS_SERIES='AMECO/ZUTN': string"):
        read_config(DbnomicsSource, {"NAUTILUS_DBNOMICS_SERIES": "AMECO/ZUTN"})


def test_a_reindexed_series_is_a_new_vintage_of_every_period(fake: FakeDbnomics) -> None:
    before = dbnomics(fake).fetch(ZUTN, since=None, ts_init=7).records
    fake.add(ZUTN, "2024-11-05T10:00:00Z", {"2021": 7.7, "2022": "NA", "2023": 6.5})

    after = dbnomics(fake).fetch(ZUTN, since=None, ts_init=8).records

    assert {natural_key(r) for r in before}.isdisjoint(natural_key(r) for r in after)
    assert [(r.date.year, r.realtime_start.isoformat(), r.value) for r in after] == [
        (2021, "2024-11-05", 7.7), (2023, "2024-11-05", 6.5)]
