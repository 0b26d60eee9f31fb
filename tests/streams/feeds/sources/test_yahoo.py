"""The Yahoo Finance source (unofficial) against the fake chart endpoint: a close is the value
of its trading day, known at the end of that day (UTC) and not published before; null closes
counted; malformed and partial payloads; config; the unofficial warning."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

import pytest

from streams.feeds.sources.base import Source, read_config
from streams.feeds.sources.exceptions import FetchError, PayloadError
from streams.feeds.sources.yahoo import YahooSource
from streams.schema import MacroObservation
from tests.streams.feeds.sources.fake_macro import FakeYahoo, source_from


def _s(when: str) -> int:
    return int(dt.datetime.fromisoformat(when).replace(tzinfo=dt.UTC).timestamp())


def _ns(when: str) -> int:
    return _s(when) * 10**9


FRIDAY_EVENING = _ns("2024-01-05T22:00:00")  # Friday's session is over, its day is not


@pytest.fixture
def fake() -> Iterator[FakeYahoo]:
    with FakeYahoo() as server:  # daily bars stamped at the 09:30 New York open
        server.bars["^VIX"] = [(_s("2024-01-02T14:30:00"), 13.2),
                               (_s("2024-01-03T14:30:00"), None),
                               (_s("2024-01-04T14:30:00"), 14.1),
                               (_s("2024-01-05T14:30:00"), 13.35)]
        yield server


def yahoo(fake: FakeYahoo, **env: str) -> Source:
    return source_from(YahooSource, {"NAUTILUS_YAHOO_SYMBOLS": "^VIX",
                                     "NAUTILUS_YAHOO_URL": fake.url, **env})


def test_a_close_is_known_at_the_end_of_its_day_and_today_waits(fake: FakeYahoo) -> None:
    fetched = yahoo(fake).fetch("^VIX", since=None, ts_init=FRIDAY_EVENING)

    assert fetched.records == [
        MacroObservation(ts_event=_ns(f"{next_day}T00:00:00") - 1, ts_init=FRIDAY_EVENING,
                         source="yahoo", series="^VIX", date=dt.date.fromisoformat(day),
                         realtime_start=dt.date.fromisoformat(day), value=close)
        for day, next_day, close in (("2024-01-02", "2024-01-03", 13.2),
                                     ("2024-01-04", "2024-01-05", 14.1))]
    assert fetched.missing == 1
    after_midnight = yahoo(fake).fetch("^VIX", since=None, ts_init=_ns("2024-01-06T00:00:00"))
    assert after_midnight.records[-1].date == dt.date(2024, 1, 5)


def test_the_request_asks_daily_bars_of_the_history_with_a_browser_agent(
        fake: FakeYahoo) -> None:
    yahoo(fake, NAUTILUS_YAHOO_HISTORY_DAYS="10").fetch("^VIX", since=None,
                                                       ts_init=FRIDAY_EVENING)
    yahoo(fake).fetch("^VIX", since=dt.date(2024, 1, 4), ts_init=FRIDAY_EVENING)

    end = str(_s("2024-01-06T00:00:00"))  # whole days, so the URL changes once a day
    assert [(r.path, r.params) for r in fake.requests] == [
        ("/v8/finance/chart/^VIX", {"interval": "1d", "period1": str(_s("2023-12-26T00:00:00")),
                                    "period2": end, "includePrePost": "false"}),
        ("/v8/finance/chart/^VIX", {"interval": "1d", "period1": str(_s("2024-01-04T00:00:00")),
                                    "period2": end, "includePrePost": "false"})]
    assert fake.requests[0].headers["user-agent"].startswith("Mozilla/5.0")


def test_the_trading_day_is_the_exchanges(fake: FakeYahoo) -> None:
    fake.gmtoffset = 9 * 3600  # Tokyo: 00:00 UTC is 09:00 there
    fake.bars["^N225"] = [(_s("2024-01-04T00:00:00"), 33_288.29)]

    fetched = yahoo(fake).fetch("^N225", since=None, ts_init=FRIDAY_EVENING)

    assert [(r.date, r.ts_event) for r in fetched.records] == [
        (dt.date(2024, 1, 4), _ns("2024-01-05T00:00:00") - 1)]


def _quote(doc: dict) -> dict:
    return doc["chart"]["result"][0]


def _second_bar_again_on_the_first_day(doc: dict) -> dict:
    _quote(doc)["timestamp"][1] = _s("2024-01-02T20:00:00")
    _quote(doc)["indicators"]["quote"][0]["close"][1] = 13.5
    return doc


@pytest.mark.parametrize(("tamper", "error"), [
    (lambda doc: {"chart": {"result": [{**_quote(doc), "timestamp": _quote(doc)["timestamp"][:2]}],
                            "error": None}}, r"2 timestamps but 4 closes \(partial payload\)"),
    (lambda doc: {"chart": {"result": [{**_quote(doc), "meta": {
        **_quote(doc)["meta"], "dataGranularity": "1wk"}}], "error": None}},
     r"got \^VIX at 1wk, not \^VIX daily"),
    (_second_bar_again_on_the_first_day, r"two different closes for 2024-01-02"),
    (lambda doc: {"chart": {"result": None, "error": {"code": "Bad Request",
                                                      "description": "Invalid input"}}},
     r"Bad Request: Invalid input"),
    (lambda doc: {"chart": {"result": [{"meta": _quote(doc)["meta"]}]}},
     r"malformed payload: chart.result.0.indicators: Field required"),
])
def test_a_malformed_or_partial_chart_fails_the_symbol(fake: FakeYahoo, tamper,  # type: ignore[no-untyped-def]
                                                       error: str) -> None:
    fake.tamper["^VIX"] = tamper

    with pytest.raises(PayloadError, match=rf"Yahoo \(unofficial\) \^VIX.*{error}"):
        yahoo(fake).fetch("^VIX", since=None, ts_init=FRIDAY_EVENING)


def test_an_unknown_symbol_is_yahoos_404(fake: FakeYahoo) -> None:
    with pytest.raises(FetchError, match=r"HTTP 404: .*symbol may be delisted"):
        yahoo(fake).fetch("^NOPE", since=None, ts_init=FRIDAY_EVENING)


def test_yahoo_is_off_without_symbols_and_says_it_is_unofficial_when_on(
        fake: FakeYahoo, caplog: pytest.LogCaptureFixture) -> None:
    assert read_config(YahooSource, {}) == "NAUTILUS_YAHOO_SYMBOLS not set"
    with caplog.at_level(logging.WARNING, logger="streams.feeds.sources.yahoo"):
        yahoo(fake)

    assert [r.getMessage() for r in caplog.records] == [
        "source yahoo is UNOFFICIAL: Yahoo Finance's chart endpoint has no API terms and may "
        "change or refuse requests without notice"]


def test_a_range_without_bars_is_no_record_not_an_error(fake: FakeYahoo) -> None:
    fake.tamper["^VIX"] = lambda doc: {"chart": {"result": [{
        "meta": _quote(doc)["meta"], "indicators": {"quote": [{}], "adjclose": [{}]}}],
        "error": None}}  # what Yahoo sends for a range with no session

    fetched = yahoo(fake).fetch("^VIX", since=dt.date(2024, 1, 6), ts_init=FRIDAY_EVENING)

    assert (fetched.records, fetched.missing) == ([], 0)
