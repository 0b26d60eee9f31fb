"""DBnomics, Yahoo, Data.gov and Trading Economics (their fakes) polled from the environment
onto the session's real broker: each publishes its records once, polling again publishes
nothing new, a failing item publishes nothing while the others go on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from streams import kafka
from streams.catalog import Catalog
from streams.cli.main import main
from streams.codec import decode
from streams.feeds.sources.dbnomics import DbnomicsSource
from streams.feeds.sources.poll import poll_once, poll_source
from streams.schema import MacroObservation
from streams.settings import REPO_ROOT, Settings
from tests.streams.feeds.sources.fake_macro import (
    TE_KEY,
    FakeDbnomics,
    FakeFiscalData,
    FakeTradingEconomics,
    FakeYahoo,
    source_from,
)

CATALOG = Catalog.load(REPO_ROOT / "topics.yaml")
ZUTN = "AMECO/ZUTN/EA19.1.0.0.0.ZUTN"


@pytest.fixture
def environ() -> Iterator[dict[str, str]]:
    """The four fakes with a few values each, and the variables that point the sources at them."""
    with ExitStack() as stack:
        dbnomics = stack.enter_context(FakeDbnomics())
        dbnomics.add(ZUTN, "2024-05-16T09:15:30Z", {"2021": 7.7, "2022": "NA", "2023": 6.6})
        yahoo = stack.enter_context(FakeYahoo())
        yahoo.bars["^VIX"] = [(1704205800, 13.2), (1704292200, 14.04)]  # 2 and 3 Jan 2024
        fiscal = stack.enter_context(FakeFiscalData())
        for month, rate in (("2023-10-31", "5.432"), ("2023-11-30", "5.401"),
                            ("2023-12-31", "5.300")):
            fiscal.add("Treasury Bills", month, rate)
        te = stack.enter_context(FakeTradingEconomics())
        te.add("United States", "GDP Growth Rate", "2023-09-30", 4.9, "Quarterly",
               "2023-12-21T13:30:00")
        yield {"NAUTILUS_DBNOMICS_SERIES": ZUTN, "NAUTILUS_DBNOMICS_URL": f"{dbnomics.url}/v22",
               "NAUTILUS_YAHOO_SYMBOLS": "^VIX", "NAUTILUS_YAHOO_URL": yahoo.url,
               "NAUTILUS_DATAGOV_SECURITIES": "Treasury Bills",
               "NAUTILUS_DATAGOV_URL": fiscal.url, "NAUTILUS_DATAGOV_PAGE_SIZE": "2",
               "TRADINGECONOMICS_API_KEY": TE_KEY,
               "NAUTILUS_TRADINGECONOMICS_INDICATORS": "united states/gdp growth rate",
               "NAUTILUS_TRADINGECONOMICS_URL": te.url}


def _on_topic(brokers: str, topic: str) -> list[MacroObservation]:
    return [decode("MacroObservation", value)  # type: ignore[misc]
            for _, _, _, value in kafka.read_all(brokers, topic)]


def test_polling_twice_publishes_each_value_once(
        environ: dict[str, str], kafka_brokers: str, topic: str, tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state")

    first = poll_once(settings, brokers=kafka_brokers, environ=environ,
                      topic_map={"market.macro": topic})
    again = poll_once(settings, brokers=kafka_brokers, environ=environ,
                      topic_map={"market.macro": topic})

    assert [(s.source, s.off) for s in first if s.off is not None] == [
        ("fred", "FRED_API_KEY not set"), ("edgar", "NAUTILUS_EDGAR_USER_AGENT not set"),
        ("alphavantage", "ALPHAVANTAGE_API_KEY not set")]
    assert [(s.source, s.published, s.missing, s.ok) for s in first if s.off is None] == [
        ("dbnomics", 2, 1, True), ("yahoo", 2, 0, True), ("datagov", 3, 0, True),
        ("tradingeconomics", 1, 0, True)]
    assert [(s.source, s.published, s.known) for s in again if s.off is None] == [
        ("dbnomics", 0, 2), ("yahoo", 0, 2), ("datagov", 0, 3), ("tradingeconomics", 0, 1)]
    records = _on_topic(kafka_brokers, topic)
    assert Counter((r.source, r.series) for r in records) == {
        ("dbnomics", ZUTN): 2, ("yahoo", "^VIX"): 2,
        ("datagov", "avg_interest_rates/Treasury Bills"): 3,
        ("tradingeconomics", "united states/gdp growth rate"): 1}


def test_a_failing_series_publishes_nothing_and_the_next_goes_on(
        kafka_brokers: str, topic: str) -> None:
    with FakeDbnomics() as fake:
        fake.add(ZUTN, "2024-05-16T09:15:30Z", {"2021": 7.7, "2022": 7.1})
        fake.add("IMF/CPI/A.AT.PCPIT_IX", "2024-05-16T09:15:30Z", {"2022": 100.0, "2023": 107.8})
        fake.tamper[ZUTN] = lambda doc: {"series": {**doc["series"], "docs": [
            {**doc["series"]["docs"][0], "value": [7.7]}]}}
        source = source_from(DbnomicsSource, {
            "NAUTILUS_DBNOMICS_SERIES": f"{ZUTN},IMF/CPI/A.AT.PCPIT_IX",
            "NAUTILUS_DBNOMICS_URL": f"{fake.url}/v22"})

        summary = poll_source(source, kafka_brokers, CATALOG, topic_map={"market.macro": topic})

    assert list(summary.failed) == [ZUTN] and "partial payload" in summary.failed[ZUTN]
    assert [(r.series, r.value) for r in _on_topic(kafka_brokers, topic)] == [
        ("IMF/CPI/A.AT.PCPIT_IX", 100.0), ("IMF/CPI/A.AT.PCPIT_IX", 107.8)]


def test_a_reindexed_series_publishes_only_the_values_that_changed(
        kafka_brokers: str, topic: str) -> None:
    # DBnomics dates every value from the series' indexing: re-indexed, each period comes
    # back as a new vintage; only a changed value is news
    with FakeDbnomics() as fake:
        fake.add(ZUTN, "2024-05-16T09:15:30Z", {"2021": 7.7, "2022": 7.1, "2023": 6.6})
        source = source_from(DbnomicsSource, {"NAUTILUS_DBNOMICS_SERIES": ZUTN,
                                               "NAUTILUS_DBNOMICS_URL": f"{fake.url}/v22"})
        first = poll_source(source, kafka_brokers, CATALOG, topic_map={"market.macro": topic})
        fake.add(ZUTN, "2024-11-05T10:00:00Z", {"2021": 7.7, "2022": 7.1, "2023": 6.5})
        reindexed = poll_source(source, kafka_brokers, CATALOG, topic_map={"market.macro": topic})
        fake.add(ZUTN, "2025-02-01T10:00:00Z", {"2021": 7.7, "2022": 7.1, "2023": 6.6})
        back = poll_source(source, kafka_brokers, CATALOG, topic_map={"market.macro": topic})

    assert (first.published, reindexed.published, reindexed.known) == (3, 1, 2)
    assert (back.published, back.known) == (1, 2)  # back to an earlier value: a change too
    assert [(r.date.year, r.realtime_start.isoformat(), r.value)
            for r in _on_topic(kafka_brokers, topic)] == [
        (2021, "2024-05-16", 7.7), (2022, "2024-05-16", 7.1), (2023, "2024-05-16", 6.6),
        (2023, "2024-11-05", 6.5), (2023, "2025-02-01", 6.6)]


@pytest.mark.parametrize(("command", "reason"), [
    ("dbnomics", "NAUTILUS_DBNOMICS_SERIES not set"),
    ("yahoo", "NAUTILUS_YAHOO_SYMBOLS not set"),
    ("datagov", "NAUTILUS_DATAGOV_SECURITIES not set"),
    ("tradingeconomics", "TRADINGECONOMICS_API_KEY not set"),
])
def test_feed_of_a_source_that_is_off_is_one_line_and_exit_2(
        command: str, reason: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for variable in ("NAUTILUS_DBNOMICS_SERIES", "NAUTILUS_YAHOO_SYMBOLS",
                     "NAUTILUS_DATAGOV_SECURITIES", "TRADINGECONOMICS_API_KEY"):
        monkeypatch.delenv(variable, raising=False)

    code = main(["feed", command])

    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"nautilus-streams feed: error: source {command} is off: {reason}"]


def test_a_feed_option_stands_for_its_variable_and_is_checked_like_it(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NAUTILUS_DBNOMICS_SERIES", ZUTN)

    code = main(["feed", "dbnomics", "--series", "AMECO/ZUTN"])

    assert code == 2
    assert ("invalid setting NAUTILUS_DBNOMICS_SERIES='AMECO/ZUTN': string should match"
            in capsys.readouterr().err)
