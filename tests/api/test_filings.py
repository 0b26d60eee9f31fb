"""/api/v1/filings/{symbol} on the real database: a company's filings newest first by EDGAR's
acceptance, only those accepted by `as_of`, forms, filing days, pages, document URLs,
404/422."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.params import encode_cursor
from streams.schema import Event
from tests.api.data import unique_symbol, utc_ns, write
from tests.factories import event

CIK = 1234567


# (accession, form, filed, accepted in UTC, primary document); EDGAR's acceptance times are
# New York's: 18:05:12 EDT is 22:05:12 UTC, 16:30 EST 21:30 UTC, 09:00 and 12:00 EDT 13:00
# and 16:00 UTC. The 10-Q and the 8-K were accepted at the same second.
ANNUAL = ("0001234567-23-000010", "10-K", "2023-11-03", "2023-11-02T22:05:12Z", "a-10k.htm")
QUARTER = ("0001234567-24-000002", "10-Q", "2024-02-01", "2024-02-01T21:30:00Z", "a-10q.htm")
EARNINGS = ("0001234567-24-000005", "8-K", "2024-02-01", "2024-02-01T21:30:00Z", "a-8k.htm")
INSIDER = ("0001234567-24-000009", "4", "2024-03-15", "2024-03-15T13:00:00Z",
           "xslF345X05/wk-form4_1710507600.xml")
AMENDED = ("0001234567-24-000007", "10-K/A", "2024-03-15", "2024-03-15T16:00:00Z", None)
NEWEST_FIRST = [AMENDED, INSIDER, QUARTER, EARNINGS, ANNUAL]


def filing(symbol: str, accession: str, form: str, filed: str, accepted: str,
           primary_document: str | None, source: str = "edgar") -> Event:
    return event("Filing", source=source, symbol=symbol, cik=CIK, accession=accession,
                 form=form, filed=filed, report_date=None, primary_document=primary_document,
                 description=None, items="2.02,9.01" if form == "8-K" else None,
                 ts_event=utc_ns(accepted), ts_init=utc_ns(accepted) + 1)


@pytest.fixture
def symbol(database_url: str) -> Iterator[str]:
    name = unique_symbol("S")
    try:
        yield name
    finally:
        with psycopg.connect(database_url) as conn:
            conn.execute("DELETE FROM filings WHERE symbol = %s", (name,))


@pytest.fixture
def stored(database_url: str, symbol: str) -> str:
    """The symbol, with the five filings stored."""
    write(database_url, *(filing(symbol, *f) for f in NEWEST_FIRST))
    return symbol


def answer(client: TestClient, headers: dict, symbol: str, **params: object) -> dict:
    response = client.get(f"/api/v1/filings/{symbol}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def accessions(client: TestClient, headers: dict, symbol: str, **params: object) -> list:
    return [f["accession"] for f in answer(client, headers, symbol, **params)["data"]]


def listed(*filings: tuple) -> list[str]:
    return [f[0] for f in filings]


def test_filings_come_newest_first_with_the_url_of_their_document(
    api_client: TestClient, read_headers: dict, stored: str
) -> None:
    data = answer(api_client, read_headers, stored)["data"]

    # the tie at 21:30 goes by accession number
    assert [f["accession"] for f in data] == listed(*NEWEST_FIRST)
    assert data[3] == {
        "source": "edgar", "symbol": stored, "cik": CIK, "accession": "0001234567-24-000005",
        "form": "8-K", "filed": "2024-02-01", "report_date": None,
        "primary_document": "a-8k.htm", "description": None, "items": "2.02,9.01",
        "url": "https://www.sec.gov/Archives/edgar/data/1234567/000123456724000005/a-8k.htm",
        "time": "2024-02-01T21:30:00Z", "ts_event": 1_706_823_000_000_000_000}
    # a form 4's document lies in a folder of the filing; no document, no URL
    assert data[1]["url"] == ("https://www.sec.gov/Archives/edgar/data/1234567/"
                              "000123456724000009/xslF345X05/wk-form4_1710507600.xml")
    assert (data[0]["form"], data[0]["url"]) == ("10-K/A", None)


def test_as_of_hides_a_filing_until_edgar_accepted_it(
    api_client: TestClient, read_headers: dict, stored: str
) -> None:
    # the 10-Q and the 8-K: accepted at 16:30 New York time on 2024-02-01, 21:30 UTC (winter)
    accepted = utc_ns("2024-02-01T21:30:00+00:00")

    answers = {as_of: accessions(api_client, read_headers, stored, as_of=as_of) for as_of in (
        "2023-11-02T22:05:11Z", "2024-02-01T16:29:59-05:00", str(accepted - 1), str(accepted),
        "2024-02-01T16:30:00-05:00", "2024-02-01", "2024-03-15T12:59:59Z", "")}

    before, after = listed(ANNUAL), listed(QUARTER, EARNINGS, ANNUAL)
    assert answers == {
        "2023-11-02T22:05:11Z": [], "2024-02-01T16:29:59-05:00": before,
        str(accepted - 1): before, str(accepted): after, "2024-02-01T16:30:00-05:00": after,
        "2024-02-01": after, "2024-03-15T12:59:59Z": after,
        "": listed(*NEWEST_FIRST)}


def test_forms_sources_and_filing_days_narrow_the_filings(
    api_client: TestClient, read_headers: dict, database_url: str, stored: str
) -> None:
    write(database_url, filing(stored, "0009999999-24-000001", "8-K", "2024-02-05",
                               "2024-02-05T15:00:00Z", None, source="other"))

    def forms(**params: object) -> list:
        return [(f["source"], f["form"]) for f in answer(api_client, read_headers, stored,
                                                         **params)["data"]]

    assert forms(form="10-K") == [("edgar", "10-K")]  # exact: not its amendment
    assert forms(form=["10-K", "10-K/A"]) == forms(form="10-K, 10-K/A") == [
        ("edgar", "10-K/A"), ("edgar", "10-K")]
    assert forms(form="8-K") == [("other", "8-K"), ("edgar", "8-K")]
    assert forms(form="8-K", source="edgar") == [("edgar", "8-K")]
    assert forms(form="") == forms() and len(forms()) == 6
    assert forms(form="10-k") == []  # a known symbol: nothing of that form
    assert forms(**{"from": "2024-02-01", "to": "2024-03-15"}) == [
        ("other", "8-K"), ("edgar", "10-Q"), ("edgar", "8-K")]
    assert forms(**{"from": "2024-03-15"}) == [("edgar", "10-K/A"), ("edgar", "4")]
    assert forms(to="2024-02-01") == [("edgar", "10-K")]


@pytest.mark.parametrize("params", [{}, {"form": "10-K,10-Q,8-K"},
                                    {"as_of": "2024-03-15T12:00:00Z"}])
def test_pages_neither_skip_nor_repeat_even_within_one_second(
    api_client: TestClient, read_headers: dict, stored: str, params: dict
) -> None:
    whole = answer(api_client, read_headers, stored, **params)["data"]

    pages = {}
    for limit in (1, 2, 3):  # the two filings of 21:30 on one page, then on two
        paged, cursor = [], None
        while True:
            body = answer(api_client, read_headers, stored, limit=limit, **params,
                          **({"cursor": cursor} if cursor else {}))
            paged += body["data"]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        pages[limit] = paged

    assert len(whole) >= 3 and pages == {1: whole, 2: whole, 3: whole}


def test_an_unknown_symbol_is_404_and_a_known_one_before_its_first_filing_is_empty(
    api_client: TestClient, read_headers: dict, stored: str
) -> None:
    unknown = api_client.get("/api/v1/filings/NO_SUCH", headers=read_headers)

    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "unknown symbol 'NO_SUCH': no filings of it are stored"}
    assert answer(api_client, read_headers, stored, as_of="2023-01-01")["data"] == []


@pytest.mark.parametrize("params", [
    {"from": "2024-02-30"}, {"from": "2024-03-05", "to": "2024-03-01"}, {"as_of": "soon"},
    {"source": "EDGAR"}, {"form": "8-K\x00"}, {"limit": "0"}, {"cursor": "bm9wZQ"},
    {"cursor": encode_cursor(["2024-03-01", "0001234567-24-000005", "edgar"])},  # not µs
    {"cursor": encode_cursor([2**62, "0001234567-24-000005", "edgar"])},  # past the calendar
    {"cursor": encode_cursor([-2**62, "0001234567-24-000005", "edgar"])},  # before it
])
def test_bad_parameters_are_422_naming_them(
    api_client: TestClient, read_headers: dict, stored: str, params: dict
) -> None:
    response = api_client.get(f"/api/v1/filings/{stored}", params=params,
                              headers=read_headers)

    assert response.status_code == 422, response.text
    assert set(params) & set(response.json()["detail"][0]["loc"])  # ["query", "form", 0]


async def test_the_filings_query_answers_alike_on_postgresql_and_timescaledb(
    any_database_url: str,
) -> None:
    # filings is a compressed hypertable on TimescaleDB: the order, the cursor and the
    # symbol probe run there too
    from api.params import cursor_time
    from api.queries import filings, market

    symbol = unique_symbol("S")
    write(any_database_url, *(filing(symbol, *f) for f in NEWEST_FIRST))
    try:
        async with await psycopg.AsyncConnection.connect(any_database_url,
                                                         autocommit=True) as conn:
            pages = [[f["accession"] for f in await filings.filings(
                conn, symbol, None, forms, None, None, as_of, after, 10)]
                for forms, as_of, after in (
                    ((), utc_ns("2024-02-01T21:30:00Z"), None),
                    (("10-Q", "8-K", "10-K"), None, (
                        cursor_time(utc_ns(QUARTER[3]) // 1000), QUARTER[0], "edgar")))]
            known = (await market.symbol_in(conn, ["filings"], symbol),
                     await market.symbol_in(conn, ["filings"], unique_symbol("S")))
    finally:
        with psycopg.connect(any_database_url) as conn:
            conn.execute("DELETE FROM filings WHERE symbol = %s", (symbol,))

    assert pages == [listed(QUARTER, EARNINGS, ANNUAL), listed(EARNINGS, ANNUAL)]
    assert known == (True, False)
