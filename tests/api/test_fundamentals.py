"""/api/v1/fundamentals/{symbol} on the real database: each figure as the latest filing known
at an instant stated it (a restatement counts from its filing on), fields, periods, pages,
404/422."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from streams.schema import Event
from tests.api.data import day_ns, unique_symbol, write
from tests.factories import event


def figure(symbol: str, field: str, period: str, period_end: str, filed: str, value: float,
           form: str = "10-K", source: str = "edgar") -> Event:
    return event("Fundamental", source=source, symbol=symbol, field=field, period=period,
                 period_end=period_end, value=value, filed=filed, form=form,
                 ts_event=day_ns(filed), ts_init=day_ns(filed) + 1)


@pytest.fixture
def symbol(database_url: str) -> Iterator[str]:
    name = unique_symbol("F")
    try:
        yield name
    finally:
        with psycopg.connect(database_url) as conn:
            conn.execute("DELETE FROM fundamentals WHERE symbol = %s", (name,))


def figures(client: TestClient, headers: dict, symbol: str, **params: object) -> list:
    response = client.get(f"/api/v1/fundamentals/{symbol}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [(f["field"], f["period"], f["value"], f["filed"]) for f in response.json()["data"]]


def test_as_of_gives_each_figure_as_the_latest_filing_known_then_stated_it(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    # FY2023 revenue filed as 100 on 2023-11-03, restated to 90 by an amendment of 2024-02-01
    write(database_url,
          figure(symbol, "revenue", "FY2023", "2023-09-30", "2023-11-03", 100.0),
          figure(symbol, "net_income", "FY2023", "2023-09-30", "2023-11-03", 20.0),
          figure(symbol, "revenue", "FY2023", "2023-09-30", "2024-02-01", 90.0, form="10-K/A"))
    net_income = ("net_income", "FY2023", 20.0, "2023-11-03")
    filed, restated = ("revenue", "FY2023", 100.0, "2023-11-03"), \
        ("revenue", "FY2023", 90.0, "2024-02-01")

    answers = {as_of: figures(api_client, read_headers, symbol, as_of=as_of)
               for as_of in ("2023-11-02", "2023-11-03", "2024-01-31T23:59:59Z", "2024-03-01",
                             "")}

    assert answers == {"2023-11-02": [], "2023-11-03": [net_income, filed],
                       "2024-01-31T23:59:59Z": [net_income, filed],
                       "2024-03-01": [net_income, restated], "": [net_income, restated]}


def test_fields_periods_and_sources_narrow_the_figures(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    write(database_url,
          figure(symbol, "revenue", "FY2022", "2022-09-24", "2022-10-28", 80.0),
          figure(symbol, "revenue", "FY2023", "2023-09-30", "2023-11-03", 100.0),
          figure(symbol, "assets", "FY2023", "2023-09-30", "2023-11-03", 350.0),
          figure(symbol, "net_income", "FY2023", "2023-09-30", "2023-11-03", 20.0),
          figure(symbol, "revenue", "FY2023", "2023-09-30", "2023-11-10", 101.0,
                 form=None, source="alphavantage"))

    def fields(**params: object) -> list:
        response = api_client.get(f"/api/v1/fundamentals/{symbol}", params=params,
                                  headers=read_headers)
        assert response.status_code == 200, response.text
        return [(f["source"], f["field"], f["period"]) for f in response.json()["data"]]

    assert fields() == [("edgar", "assets", "FY2023"), ("edgar", "net_income", "FY2023"),
                        ("edgar", "revenue", "FY2022"), ("alphavantage", "revenue", "FY2023"),
                        ("edgar", "revenue", "FY2023")]
    assert fields(field="revenue", source="edgar") == [("edgar", "revenue", "FY2022"),
                                                       ("edgar", "revenue", "FY2023")]
    assert fields(field=["assets", "net_income"]) == fields(field="assets, net_income") == [
        ("edgar", "assets", "FY2023"), ("edgar", "net_income", "FY2023")]
    assert fields(field="") == fields()
    assert fields(field="revenue", **{"from": "2023-01-01", "to": "2023-09-30"}) == []
    assert fields(field="revenue", **{"from": "2023-01-01", "to": "2023-10-01"}) == [
        ("alphavantage", "revenue", "FY2023"), ("edgar", "revenue", "FY2023")]
    assert fields(field="dividends") == []  # a known symbol: nothing of that field


def test_pages_neither_skip_nor_repeat(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    quarters = [(f"{y}Q{q}", f"{y}-{3 * q:02d}-28") for y in (2022, 2023) for q in (1, 2, 3, 4)]
    write(database_url, *(figure(symbol, "revenue", period, end, "2024-02-01", float(i),
                                 form="10-Q") for i, (period, end) in enumerate(quarters)))

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = api_client.get(f"/api/v1/fundamentals/{symbol}", params=params,
                              headers=read_headers).json()
        seen += [f["period"] for f in body["data"]]
        pages, cursor = pages + 1, body["next_cursor"]
        if cursor is None:
            break

    assert (pages, seen) == (3, [period for period, _ in quarters])


def test_an_unknown_symbol_is_404(api_client: TestClient, read_headers: dict) -> None:
    response = api_client.get("/api/v1/fundamentals/NO_SUCH", headers=read_headers)

    assert response.status_code == 404
    assert response.json() == {"detail": "unknown symbol 'NO_SUCH': no fundamentals of it are "
                                         "stored"}


@pytest.mark.parametrize("params", [
    {"from": "2023-02-30"}, {"from": "2024-01-01", "to": "2023-01-01"}, {"as_of": "soon"},
    {"source": "Edgar"}, {"field": "a\x00b"}, {"limit": "1001"}, {"cursor": "bm9wZQ"},
])
def test_bad_parameters_are_422_naming_them(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str, params: dict
) -> None:
    write(database_url, figure(symbol, "revenue", "FY2023", "2023-09-30", "2023-11-03", 1.0))

    response = api_client.get(f"/api/v1/fundamentals/{symbol}", params=params,
                              headers=read_headers)

    assert response.status_code == 422, response.text
    assert set(params) & set(response.json()["detail"][0]["loc"])  # ["query", "field", 0]


def test_a_symbol_outside_the_symbol_pattern_is_422(
    api_client: TestClient, read_headers: dict
) -> None:
    response = api_client.get("/api/v1/fundamentals/A%20B", headers=read_headers)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "symbol"]
