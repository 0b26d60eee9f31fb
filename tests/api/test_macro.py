"""/api/v1/macro and /api/v1/macro/{series} on the real database: each date's vintage as of an
instant (ALFRED's realtime_start), every vintage, sources, pages, 404/409/422."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.params import encode_cursor
from streams.schema import Event
from tests.api.data import day_ns, unique_symbol, write
from tests.factories import event


def observation(series: str, day: str, vintage: str, value: float, source: str = "fred",
                unit: str | None = "percent") -> Event:
    return event("MacroObservation", source=source, series=series, date=day,
                 realtime_start=vintage, value=value, unit=unit, ts_event=day_ns(vintage),
                 ts_init=day_ns(vintage) + 1)


@pytest.fixture
def series(database_url: str) -> Iterator[str]:
    """A series id unique to the test (DBnomics-like: with slashes); its rows deleted after."""
    name = f"TEST/{uuid.uuid4().hex[:8].upper()}/A.B"
    try:
        yield name
    finally:
        with psycopg.connect(database_url) as conn:
            conn.execute("DELETE FROM macro_observations WHERE series = %s", (name,))


def values(client: TestClient, headers: dict, series: str, **params: object) -> list:
    response = client.get(f"/api/v1/macro/{series}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [(o["date"], o["realtime_start"], o["value"]) for o in response.json()["data"]]


def test_as_of_gives_each_date_the_newest_vintage_known_then(
    api_client: TestClient, read_headers: dict, database_url: str, series: str
) -> None:
    # January's value published on 2024-01-05 as 1.0, revised on 2024-02-05 to 1.5;
    # February's first published on 2024-03-05
    write(database_url, observation(series, "2024-01-01", "2024-01-05", 1.0),
          observation(series, "2024-01-01", "2024-02-05", 1.5),
          observation(series, "2024-02-01", "2024-03-05", 2.0))
    jan_first, jan_revised = ("2024-01-01", "2024-01-05", 1.0), ("2024-01-01", "2024-02-05", 1.5)
    february = ("2024-02-01", "2024-03-05", 2.0)

    answers = {as_of: values(api_client, read_headers, series, as_of=as_of) for as_of in (
        "2024-01-01", "2024-01-10", "2024-03-01", "2024-01-04",
        "2024-01-05",  # a date: all of that day, the release of that day included
        "2024-01-04T23:59:59.999999Z", "2024-01-05T00:00:00Z", "2024-01-05T01:00:00+02:00",
        str(day_ns("2024-01-05") - 1), str(day_ns("2024-01-05")),
        "2024-12-31", "")}

    assert answers == {
        "2024-01-01": [], "2024-01-10": [jan_first], "2024-03-01": [jan_revised],
        "2024-01-04": [], "2024-01-05": [jan_first],
        "2024-01-04T23:59:59.999999Z": [], "2024-01-05T00:00:00Z": [jan_first],
        "2024-01-05T01:00:00+02:00": [],  # 23:00 UTC of the day before
        str(day_ns("2024-01-05") - 1): [], str(day_ns("2024-01-05")): [jan_first],
        "2024-12-31": [jan_revised, february], "": [jan_revised, february],
    }
    assert values(api_client, read_headers, series) == [jan_revised, february]


def test_vintages_lists_every_vintage_known_at_as_of(
    api_client: TestClient, read_headers: dict, database_url: str, series: str
) -> None:
    write(database_url, observation(series, "2024-01-01", "2024-01-05", 1.0),
          observation(series, "2024-01-01", "2024-02-05", 1.5),
          observation(series, "2024-02-01", "2024-03-05", 2.0))

    every = values(api_client, read_headers, series, vintages="true")
    then = values(api_client, read_headers, series, vintages="true", as_of="2024-02-10")

    assert every == [("2024-01-01", "2024-01-05", 1.0), ("2024-01-01", "2024-02-05", 1.5),
                     ("2024-02-01", "2024-03-05", 2.0)]
    assert then == every[:2]


def test_an_observation_carries_its_source_unit_and_when_it_became_known(
    api_client: TestClient, read_headers: dict, database_url: str, series: str
) -> None:
    write(database_url, observation(series, "2024-01-01", "2024-01-05", 1.25, unit="index"))

    (record,) = api_client.get(f"/api/v1/macro/{series}", headers=read_headers).json()["data"]

    assert record == {"source": "fred", "series": series, "date": "2024-01-01",
                      "realtime_start": "2024-01-05", "value": 1.25, "unit": "index",
                      "time": "2024-01-05T00:00:00Z", "ts_event": day_ns("2024-01-05")}


@pytest.mark.parametrize("vintages", ["false", "true"])
def test_from_to_bound_the_date_and_pages_neither_skip_nor_repeat(
    api_client: TestClient, read_headers: dict, database_url: str, series: str, vintages: str
) -> None:
    months = [f"2024-{m:02d}-01" for m in range(1, 8)]
    write(database_url, *(observation(series, d, d[:8] + vintage_day, float(i))
                          for i, d in enumerate(months) for vintage_day in ("05", "20")))

    seen, cursor, pages = [], None, 0
    while True:
        params = {"from": "2024-02-01", "to": "2024-07-01", "limit": 3, "vintages": vintages,
                  **({"cursor": cursor} if cursor else {})}
        body = api_client.get(f"/api/v1/macro/{series}", params=params,
                              headers=read_headers).json()
        seen += [(o["date"], o["realtime_start"]) for o in body["data"]]
        pages, cursor = pages + 1, body["next_cursor"]
        if cursor is None:
            break

    kept = months[1:6]  # February to June: `to` is exclusive
    expected = ([(d, d[:8] + "05") for d in kept] + [(d, d[:8] + "20") for d in kept]
                if vintages == "true" else [(d, d[:8] + "20") for d in kept])
    assert seen == sorted(expected)
    assert pages == (4 if vintages == "true" else 2)


def test_a_series_under_two_sources_needs_source(
    api_client: TestClient, read_headers: dict, database_url: str, series: str
) -> None:
    write(database_url, observation(series, "2024-01-01", "2024-01-05", 1.0, source="fred"),
          observation(series, "2024-01-01", "2024-01-06", 7.0, source="dbnomics"))

    ambiguous = api_client.get(f"/api/v1/macro/{series}", headers=read_headers)
    other = api_client.get(f"/api/v1/macro/{series}", params={"source": "edgar"},
                           headers=read_headers)

    assert ambiguous.status_code == 409
    assert ambiguous.json() == {"detail": f"macro series {series!r} is stored under several "
                                          "sources (dbnomics, fred): name one with `source`"}
    assert values(api_client, read_headers, series, source="dbnomics") == [
        ("2024-01-01", "2024-01-06", 7.0)]
    assert other.status_code == 404
    assert other.json() == {"detail": f"no macro series {series!r} of source 'edgar' (it is "
                                      "stored under dbnomics, fred)"}


def test_an_unknown_series_is_404(api_client: TestClient, read_headers: dict) -> None:
    response = api_client.get("/api/v1/macro/NO_SUCH_SERIES", headers=read_headers)

    assert response.status_code == 404
    assert response.json() == {"detail": "unknown macro series 'NO_SUCH_SERIES'"}


def test_the_series_list_says_each_series_dates_unit_and_newest_vintage(
    api_client: TestClient, read_headers: dict, database_url: str, series: str
) -> None:
    write(database_url, observation(series, "2023-12-01", "2024-01-05", 1.0),
          observation(series, "2024-01-01", "2024-02-05", 1.5, unit="index"),
          observation(series, "2023-12-01", "2024-02-05", 1.1, unit="index"),
          observation(series, "2024-01-01", "2024-01-06", 9.0, source="dbnomics", unit=None))

    body = api_client.get("/api/v1/macro", headers=read_headers).json()

    mine = [s for s in body["data"] if s["series"] == series]
    assert mine == [
        {"source": "dbnomics", "series": series, "unit": None, "first_date": "2024-01-01",
         "last_date": "2024-01-01", "newest_vintage": "2024-01-06"},
        {"source": "fred", "series": series, "unit": "index", "first_date": "2023-12-01",
         "last_date": "2024-01-01", "newest_vintage": "2024-02-05"}]
    listed = [(s["source"], s["series"]) for s in body["data"]]
    assert listed == sorted(listed) and body["count"] == len(listed)


@pytest.mark.parametrize("params", [
    {"from": "2024-13-01"}, {"from": "20240101"}, {"to": "2024-01-01T00:00:00Z"},
    {"from": "2024-02-01", "to": "2024-02-01"},
    {"as_of": "yesterday"}, {"as_of": "2024-01-10T00:00:00"}, {"as_of": "-1"},
    {"as_of": str(2**63)}, {"source": "FRED"}, {"source": ""}, {"vintages": "maybe"},
    {"limit": "0"}, {"cursor": "not-a-cursor"},
    {"cursor": encode_cursor(["2024-01-01", "2024-99-05", 0])},  # not a date
    {"cursor": encode_cursor(["2024-01-01", "2024-01-05", 10**18])},  # past the calendar
])
def test_bad_parameters_are_422_naming_them(
    api_client: TestClient, read_headers: dict, database_url: str, series: str, params: dict
) -> None:
    write(database_url, observation(series, "2024-01-01", "2024-01-05", 1.0))

    response = api_client.get(f"/api/v1/macro/{series}", params=params, headers=read_headers)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] in params



async def test_the_macro_and_fundamentals_queries_answer_alike_on_postgresql_and_timescaledb(
    any_database_url: str,
) -> None:
    # macro_observations and fundamentals are hypertables on TimescaleDB: the as-of pick
    # (DISTINCT ON), the series list (a walk of the primary key) and the probes run there too
    from api.queries import fundamentals, macro, market

    series, symbol = f"T{uuid.uuid4().hex[:8].upper()}", unique_symbol("F")
    write(any_database_url, observation(series, "2024-01-01", "2024-01-05", 1.0),
          observation(series, "2024-01-01", "2024-02-05", 1.5),
          event("Fundamental", symbol=symbol, filed="2023-11-03", value=100.0,
                ts_event=day_ns("2023-11-03")),
          event("Fundamental", symbol=symbol, filed="2024-02-01", value=90.0,
                ts_event=day_ns("2024-02-01")))
    try:
        async with await psycopg.AsyncConnection.connect(any_database_url,
                                                         autocommit=True) as conn:
            listed = [s for s in await macro.series_list(conn) if s["series"] == series]
            sources = await macro.sources_of(conn, series)
            as_of = {day: [o["value"] for o in await macro.observations(
                conn, "fred", series, None, None, day_ns(day), False, None, 10)]
                for day in ("2024-01-01", "2024-01-10", "2024-03-01")}
            filed = {day: [f["value"] for f in await fundamentals.figures(
                conn, symbol, None, ["revenue"], None, None, day_ns(day), None, 10)]
                for day in ("2023-11-01", "2024-01-10", "2024-03-01")}
            known = (await market.symbol_in(conn, ["fundamentals"], symbol),
                     await market.symbol_in(conn, ["fundamentals"], unique_symbol("F")))
    finally:
        with psycopg.connect(any_database_url) as conn:
            conn.execute("DELETE FROM macro_observations WHERE series = %s", (series,))
            conn.execute("DELETE FROM fundamentals WHERE symbol = %s", (symbol,))

    assert [(s["first_date"].isoformat(), s["newest_vintage"].isoformat()) for s in listed] \
        == [("2024-01-01", "2024-02-05")]
    assert sources == ["fred"]
    assert as_of == {"2024-01-01": [], "2024-01-10": [1.0], "2024-03-01": [1.5]}
    assert filed == {"2023-11-01": [], "2024-01-10": [100.0], "2024-03-01": [90.0]}
    assert known == (True, False)
