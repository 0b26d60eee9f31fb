"""Polling EDGAR and Alpha Vantage (the fakes) onto the session's real broker: polling twice
publishes nothing new, a restatement is published once, an item that fails (a malformed
payload, Alpha Vantage's limit answer) publishes nothing, and `poll_once` runs them from the
environment. Records go to a topic of the test's own (see `topic`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams import kafka
from streams.catalog import Catalog
from streams.cli.main import main
from streams.codec import decode
from streams.feeds.sources.poll import poll_once, poll_source
from streams.schema import Fundamental
from streams.settings import REPO_ROOT, Settings
from tests.streams.feeds.sources.fake_alphavantage import FakeAlphaVantage, overview
from tests.streams.feeds.sources.fake_edgar import FakeEdgar, Filing
from tests.streams.feeds.sources.test_alphavantage import av_source
from tests.streams.feeds.sources.test_edgar import CIK, edgar_source, widget_works

CATALOG = Catalog.load(REPO_ROOT / "topics.yaml")


@pytest.fixture
def edgar() -> Iterator[FakeEdgar]:
    with FakeEdgar() as server:
        widget_works(server)
        yield server


@pytest.fixture
def alphavantage() -> Iterator[FakeAlphaVantage]:
    with FakeAlphaVantage() as server:
        server.overviews["SYNA"] = overview("SYNA", "2024-06-30")
        server.overviews["SYNB"] = overview("SYNB", "2024-06-30")
        yield server


def _on_topic(brokers: str, topic: str) -> list[tuple[bytes | None, Fundamental]]:
    return [(key, decode("Fundamental", value))  # type: ignore[misc]
            for _, _, key, value in kafka.read_all(brokers, topic)]


def test_polling_edgar_twice_publishes_nothing_new_and_a_restatement_once(
        edgar: FakeEdgar, kafka_brokers: str, topic: str, second_topic: str) -> None:
    renamed = {"market.fundamentals": topic, "market.filings": second_topic}
    first = poll_source(edgar_source(edgar), kafka_brokers, CATALOG, items=["WIDG"],
                        topic_map=renamed)
    again = poll_source(edgar_source(edgar), kafka_brokers, CATALOG, items=["WIDG"],
                        topic_map=renamed)
    restated = Filing("0001234567-24-000020", "10-Q/A", "2024-04-10",
                      "2024-04-10T10:00:00.000Z", "2023-12-31")
    edgar.add_filing(CIK, restated)
    edgar.add_fact(CIK, "us-gaap:Assets", "USD", restated, end="2023-12-31", val=5150.0,
                   fy=2024, fp="Q1")
    third = poll_source(edgar_source(edgar), kafka_brokers, CATALOG, items=["WIDG"],
                        topic_map=renamed)

    # 13 figures and the 3 filings of the list; then the 10-Q/A and its one figure
    assert (first.fetched, first.published, first.known) == (16, 16, 0) and first.ok
    assert (again.published, again.known) == (0, 16) and again.ok
    assert (third.published, third.known) == (2, 16) and third.ok
    filings = [decode("Filing", value) for _, _, _, value in kafka.read_all(kafka_brokers,
                                                                            second_topic)]
    assert [(f.form, f.filed.isoformat()) for f in filings] == [  # type: ignore[attr-defined]
        ("10-K", "2023-11-03"), ("10-Q", "2024-02-02"), ("10-K/A", "2024-03-15"),
        ("10-Q/A", "2024-04-10")]
    records = _on_topic(kafka_brokers, topic)
    assert {key for key, _ in records} == {b"WIDG"}
    assert [(r.value, r.filed.isoformat()) for _, r in records
            if (r.field, r.period) == ("assets", "2024Q1")] == [(5100.0, "2024-02-02"),
                                                                (5150.0, "2024-04-10")]


def test_a_malformed_edgar_ticker_publishes_nothing_and_the_others_go_on(
        edgar: FakeEdgar, kafka_brokers: str, topic: str, second_topic: str) -> None:
    edgar.add_company("GOOD", 1111111, "Good Co")
    edgar.add_filing(1111111, Filing("0001111111-24-000001", "10-K", "2024-02-20",
                                     "2024-02-20T08:00:00.000Z", "2023-12-31"))
    edgar.add_fact(1111111, "us-gaap:Assets", "USD", edgar.filings[1111111][0],
                   end="2023-12-31", val=10.0, fy=2023, fp="FY")
    edgar.tamper[f"/submissions/CIK{CIK:010d}.json"] = lambda doc: b"<html>busy</html>"

    summary = poll_source(edgar_source(edgar), kafka_brokers, CATALOG, items=["WIDG", "GOOD"],
                          topic_map={"market.fundamentals": topic,
                                     "market.filings": second_topic})

    assert list(summary.failed) == ["WIDG"] and "response is not JSON" in summary.failed["WIDG"]
    assert summary.published == 2  # GOOD's figure and its filing
    assert [key for key, _ in _on_topic(kafka_brokers, topic)] == [b"GOOD"]


def test_polling_alphavantage_twice_publishes_nothing_new_and_a_limit_answer_nothing(
        alphavantage: FakeAlphaVantage, kafka_brokers: str, topic: str,
        tmp_path: Path) -> None:
    alphavantage.note_next()
    limited = poll_source(av_source(alphavantage, tmp_path), kafka_brokers, CATALOG,
                          items=["SYNA", "SYNB"], topic_map={"market.fundamentals": topic})
    first = poll_source(av_source(alphavantage, tmp_path), kafka_brokers, CATALOG,
                        items=["SYNA", "SYNB"], topic_map={"market.fundamentals": topic})
    again = poll_source(av_source(alphavantage, tmp_path), kafka_brokers, CATALOG,
                        items=["SYNA", "SYNB"], topic_map={"market.fundamentals": topic})

    assert sorted(limited.failed) == ["SYNA", "SYNB"] and limited.published == 0
    assert "rate limited" in limited.failed["SYNA"] and "not asked" in limited.failed["SYNB"]
    assert (first.published, first.missing, again.published, again.known) == (16, 2, 0, 16)
    assert first.ok and again.ok
    assert len(alphavantage.requests) == 3  # the note, then each ticker once that day
    assert {r.symbol for _, r in _on_topic(kafka_brokers, topic)} == {"SYNA", "SYNB"}


def test_poll_once_polls_edgar_and_alphavantage_when_configured(
        edgar: FakeEdgar, alphavantage: FakeAlphaVantage, kafka_brokers: str, topic: str,
        second_topic: str, tmp_path: Path) -> None:
    environ = {**edgar.env, "NAUTILUS_EDGAR_TICKERS": "widg", **alphavantage.env,
               "NAUTILUS_ALPHAVANTAGE_TICKERS": "SYNA", "ALPHAVANTAGE_DAILY": "off"}
    settings = Settings(state_dir=tmp_path / "state")

    renamed = {"market.fundamentals": topic, "market.filings": second_topic}
    first = poll_once(settings, brokers=kafka_brokers, environ=environ, topic_map=renamed)
    second = poll_once(settings, brokers=kafka_brokers, environ=environ, topic_map=renamed)

    assert [(s.source, s.items, s.published) for s in first if s.off is None] == [
        ("edgar", 1, 13 + 3), ("alphavantage", 1, 8)]
    assert [s.source for s in first if s.off is not None] == [
        "fred", "dbnomics", "yahoo", "datagov", "tradingeconomics"]
    assert [(s.source, s.published) for s in second if s.off is None] == [
        ("edgar", 0), ("alphavantage", 0)]
    assert (tmp_path / "state" / "http-cache" / "alphavantage" / "state.json").exists()
    assert len(alphavantage.requests) == 1
    assert dt.date(2024, 6, 30) in {r.period_end for _, r in _on_topic(kafka_brokers, topic)}


@pytest.mark.parametrize(("argv", "error"), [
    (["feed", "edgar", "--tickers", "AAPL"],
     "source edgar is off: NAUTILUS_EDGAR_USER_AGENT not set (set a name and an email, e.g. "
     "NAUTILUS_EDGAR_USER_AGENT='Jane Doe jane@example.com')"),
    (["feed", "alphavantage", "--tickers", "IBM"],
     "source alphavantage is off: ALPHAVANTAGE_API_KEY not set (a free key: "
     "https://www.alphavantage.co/support/#api-key)"),
])
def test_feed_without_its_variable_is_one_line_and_exit_2(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str],
        error: str) -> None:
    monkeypatch.delenv("NAUTILUS_EDGAR_USER_AGENT", raising=False)
    monkeypatch.delenv("ALPHAVANTAGE_API_KEY", raising=False)

    code = main(argv)

    assert code == 2
    assert capsys.readouterr().err.splitlines() == [f"nautilus-streams feed: error: {error}"]
