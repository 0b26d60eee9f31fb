"""Alpha Vantage's daily prices against the fake (its documented TIME_SERIES_DAILY_ADJUSTED
and TIME_SERIES_DAILY JSON): days to unadjusted DailyPrice records with their dividend and
split, dated at the day's end; the running day held back; once a UTC day; the premium refusal
a free key gets; malformed and partial answers; and on the session's real broker, polling
twice publishes nothing new, a vendor's correction is a new record dated when seen, and the
adjusted closes derived from the topic are CRSP's."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from processors.kit.adjustment import adjusted_closes
from streams import kafka
from streams.catalog import Catalog
from streams.codec import decode
from streams.feeds.sources.exceptions import EntitlementError, PayloadError
from streams.feeds.sources.parsing import day_end_ns
from streams.feeds.sources.poll import poll_source
from streams.schema import DailyPrice
from streams.settings import REPO_ROOT
from tests.streams.feeds.sources.fake_alphavantage import (
    API_KEY,
    FakeAlphaVantage,
    day,
    overview,
)
from tests.streams.feeds.sources.test_alphavantage import av_source

CATALOG = Catalog.load(REPO_ROOT / "topics.yaml")
NS = 10**9
# Wednesday 2024-07-24, 15:00 UTC: the 23rd is over, the 24th's session is running
NOW = int(dt.datetime(2024, 7, 24, 15, tzinfo=dt.UTC).timestamp()) * NS
NEXT_DAY = NOW + 86_400 * NS


def _days() -> dict[str, dict[str, str]]:
    """Four sessions of a synthetic company: a dividend ex on the 19th, a 2-for-1 split on the
    23rd, and the 24th still trading."""
    return {"2024-07-18": day("100.0000", "101.5000", "99.5000", "100.0000", "1200300"),
            "2024-07-19": day("100.5000", "102.2500", "100.1000", "102.0000", "1500000",
                              dividend="1.0000"),
            "2024-07-22": day("102.0000", "103.0000", "101.0000", "102.0000", "900000"),
            "2024-07-23": day("51.2000", "51.9000", "50.8000", "51.0000", "2400000",
                              split="2.0"),
            "2024-07-24": day("51.0000", "52.5000", "50.9000", "52.1000", "800000")}


@pytest.fixture
def fake() -> Iterator[FakeAlphaVantage]:
    with FakeAlphaVantage() as server:
        server.overviews["SYNA"] = overview("SYNA", "2024-06-30")
        server.days["SYNA"] = _days()
        server.days["SYNB"] = {"2024-07-23": day("20.0000", "20.5000", "19.5000", "20.2500",
                                                 "10000")}
        yield server


def test_the_adjusted_series_becomes_unadjusted_days_with_their_actions(
        fake: FakeAlphaVantage, tmp_path: Path) -> None:
    fetched = av_source(fake, tmp_path).fetch("SYNA:daily", since=None, ts_init=NOW)

    assert [r.date.isoformat() for r in fetched.records] == [
        "2024-07-18", "2024-07-19", "2024-07-22", "2024-07-23"]  # the 24th is not over
    first, dividend_day, _, split_day = fetched.records
    assert first == DailyPrice(
        ts_event=day_end_ns(dt.date(2024, 7, 18)), ts_init=NOW, source="alphavantage",
        symbol="SYNA", date=dt.date(2024, 7, 18), open=Decimal("100"), high=Decimal("101.5"),
        low=Decimal("99.5"), close=Decimal("100"), volume=1_200_300, dividend=Decimal(0),
        split=1.0)
    assert (dividend_day.dividend, dividend_day.split) == (Decimal(1), 1.0)
    assert (split_day.dividend, split_day.split, split_day.close) == (0, 2.0, Decimal(51))
    assert fake.requests[0].params == {"function": "TIME_SERIES_DAILY_ADJUSTED",
                                       "symbol": "SYNA", "outputsize": "compact",
                                       "apikey": API_KEY}


def test_items_are_each_tickers_overview_then_its_daily_prices_unless_off(
        fake: FakeAlphaVantage) -> None:
    env = {"NAUTILUS_ALPHAVANTAGE_TICKERS": "syna,SYNB"}
    assert av_source(fake, None, **env).items() == ["SYNA", "SYNA:daily", "SYNB", "SYNB:daily"]
    assert av_source(fake, None, ALPHAVANTAGE_DAILY="off", **env).items() == ["SYNA", "SYNB"]


def test_the_raw_series_has_no_actions_and_full_asks_the_whole_history(
        fake: FakeAlphaVantage, tmp_path: Path) -> None:
    source = av_source(fake, tmp_path, ALPHAVANTAGE_DAILY="raw", ALPHAVANTAGE_OUTPUTSIZE="full")
    records = source.fetch("SYNA:daily", since=dt.date(2024, 7, 22), ts_init=NOW).records

    assert [(r.date.isoformat(), r.close, r.dividend, r.split) for r in records] == [
        ("2024-07-22", Decimal(102), None, None), ("2024-07-23", Decimal(51), None, None)]
    assert fake.requests[0].params["function"] == "TIME_SERIES_DAILY"
    assert fake.requests[0].params["outputsize"] == "full"
    assert np.isnan(adjusted_closes([float(r.close) for r in records],
                                    [np.nan] * 2, [np.nan] * 2)[0])


def test_a_tickers_prices_are_asked_once_a_utc_day_and_a_later_poll_gets_the_same_days(
        fake: FakeAlphaVantage, tmp_path: Path) -> None:
    first = av_source(fake, tmp_path).fetch("SYNA:daily", since=None, ts_init=NOW)
    later = av_source(fake, tmp_path).fetch("SYNA:daily", since=dt.date(2024, 7, 22),
                                            ts_init=NOW + 3600 * NS)
    next_day = av_source(fake, tmp_path).fetch("SYNA:daily", since=None, ts_init=NEXT_DAY)

    assert (len(first.records), later.records, len(next_day.records)) == (
        4, first.records[2:], 5)
    assert len(fake.requests) == 2


def test_what_a_poll_did_not_deliver_is_published_by_the_next_poll_that_day(
        fake: FakeAlphaVantage, kafka_brokers: str, topic: str, second_topic: str,
        tmp_path: Path) -> None:
    """The day's prices were fetched (and the state kept) but never reached the topic, as
    when the broker was down: the next poll that day publishes them without asking again."""
    av_source(fake, tmp_path).fetch("SYNB:daily", since=None, ts_init=time.time_ns())
    summary = poll_source(av_source(fake, tmp_path), kafka_brokers, CATALOG,
                          items=["SYNB:daily"], topic_map={"market.fundamentals": topic,
                                                           "market.prices.1d": second_topic})

    assert (summary.published, len(fake.requests)) == (1, 1)


def test_a_free_key_is_told_the_adjusted_series_is_premium_and_overviews_go_on(
        fake: FakeAlphaVantage, tmp_path: Path) -> None:
    fake.premium = True
    source = av_source(fake, tmp_path)

    with pytest.raises(EntitlementError, match=r"SYNA daily prices "
                       r"\(TIME_SERIES_DAILY_ADJUSTED\): refused as premium, nothing published: "
                       r"Thank you .* premium endpoint.*; set ALPHAVANTAGE_DAILY=raw"):
        source.fetch("SYNA:daily", since=None, ts_init=NOW)
    with pytest.raises(EntitlementError, match=r"SYNB daily prices .*not asked, refused "
                                               r"earlier today as premium"):
        av_source(fake, tmp_path).fetch("SYNB:daily", since=None, ts_init=NOW)  # next poll
    assert len(source.fetch("SYNA", since=None, ts_init=NOW).records) == 8  # the overview
    raw = av_source(fake, tmp_path, ALPHAVANTAGE_DAILY="raw").fetch(
        "SYNB:daily", since=None, ts_init=NOW)
    assert [r.close for r in raw.records] == [Decimal("20.25")]
    assert len(fake.requests) == 3


def _drop(field: str):  # type: ignore[no-untyped-def]
    def tamper(doc: dict) -> dict:
        del doc["Time Series (Daily)"]["2024-07-19"][field]
        return doc
    return tamper


def _set(date: str, field: str, value: str):  # type: ignore[no-untyped-def]
    def tamper(doc: dict) -> dict:
        doc["Time Series (Daily)"][date][field] = value
        return doc
    return tamper


@pytest.mark.parametrize(("tamper", "error"), [
    (_drop("4. close"), r"2024-07-19: malformed payload: expected the fields .* \(a partial "
                        r"answer\?\)"),
    (_set("2024-07-19", "4. close", "1O2.00"), r"2024-07-19: 4. close: '1O2.00' is not a "
                                               r"number"),
    (_set("2024-07-19", "6. volume", "1.5e6"), r"6. volume: '1.5e6' is not a whole number"),
    (_set("2024-07-19", "1. open", "-3"), r"2024-07-19: open: Input should be greater than 0"),
    (_set("2024-07-19", "7. dividend amount", "-0.5"), r"dividend: Input should be greater "
                                                       r"than or equal to 0"),
    (lambda doc: {**doc, "Meta Data": {**doc["Meta Data"], "2. Symbol": "OTHER"}},
     r"malformed payload: the symbol is 'OTHER'"),
    (lambda doc: {"Meta Data": doc["Meta Data"]}, r"no 'Meta Data' and 'Time Series"),
    (lambda doc: b"<html>busy</html>", r"response is not JSON"),
])
def test_a_malformed_answer_fails_the_tickers_prices_with_a_clear_error(
        fake: FakeAlphaVantage, tamper, error: str) -> None:  # type: ignore[no-untyped-def]
    fake.tamper["SYNA"] = tamper

    with pytest.raises(PayloadError, match=error):
        av_source(fake, None).fetch("SYNA:daily", since=None, ts_init=NOW)


def test_an_unknown_ticker_is_alpha_vantages_error_message(fake: FakeAlphaVantage) -> None:
    with pytest.raises(PayloadError, match=r"NOPE daily prices: Invalid API call"):
        av_source(fake, None).fetch("NOPE:daily", since=None, ts_init=NOW)


def _prices(brokers: str, topic: str) -> list[tuple[bytes | None, DailyPrice]]:
    return [(key, decode("DailyPrice", value))  # type: ignore[misc]
            for _, _, key, value in kafka.read_all(brokers, topic)]


def test_polling_publishes_each_day_once_a_correction_dated_when_seen_and_crsp_adjustment(
        fake: FakeAlphaVantage, kafka_brokers: str, topic: str, second_topic: str,
        tmp_path: Path) -> None:
    renamed = {"market.fundamentals": topic, "market.prices.1d": second_topic}
    first = poll_source(av_source(fake, tmp_path), kafka_brokers, CATALOG,
                        items=["SYNA", "SYNA:daily"], topic_map=renamed)
    fake.days["SYNA"]["2024-07-22"] = day("102.0000", "103.0000", "101.0000", "101.9000",
                                          "900000")  # Alpha Vantage corrects the 22nd
    # a fresh state: asked again as on the next day, the answer has the correction
    second = poll_source(av_source(fake, tmp_path / "next"), kafka_brokers, CATALOG,
                         items=["SYNA:daily"], topic_map=renamed)
    # the same day again: nothing asked (the state), nothing new
    third = poll_source(av_source(fake, tmp_path / "next"), kafka_brokers, CATALOG,
                        items=["SYNA:daily"], topic_map=renamed)

    assert (first.published, second.published, third.published) == (8 + 5, 1, 0)
    assert first.ok and second.ok and third.ok
    on_topic = _prices(kafka_brokers, second_topic)
    assert {key for key, _ in on_topic} == {b"SYNA"}
    corrected = [r for _, r in on_topic if r.date == dt.date(2024, 7, 22)]
    assert [(r.close, r.ts_event > day_end_ns(r.date)) for r in corrected] == [
        (Decimal(102), False), (Decimal("101.9"), True)]
    latest = {r.date: r for _, r in sorted(on_topic, key=lambda kr: kr[1].ts_event)}
    days = [latest[d] for d in sorted(latest)]
    adjusted = adjusted_closes([float(r.close) for r in days],
                               [float(r.dividend or 0) for r in days],
                               [r.split or 1.0 for r in days])
    # CRSP: the split on the 23rd halves every earlier price; the dividend on the 19th
    # (1.00 against the 18th's close of 100) scales the 18th by 0.99 more
    assert adjusted == pytest.approx([49.5, 51.0, 50.95, 51.0, 52.1])


def test_switching_to_the_raw_series_says_nothing_new_and_back_adds_the_actions(
        fake: FakeAlphaVantage, kafka_brokers: str, topic: str, second_topic: str,
        tmp_path: Path) -> None:
    """Days held with their dividend and split are not 'corrected' by the free series that
    lacks them; held without, the adjusted series' actions are news, dated when seen."""
    renamed = {"market.fundamentals": topic, "market.prices.1d": second_topic}

    def poll(state: str, daily: str) -> int:
        source = av_source(fake, tmp_path / state, ALPHAVANTAGE_DAILY=daily)
        return poll_source(source, kafka_brokers, CATALOG, items=["SYNB:daily"],
                           topic_map=renamed).published

    assert (poll("a", "adjusted"), poll("b", "raw")) == (1, 0)
    fake.days["SYNB"]["2024-07-24"] = day("20.5000", "21.0000", "20.0000", "20.7500", "9000")
    assert (poll("c", "raw"), poll("d", "adjusted")) == (1, 1)
    on_topic = [r for _, r in _prices(kafka_brokers, second_topic)]
    assert [(r.date.isoformat(), r.dividend, r.split, r.ts_event > day_end_ns(r.date))
            for r in on_topic] == [("2024-07-23", 0, 1.0, False),
                                   ("2024-07-24", None, None, False),
                                   ("2024-07-24", 0, 1.0, True)]


def test_a_poll_that_lost_its_state_does_not_publish_unchanged_figures_again(
        fake: FakeAlphaVantage, kafka_brokers: str, topic: str, second_topic: str,
        tmp_path: Path) -> None:
    renamed = {"market.fundamentals": topic, "market.prices.1d": second_topic}
    first = poll_source(av_source(fake, tmp_path / "a"), kafka_brokers, CATALOG,
                        items=["SYNA"], topic_map=renamed)
    fake.overviews["SYNA"]["EPS"] = "6.3"
    fresh = poll_source(av_source(fake, tmp_path / "b"), kafka_brokers, CATALOG,
                        items=["SYNA"], topic_map=renamed)

    assert (first.published, fresh.published, fresh.known) == (8, 1, 7)
