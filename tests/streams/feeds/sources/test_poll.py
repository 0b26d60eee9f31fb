"""Polling FRED (the fake) onto the session's real broker: what the topic holds is not
published again, a revision is, a failing series publishes nothing, a source without its key
is off in one line. Records go to a topic of the test's own (see `topic`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams import kafka
from streams.catalog import Catalog
from streams.cli.main import main
from streams.codec import decode
from streams.feeds.sources.poll import SourceSummary, poll_once, poll_source
from streams.schema import MacroObservation
from streams.settings import REPO_ROOT, Settings
from tests.streams.feeds.sources.fake_fred import API_KEY, FakeFred
from tests.streams.feeds.sources.test_fred import fred_source

CATALOG = Catalog.load(REPO_ROOT / "topics.yaml")


@pytest.fixture
def fake() -> Iterator[FakeFred]:
    with FakeFred() as server:
        server.add("DGS10", "2024-01-01", ".", "2024-01-02")
        server.add("DGS10", "2024-01-02", "3.95", "2024-01-03")
        server.add("DGS10", "2024-01-03", "3.91", "2024-01-04")
        server.add("GDPC1", "2023-10-01", "22679.255", "2024-01-25")
        server.add("GDPC1", "2024-01-01", "22758.752", "2024-04-25")
        yield server


def _on_topic(brokers: str, topic: str) -> list[tuple[bytes | None, MacroObservation]]:
    return [(key, decode("MacroObservation", value))  # type: ignore[misc]
            for _, _, key, value in kafka.read_all(brokers, topic)]


def test_polling_twice_publishes_nothing_new_and_a_revision_once(
        fake: FakeFred, kafka_brokers: str, topic: str) -> None:
    items, renamed = ["DGS10", "GDPC1"], {"market.macro": topic}

    first = poll_source(fred_source(fake), kafka_brokers, CATALOG, items=items, topic_map=renamed)
    again = poll_source(fred_source(fake), kafka_brokers, CATALOG, items=items, topic_map=renamed)
    fake.revise("GDPC1", "2024-01-01", "22768.866", on="2024-05-30",
                last_day_before="2024-05-29")
    revised = poll_source(fred_source(fake), kafka_brokers, CATALOG, items=items,
                          topic_map=renamed)

    assert (first.fetched, first.published, first.known, first.missing) == (4, 4, 0, 1)
    assert (again.fetched, again.published, again.known, again.missing) == (4, 0, 4, 1)
    assert (revised.published, revised.known) == (1, 4)
    records = _on_topic(kafka_brokers, topic)
    assert [(key, r.date.isoformat(), r.realtime_start.isoformat(), r.value)
            for key, r in records] == [
        (b"DGS10", "2024-01-02", "2024-01-03", 3.95),
        (b"DGS10", "2024-01-03", "2024-01-04", 3.91),
        (b"GDPC1", "2023-10-01", "2024-01-25", 22679.255),
        (b"GDPC1", "2024-01-01", "2024-04-25", 22758.752),
        (b"GDPC1", "2024-01-01", "2024-05-30", 22768.866),
    ]
    assert first.ok and again.ok and revised.ok


def test_a_failing_series_publishes_nothing_and_the_others_go_on(
        fake: FakeFred, kafka_brokers: str, topic: str) -> None:
    def break_second_page(doc: dict) -> dict:
        if doc["offset"] == 1:
            doc["observations"] = []  # the count says 2: partial
        return doc

    fake.tamper["GDPC1"] = break_second_page
    seen: list[str] = []

    summary = poll_source(fred_source(fake, page_size=1), kafka_brokers, CATALOG,
                          items=["GDPC1", "DGS10"], topic_map={"market.macro": topic},
                          progress=lambda result: seen.append(result.item))

    assert seen == ["GDPC1", "DGS10"]
    assert list(summary.failed) == ["GDPC1"] and "partial payload" in summary.failed["GDPC1"]
    assert summary.published == 2 and not summary.ok
    assert {key for key, _ in _on_topic(kafka_brokers, topic)} == {b"DGS10"}


def test_poll_once_polls_fred_when_its_key_is_set(
        fake: FakeFred, kafka_brokers: str, topic: str, tmp_path: Path) -> None:
    series_file = tmp_path / "series.yaml"
    series_file.write_text("rates:\n  - {id: DGS10, title: 10-year, unit: percent}\n")
    environ = {"FRED_API_KEY": API_KEY, "NAUTILUS_FRED_URL": fake.url,
               "NAUTILUS_FRED_SERIES_FILE": str(series_file)}
    settings = Settings(state_dir=tmp_path / "state")

    first = poll_once(settings, brokers=kafka_brokers, environ=environ,
                      topic_map={"market.macro": topic})
    second = poll_once(settings, brokers=kafka_brokers, environ=environ,
                       topic_map={"market.macro": topic})
    asked = len(fake.requests)
    poll_once(settings, brokers=kafka_brokers, environ=environ,
              topic_map={"market.macro": topic})

    assert [(s.source, s.items, s.published, s.missing) for s in first
            if s.off is None] == [("fred", 1, 2, 1)]
    assert [(s.source, s.published, s.known) for s in second
            if s.off is None] == [("fred", 0, 2)]  # the values valid from 2024-01-04 on
    assert [r.unit for _, r in _on_topic(kafka_brokers, topic)] == ["percent", "percent"]
    assert [(r.path.rsplit("/", 1)[1], r.params["realtime_start"])
            for r in fake.requests[asked:]] == [("vintagedates", "2024-01-04"),
                                                ("observations", "2024-01-04")]
    assert "if-none-match" in fake.requests[-1].headers  # the cache under the state dir


def test_without_keys_every_source_is_off_in_one_line_each(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="streams.feeds.sources"):
        summaries = poll_once(Settings(), environ={})

    off = [("fred", "FRED_API_KEY not set"),
           ("edgar", "NAUTILUS_EDGAR_USER_AGENT not set"),
           ("alphavantage", "ALPHAVANTAGE_API_KEY not set"),
           ("dbnomics", "NAUTILUS_DBNOMICS_SERIES not set"),
           ("yahoo", "NAUTILUS_YAHOO_SYMBOLS not set"),
           ("datagov", "NAUTILUS_DATAGOV_SECURITIES not set"),
           ("tradingeconomics", "TRADINGECONOMICS_API_KEY not set")]
    assert summaries == [SourceSummary(name, off=reason) for name, reason in off]
    assert [r.getMessage() for r in caplog.records] == [
        f"source off source={name} reason={reason}" for name, reason in off]


def test_a_misconfigured_source_is_off_saying_why_without_stopping_the_poll(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    environ = {"FRED_API_KEY": API_KEY, "NAUTILUS_FRED_SERIES_FILE": str(tmp_path / "none")}

    with caplog.at_level(logging.ERROR, logger="streams.feeds.sources"):
        summary, *others = poll_once(Settings(), environ=environ)

    assert summary.source == "fred" and all(s.off is not None for s in others)
    assert summary.off is not None and summary.off.startswith("misconfigured: FRED series file")
    assert len(caplog.records) == 1 and API_KEY not in caplog.text


def test_feed_fred_without_its_key_is_one_line_and_exit_2(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("FRED_API_KEY", raising=False)

    code = main(["feed", "fred", "--series", "DGS10"])

    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        "nautilus-streams feed: error: source fred is off: FRED_API_KEY not set (a free key: "
        "https://fred.stlouisfed.org/docs/api/api_key.html)"]
