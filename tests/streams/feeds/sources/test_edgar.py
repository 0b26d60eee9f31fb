"""The EDGAR source against the fake EDGAR (the SEC's documented JSON): ticker map, company
facts to records with known answers, fiscal periods, restatements, acceptance times, the
User-Agent, the rate limit, malformed and partial payloads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from streams.exceptions import ConfigError
from streams.feeds.sources.base import read_config
from streams.feeds.sources.edgar import EdgarSource
from streams.feeds.sources.exceptions import FetchError, PayloadError
from streams.feeds.sources.http import HttpFetcher, HttpPolicy, TokenBucket
from streams.schema import Fundamental
from tests.streams.feeds.sources.fake_edgar import USER_AGENT, FakeEdgar, Filing

CIK = 1234567
ANNUAL = Filing("0001234567-23-000010", "10-K", "2023-11-03", "2023-11-02T18:05:12.000Z",
                "2023-09-30")
QUARTER = Filing("0001234567-24-000002", "10-Q", "2024-02-02", "2024-02-01T16:30:00.000Z",
                 "2023-12-31")
AMENDED = Filing("0001234567-24-000007", "10-K/A", "2024-03-15", "2024-03-15T09:00:00.000Z",
                 "2023-09-30")


def _ns(utc: str) -> int:
    return int(dt.datetime.fromisoformat(utc).replace(tzinfo=dt.UTC).timestamp()) * 10**9


def widget_works(fake: FakeEdgar) -> None:
    """A synthetic filer whose fiscal year ends on 30 September: a 10-K for FY2023, the 10-Q
    of 2024Q1, and a 10-K/A restating FY2023's revenue."""
    fake.add_company("WIDG", CIK, "Widget Works Inc")
    fake.add_company("OTHR", 7654321, "Other Co")
    for filing in (ANNUAL, QUARTER, AMENDED):
        fake.add_filing(CIK, filing)
    fy23, fy22 = ("2022-10-01", "2023-09-30"), ("2021-10-01", "2022-09-30")
    for concept, (start, end), val in [("us-gaap:Revenues", fy23, 1000.0),
                                       ("us-gaap:Revenues", fy22, 900.0),
                                       ("us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax",
                                        fy23, 980.0),
                                       ("us-gaap:NetIncomeLoss", fy23, 100.0),
                                       ("us-gaap:NetCashProvidedByUsedInOperatingActivities",
                                        fy23, 150.0)]:
        fake.add_fact(CIK, concept, "USD", ANNUAL, start=start, end=end, val=val, fy=2023,
                      fp="FY")
    fake.add_fact(CIK, "us-gaap:Assets", "USD", ANNUAL, end="2023-09-30", val=5000.0,
                  fy=2023, fp="FY")
    fake.add_fact(CIK, "us-gaap:Assets", "USD", ANNUAL, end="2022-09-30", val=4500.0,
                  fy=2023, fp="FY")
    fake.add_fact(CIK, "us-gaap:StockholdersEquity", "USD", ANNUAL, end="2023-09-30",
                  val=2000.0, fy=2023, fp="FY")
    fake.add_fact(CIK, "dei:EntityCommonStockSharesOutstanding", "shares", ANNUAL,
                  end="2023-10-20", val=150_000_000, fy=2023, fp="FY")
    # the 10-Q tags only ASC 606's revenue concept, with the year-ago quarter beside it
    asc606 = "us-gaap:RevenueFromContractWithCustomerExcludingAssessedTax"
    fake.add_fact(CIK, asc606, "USD", QUARTER, start="2023-10-01", end="2023-12-31",
                  val=260.0, fy=2024, fp="Q1")
    fake.add_fact(CIK, asc606, "USD", QUARTER, start="2022-10-01", end="2022-12-31",
                  val=240.0, fy=2024, fp="Q1")
    for end, val in [("2023-12-31", 5100.0), ("2023-09-30", 5000.0)]:
        fake.add_fact(CIK, "us-gaap:Assets", "USD", QUARTER, end=end, val=val, fy=2024,
                      fp="Q1")
    fake.add_fact(CIK, "us-gaap:Revenues", "USD", AMENDED, start=fy23[0], end=fy23[1],
                  val=990.0, fy=2023, fp="FY")


@pytest.fixture
def fake() -> Iterator[FakeEdgar]:
    with FakeEdgar() as server:
        widget_works(server)
        yield server


def edgar_source(fake: FakeEdgar, **env: str) -> EdgarSource:
    """The source as `open_source` makes it, without waits."""
    config = read_config(EdgarSource, {**fake.env, **env})
    assert not isinstance(config, str)
    http = HttpFetcher("edgar", HttpPolicy(backoff_s=0.0), TokenBucket(1_000, 1_000),
                       headers=EdgarSource.http_headers(config), sleep=lambda s: None)
    return EdgarSource(config, http)  # type: ignore[arg-type]


def _rows(source: EdgarSource, ticker: str = "WIDG",
          since: dt.date | None = None) -> list[tuple]:
    fetched = source.fetch(ticker, since=since, ts_init=7)
    return [(r.field, r.period, r.period_end.isoformat(), r.value, r.unit, r.filed.isoformat(),
             r.form, r.ts_event) for r in fetched.records if isinstance(r, Fundamental)]


def test_company_facts_become_one_record_per_fact_and_filing(fake: FakeEdgar) -> None:
    annual, quarter = _ns("2023-11-02T22:05:12"), _ns("2024-02-01T21:30:00")  # EDT, EST

    rows = _rows(edgar_source(fake))

    assert rows == [
        ("assets", "FY2022", "2022-09-30", 4500.0, "USD", "2023-11-03", "10-K", annual),
        ("assets", "FY2023", "2023-09-30", 5000.0, "USD", "2023-11-03", "10-K", annual),
        ("equity", "FY2023", "2023-09-30", 2000.0, "USD", "2023-11-03", "10-K", annual),
        ("net_income", "FY2023", "2023-09-30", 100.0, "USD", "2023-11-03", "10-K", annual),
        ("operating_cash_flow", "FY2023", "2023-09-30", 150.0, "USD", "2023-11-03", "10-K",
         annual),
        ("revenue", "FY2022", "2022-09-30", 900.0, "USD", "2023-11-03", "10-K", annual),
        ("revenue", "FY2023", "2023-09-30", 1000.0, "USD", "2023-11-03", "10-K", annual),
        ("shares_outstanding", "FY2023", "2023-10-20", 150e6, "shares", "2023-11-03", "10-K",
         annual),
        ("assets", "FY2023", "2023-09-30", 5000.0, "USD", "2024-02-02", "10-Q", quarter),
        ("assets", "2024Q1", "2023-12-31", 5100.0, "USD", "2024-02-02", "10-Q", quarter),
        ("revenue", "2023Q1", "2022-12-31", 240.0, "USD", "2024-02-02", "10-Q", quarter),
        ("revenue", "2024Q1", "2023-12-31", 260.0, "USD", "2024-02-02", "10-Q", quarter),
        ("revenue", "FY2023", "2023-09-30", 990.0, "USD", "2024-03-15", "10-K/A",
         _ns("2024-03-15T13:00:00")),
    ]


def test_a_restatement_is_a_second_record_of_the_period(fake: FakeEdgar) -> None:
    rows = [r for r in _rows(edgar_source(fake)) if r[:2] == ("revenue", "FY2023")]

    assert [(value, filed) for _, _, _, value, _, filed, _, _ in rows] == [
        (1000.0, "2023-11-03"), (990.0, "2024-03-15")]


def test_an_annual_reports_fourth_quarter_is_a_period_beside_the_year(
        fake: FakeEdgar) -> None:
    fake.add_fact(CIK, "us-gaap:NetIncomeLoss", "USD", ANNUAL, start="2023-07-01",
                  end="2023-09-30", val=31.0, fy=2023, fp="FY")

    rows = [r for r in _rows(edgar_source(fake)) if r[0] == "net_income"]

    assert [r[:4] for r in rows] == [("net_income", "FY2023", "2023-09-30", 100.0),
                                     ("net_income", "2023Q4", "2023-09-30", 31.0)]


def test_a_filing_missing_from_the_filings_list_is_dated_at_the_end_of_its_day(
        fake: FakeEdgar) -> None:
    fake.filings[CIK].remove(QUARTER)

    rows = [r for r in _rows(edgar_source(fake)) if r[6] == "10-Q"]

    assert {r[7] for r in rows} == {_ns("2024-02-03T00:00:00") - 1}


def test_year_to_date_figures_and_other_units_are_left_out(fake: FakeEdgar) -> None:
    half = Filing("0001234567-24-000011", "10-Q", "2024-05-03", "2024-05-02T16:05:00.000Z",
                  "2024-03-31")
    fake.add_filing(CIK, half)
    fake.add_fact(CIK, "us-gaap:NetIncomeLoss", "USD", half, start="2024-01-01",
                  end="2024-03-31", val=30.0, fy=2024, fp="Q2")
    fake.add_fact(CIK, "us-gaap:NetIncomeLoss", "USD", half, start="2023-10-01",
                  end="2024-03-31", val=55.0, fy=2024, fp="Q2")  # six months to date
    fake.add_fact(CIK, "us-gaap:Assets", "EUR", half, end="2024-03-31", val=4800.0, fy=2024,
                  fp="Q2")

    rows = [r for r in _rows(edgar_source(fake)) if r[5] == "2024-05-03"]

    assert [r[:4] for r in rows] == [("net_income", "2024Q2", "2024-03-31", 30.0)]


def test_an_amendment_of_last_years_figure_only_labels_it_last_year(fake: FakeEdgar) -> None:
    amended = Filing("0001234567-24-000030", "10-K/A", "2024-06-03", "2024-06-03T12:00:00.000Z",
                     "2023-09-30")  # amends the FY2023 10-K, restating FY2022's revenue only
    fake.add_filing(CIK, amended)
    fake.add_fact(CIK, "us-gaap:Revenues", "USD", amended, start="2021-10-01",
                  end="2022-09-30", val=905.0, fy=2023, fp="FY")

    rows = [r for r in _rows(edgar_source(fake)) if r[5] == "2024-06-03"]

    assert [r[:4] for r in rows] == [("revenue", "FY2022", "2022-09-30", 905.0)]


def test_since_keeps_periods_ending_on_or_after_it(fake: FakeEdgar) -> None:
    rows = _rows(edgar_source(fake), since=dt.date(2023, 12, 31))

    assert {(r[0], r[2]) for r in rows} == {("assets", "2023-12-31"), ("revenue", "2023-12-31")}


def test_the_declared_user_agent_goes_with_every_request_and_older_filings_are_read(
        fake: FakeEdgar) -> None:
    fake.recent = 2  # the 10-K is on the older page

    rows = _rows(edgar_source(fake))

    assert {r[7] for r in rows if r[6] == "10-K"} == {_ns("2023-11-02T22:05:12")}
    assert [q.path for q in fake.requests] == [
        "/files/company_tickers.json", f"/api/xbrl/companyfacts/CIK{CIK:010d}.json",
        f"/submissions/CIK{CIK:010d}.json", f"/submissions/CIK{CIK:010d}-submissions-001.json"]
    assert {q.headers["user-agent"] for q in fake.requests} == {USER_AGENT}


def test_the_older_filings_page_is_not_read_when_the_recent_list_has_every_filing(
        fake: FakeEdgar) -> None:
    fake.recent = 2  # the 10-K is on the older page

    _rows(edgar_source(fake), since=dt.date(2023, 11, 1))  # the 10-Q's facts only

    assert [q.path for q in fake.requests][-1] == f"/submissions/CIK{CIK:010d}.json"


def test_the_ticker_map_is_fetched_once_per_source(fake: FakeEdgar) -> None:
    source = edgar_source(fake)
    fake.facts.pop(7654321)  # OTHR files no XBRL: no company facts

    source.fetch("WIDG", since=None, ts_init=7)
    with pytest.raises(FetchError, match=r"HTTP 404"):
        source.fetch("OTHR", since=None, ts_init=7)

    assert [q.path for q in fake.requests].count("/files/company_tickers.json") == 1


def test_without_a_user_agent_edgar_is_off_naming_the_variable() -> None:
    assert read_config(EdgarSource, {}) == "NAUTILUS_EDGAR_USER_AGENT not set"


@pytest.mark.parametrize("agent", ["Nautilus", "tests@example.com", "Nautilus tests@example"])
def test_a_user_agent_without_a_name_and_an_email_is_refused(agent: str) -> None:
    with pytest.raises(ConfigError, match=rf"NAUTILUS_EDGAR_USER_AGENT='{agent}'"):
        read_config(EdgarSource, {"NAUTILUS_EDGAR_USER_AGENT": agent})


def test_tickers_are_read_upper_cased_and_checked() -> None:
    config = read_config(EdgarSource, {"NAUTILUS_EDGAR_USER_AGENT": USER_AGENT,
                                       "NAUTILUS_EDGAR_TICKERS": "aapl, BRK-B"})
    assert config.tickers == ("AAPL", "BRK-B")  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"NAUTILUS_EDGAR_TICKERS='AAPL,\$\$': .*not a ticker"):
        read_config(EdgarSource, {"NAUTILUS_EDGAR_USER_AGENT": USER_AGENT,
                                  "NAUTILUS_EDGAR_TICKERS": "AAPL,$$"})


def test_the_rate_limit_never_allows_more_than_10_requests_in_a_second() -> None:
    now = [0.0]
    bucket = TokenBucket(EdgarSource.requests_per_s, EdgarSource.burst, clock=lambda: now[0],
                         sleep=lambda s: now.__setitem__(0, now[0] + s))
    sent = []
    for _ in range(100):
        bucket.take()
        sent.append(now[0])

    assert max(sum(1 for t in sent if start <= t <= start + 1.0) for start in sent) <= 10
    assert sent[-1] < 12.0  # and does not crawl: 100 requests in 11 s


def _drop_end_of_a_fact(doc: dict) -> dict:
    del doc["facts"]["us-gaap"]["Assets"]["units"]["USD"][0]["end"]
    return doc


def _drop_an_acceptance_time(doc: dict) -> dict:
    doc["filings"]["recent"]["acceptanceDateTime"].pop()
    return doc


def _drop_a_start(doc: dict) -> dict:
    del doc["facts"]["us-gaap"]["NetIncomeLoss"]["units"]["USD"][0]["start"]
    return doc


FACTS, FILINGS = f"/api/xbrl/companyfacts/CIK{CIK:010d}.json", f"/submissions/CIK{CIK:010d}.json"


@pytest.mark.parametrize(("path", "tamper", "error"), [
    (FACTS, _drop_end_of_a_fact, r"EDGAR WIDG company facts: malformed payload: "
                                 r"us-gaap:Assets: units.USD.0.end: Field required"),
    (FACTS, lambda doc: {"cik": CIK}, r"EDGAR WIDG company facts: malformed payload: no `facts`"),
    (FACTS, lambda doc: b'{"cik": 1234567, "facts": {', r"company facts: response is not JSON"),
    (FACTS, _drop_a_start, r"a duration ending 2023-09-30 has no start"),
    (FILINGS, _drop_an_acceptance_time, r"EDGAR WIDG filings: 3 accession numbers, 2 "
                                        r"acceptance times, 3 report dates, 3 forms, .* "
                                        r"\(partial payload\)"),
    ("/files/company_tickers.json", lambda doc: {"0": {"ticker": "WIDG"}},
     r"EDGAR ticker map: malformed payload: 0.cik_str: Field required"),
])
def test_a_malformed_or_partial_payload_fails_the_ticker_with_a_clear_error(
        fake: FakeEdgar, path: str, tamper, error: str) -> None:  # type: ignore[no-untyped-def]
    fake.tamper[path] = tamper

    with pytest.raises(PayloadError, match=error):
        edgar_source(fake).fetch("WIDG", since=None, ts_init=7)


def test_a_class_share_is_found_as_the_sec_spells_it(fake: FakeEdgar) -> None:
    fake.add_company("WIDG-B", CIK, "Widget Works Inc")

    fetched = edgar_source(fake).fetch("widg.b", since=None, ts_init=7)

    assert {r.symbol for r in fetched.records} == {"WIDG.B"}  # type: ignore[union-attr]


def test_an_unknown_ticker_is_a_clear_error(fake: FakeEdgar) -> None:
    with pytest.raises(PayloadError, match=r"ticker NOPE is not in the SEC's ticker map"):
        edgar_source(fake).fetch("NOPE", since=None, ts_init=7)
