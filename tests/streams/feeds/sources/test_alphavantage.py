"""The Alpha Vantage source against the fake (its documented OVERVIEW JSON): figures to
records, first-seen dating, once a day per ticker, the daily budget across polls, its limit
answers ("Note", "Information"), malformed payloads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.feeds.sources.alphavantage import AlphaVantageSource
from streams.feeds.sources.base import read_config
from streams.feeds.sources.exceptions import PayloadError, RateLimitError
from streams.feeds.sources.http import HttpFetcher, HttpPolicy, TokenBucket
from streams.schema import Fundamental
from tests.streams.feeds.sources.fake_alphavantage import API_KEY, FakeAlphaVantage, overview

DAY1 = int(dt.datetime(2024, 7, 22, 21, tzinfo=dt.UTC).timestamp()) * 10**9
DAY2 = DAY1 + 86_400 * 10**9


@pytest.fixture
def fake() -> Iterator[FakeAlphaVantage]:
    with FakeAlphaVantage() as server:
        for symbol in ("SYNA", "SYNB", "SYNC"):
            server.overviews[symbol] = overview(symbol, "2024-06-30")
        yield server


def av_source(fake: FakeAlphaVantage, cache_dir: Path | None, **env: str) -> AlphaVantageSource:
    """The source as `open_source` makes it (its state under `cache_dir`), without waits."""
    config = read_config(AlphaVantageSource, {**fake.env, **env})
    assert not isinstance(config, str)
    http = HttpFetcher("alphavantage", HttpPolicy(backoff_s=0.0, cache_dir=cache_dir),
                       TokenBucket(1_000, 1_000), sleep=lambda s: None)
    return AlphaVantageSource(config, http)  # type: ignore[arg-type]


def test_without_the_key_alphavantage_is_off_naming_the_variable() -> None:
    assert read_config(AlphaVantageSource, {}) == "ALPHAVANTAGE_API_KEY not set"


def test_an_overview_becomes_one_record_per_figure_dated_when_first_seen(
        fake: FakeAlphaVantage, tmp_path: Path) -> None:
    fetched = av_source(fake, tmp_path).fetch("SYNA", since=None, ts_init=DAY1)

    common = {"ts_event": DAY1, "ts_init": DAY1, "source": "alphavantage", "symbol": "SYNA",
              "period": "CY2024Q2", "period_end": dt.date(2024, 6, 30),
              "filed": dt.date(2024, 7, 22)}
    assert fetched.records == [Fundamental(field=field, value=value, unit=unit, **common)
                               for field, value, unit in [
        ("market_cap", 150e9, "USD"), ("shares_outstanding", 910e6, "shares"),
        ("book_value_per_share", 25.3, "USD/share"), ("eps_ttm", 6.1, "USD/share"),
        ("diluted_eps_ttm", 6.05, "USD/share"), ("revenue_ttm", 62e9, "USD"),
        ("gross_profit_ttm", 34e9, "USD"), ("ebitda", 14e9, "USD")]]
    assert fetched.missing == 1  # DividendPerShare "None"
    assert fake.requests[0].params == {"function": "OVERVIEW", "symbol": "SYNA",
                                       "apikey": API_KEY}


def test_a_ticker_is_asked_once_a_day_and_an_unchanged_figure_keeps_its_record(
        fake: FakeAlphaVantage, tmp_path: Path) -> None:
    first = av_source(fake, tmp_path).fetch("SYNA", since=None, ts_init=DAY1)
    later_that_day = av_source(fake, tmp_path).fetch("SYNA", since=None, ts_init=DAY1 + 3600)
    fake.overviews["SYNA"]["MarketCapitalization"] = "152000000000"
    next_day = av_source(fake, tmp_path).fetch("SYNA", since=None, ts_init=DAY2)

    assert len(fake.requests) == 2 and later_that_day.records == first.records
    changed = [r for r in next_day.records if r not in first.records]
    assert [(r.field, r.value, r.ts_event, r.filed) for r in changed] == [
        ("market_cap", 152e9, DAY2, dt.date(2024, 7, 23))]
    assert len(next_day.records) == len(first.records)


def test_the_daily_budget_holds_across_polls_and_resets_the_next_day(
        fake: FakeAlphaVantage, tmp_path: Path) -> None:
    av_source(fake, tmp_path, ALPHAVANTAGE_DAILY_CALLS="2").fetch("SYNA", since=None,
                                                                  ts_init=DAY1)
    second_poll = av_source(fake, tmp_path, ALPHAVANTAGE_DAILY_CALLS="2")
    second_poll.fetch("SYNB", since=None, ts_init=DAY1)

    with pytest.raises(RateLimitError, match=r"not asked, the daily budget of 2 requests is "
                                             r"spent for 2024-07-22"):
        second_poll.fetch("SYNC", since=None, ts_init=DAY1)
    assert len(fake.requests) == 2
    av_source(fake, tmp_path, ALPHAVANTAGE_DAILY_CALLS="2").fetch("SYNC", since=None,
                                                                  ts_init=DAY2)
    assert len(fake.requests) == 3


def test_alpha_vantages_daily_limit_answer_publishes_nothing_and_spends_the_day(
        fake: FakeAlphaVantage, tmp_path: Path) -> None:
    fake.daily_limit = 1
    source = av_source(fake, tmp_path)
    source.fetch("SYNA", since=None, ts_init=DAY1)

    with pytest.raises(RateLimitError, match=r"SYNB overview: rate limited, nothing published: "
                                             r"We have detected your API key as \*\*\* and") as exc:
        source.fetch("SYNB", since=None, ts_init=DAY1)
    with pytest.raises(RateLimitError, match=r"SYNC overview: not asked"):
        source.fetch("SYNC", since=None, ts_init=DAY1)
    with pytest.raises(RateLimitError, match=r"daily budget of 25 requests is spent"):
        av_source(fake, tmp_path).fetch("SYNC", since=None, ts_init=DAY1)  # the next poll
    assert API_KEY not in str(exc.value) and len(fake.requests) == 2


def test_a_note_stops_this_poll_only(fake: FakeAlphaVantage, tmp_path: Path) -> None:
    fake.note_next()
    source = av_source(fake, tmp_path)

    with pytest.raises(RateLimitError, match=r"SYNA overview: rate limited.*5 calls per minute"):
        source.fetch("SYNA", since=None, ts_init=DAY1)
    with pytest.raises(RateLimitError, match=r"SYNB overview: not asked"):
        source.fetch("SYNB", since=None, ts_init=DAY1)
    assert len(av_source(fake, tmp_path).fetch("SYNA", since=None, ts_init=DAY1).records) == 8


@pytest.mark.parametrize(("tamper", "error"), [
    (lambda doc: {}, r"SYNA overview: empty \(a ticker Alpha Vantage does not cover\?\)"),
    (lambda doc: {**doc, "Symbol": "OTHER"}, r"malformed payload: Symbol is 'OTHER'"),
    (lambda doc: {**doc, "LatestQuarter": "None"}, r"LatestQuarter is 'None', not a date"),
    (lambda doc: {**doc, "EPS": "6,1"}, r"SYNA overview: EPS: '6,1' is not a number"),
    (lambda doc: b'{"Symbol": "SYNA", ', r"SYNA overview: response is not JSON"),
])
def test_a_malformed_overview_fails_the_ticker_with_a_clear_error(
        fake: FakeAlphaVantage, tamper, error: str) -> None:  # type: ignore[no-untyped-def]
    fake.tamper["SYNA"] = tamper

    with pytest.raises(PayloadError, match=error):
        av_source(fake, None).fetch("SYNA", since=None, ts_init=DAY1)


def test_a_wrong_key_is_alpha_vantages_error_message(fake: FakeAlphaVantage) -> None:
    with pytest.raises(PayloadError, match=r"SYNA overview: the parameter apikey is invalid"):
        av_source(fake, None, ALPHAVANTAGE_API_KEY="WRONGKEY").fetch("SYNA", since=None,
                                                                     ts_init=DAY1)
