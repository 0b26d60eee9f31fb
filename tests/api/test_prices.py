"""/api/v1/prices/{symbol} on the real database: each day as the vendor's newest record known
at an instant said it, and its close adjusted (CRSP) for the dividends and splits of the
later days known then, computed by hand here; sources, dates, pages, 404/422."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.params import encode_cursor
from streams.feeds.sources.parsing import day_end_ns
from streams.schema import Event
from tests.api.data import day_ns, unique_symbol, write
from tests.factories import event

# Four days of one vendor: 0.80 dividend ex on 03-04 (earlier prices times
# 1 - 0.80 / 80.00 = 0.99), three for one on 03-05 (earlier prices times 1/3)
DAYS = [("2024-03-01", "80.00", "0", 1.0), ("2024-03-04", "81.00", "0.80", 1.0),
        ("2024-03-05", "27.30", "0", 3.0), ("2024-03-06", "27.50", "0", 1.0)]
ADJUSTED = {"2024-03-01": 80.0 * 0.99 / 3, "2024-03-04": 81.0 / 3, "2024-03-05": 27.3,
            "2024-03-06": 27.5}


def day(symbol: str, on: str, close: str, dividend: str | None = "0", split: float | None = 1.0,
        source: str = "alphavantage", known: int | None = None) -> Event:
    """A vendor's day, known at the end of it unless `known` (ns) says later."""
    ts_event = known if known is not None else day_end_ns(date.fromisoformat(on))
    return event("DailyPrice", source=source, symbol=symbol, date=on, open=close, high=close,
                 low=close, close=close, volume=1_000, dividend=dividend, split=split,
                 ts_event=ts_event, ts_init=ts_event + 1)


@pytest.fixture
def symbol(database_url: str) -> Iterator[str]:
    name = unique_symbol("P")
    try:
        yield name
    finally:
        with psycopg.connect(database_url) as conn:
            conn.execute("DELETE FROM daily_prices WHERE symbol = %s", (name,))


def answer(client: TestClient, headers: dict, symbol: str, **params: object) -> dict:
    response = client.get(f"/api/v1/prices/{symbol}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def adjusted(client: TestClient, headers: dict, symbol: str, **params: object) -> dict:
    """date -> adjusted close (None where unknown) of one source's answer."""
    return {d["date"]: d["adjusted_close"]
            for d in answer(client, headers, symbol, **params)["data"]}


def test_a_dividend_then_a_split_adjust_every_earlier_close_as_crsp_defines(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    write(database_url, *(day(symbol, *d) for d in DAYS))

    data = answer(api_client, read_headers, symbol)["data"]

    assert {d["date"]: d["adjusted_close"] for d in data} == pytest.approx(ADJUSTED)
    assert data[1] == {
        "source": "alphavantage", "symbol": symbol, "date": "2024-03-04", "open": "81.00",
        "high": "81.00", "low": "81.00", "close": "81.00", "volume": 1_000, "dividend": "0.80",
        "split": 1.0, "adjusted_close": pytest.approx(27.0), "time": "2024-03-04T23:59:59.999999Z",
        "ts_event": day_end_ns(date(2024, 3, 4))}


def test_as_of_adjusts_only_for_the_actions_known_then(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    write(database_url, *(day(symbol, *d) for d in DAYS))

    answers = {as_of: adjusted(api_client, read_headers, symbol, as_of=as_of) for as_of in (
        "2024-02-29", "2024-03-01", "2024-03-04T12:00:00Z", "2024-03-04", "2024-03-05")}

    assert answers == {
        "2024-02-29": {},
        "2024-03-01": {"2024-03-01": 80.0},
        # the dividend's day is not over: the earlier close is as it was
        "2024-03-04T12:00:00Z": {"2024-03-01": 80.0},
        "2024-03-04": {"2024-03-01": pytest.approx(79.2), "2024-03-04": 81.0},
        "2024-03-05": {"2024-03-01": pytest.approx(26.4), "2024-03-04": pytest.approx(27.0),
                       "2024-03-05": 27.3}}


def test_a_correction_replaces_the_day_from_its_time_on(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    # the vendor first said nothing went ex on 03-04, then (on 03-08) that 0.80 did
    corrected_at = day_ns("2024-03-08")
    first, *rest = DAYS
    write(database_url, day(symbol, *first), day(symbol, "2024-03-04", "81.00"),
          *(day(symbol, *d) for d in rest[1:]),
          day(symbol, *rest[0], known=corrected_at))

    def dividends_and_first_close(as_of: str) -> tuple:
        data = answer(api_client, read_headers, symbol, as_of=as_of)["data"]
        return data[1]["dividend"], data[0]["adjusted_close"]

    assert dividends_and_first_close("2024-03-07") == ("0", pytest.approx(80.0 / 3))
    assert dividends_and_first_close(str(corrected_at - 1)) == ("0", pytest.approx(80.0 / 3))
    assert dividends_and_first_close(str(corrected_at)) == ("0.80", pytest.approx(26.4))
    assert dividends_and_first_close("") == ("0.80", pytest.approx(26.4))


def test_each_source_is_adjusted_by_its_own_days_and_source_filters_them(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    # a second vendor that does not say its actions: no adjusted close but the latest day's
    write(database_url, *(day(symbol, *d) for d in DAYS),
          *(day(symbol, on, close, None, None, source="other") for on, close, _, _ in DAYS[:3]))

    both = [(d["date"], d["source"], d["adjusted_close"])
            for d in answer(api_client, read_headers, symbol)["data"]]
    other = adjusted(api_client, read_headers, symbol, source="other")

    assert both == [
        ("2024-03-01", "alphavantage", pytest.approx(ADJUSTED["2024-03-01"])),
        ("2024-03-01", "other", None),
        ("2024-03-04", "alphavantage", pytest.approx(ADJUSTED["2024-03-04"])),
        ("2024-03-04", "other", None),
        ("2024-03-05", "alphavantage", pytest.approx(27.3)), ("2024-03-05", "other", 27.3),
        ("2024-03-06", "alphavantage", pytest.approx(27.5))]
    assert other == {"2024-03-01": None, "2024-03-04": None, "2024-03-05": 27.3}
    assert adjusted(api_client, read_headers, symbol, source="alphavantage") == \
        pytest.approx(ADJUSTED)
    assert adjusted(api_client, read_headers, symbol, source="nobody") == {}


def test_from_and_to_bound_the_days_not_the_actions_they_are_adjusted_for(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    write(database_url, *(day(symbol, *d) for d in DAYS))

    before_the_split = adjusted(api_client, read_headers, symbol, to="2024-03-05")
    from_the_dividend = adjusted(api_client, read_headers, symbol, **{"from": "2024-03-04"})
    one_day = adjusted(api_client, read_headers, symbol,
                       **{"from": "2024-03-04", "to": "2024-03-05"})

    assert before_the_split == pytest.approx({d: ADJUSTED[d] for d in ("2024-03-01",
                                                                       "2024-03-04")})
    assert from_the_dividend == pytest.approx({d: a for d, a in ADJUSTED.items()
                                               if d >= "2024-03-04"})
    assert one_day == pytest.approx({"2024-03-04": 27.0})


@pytest.mark.parametrize("params", [{}, {"as_of": "2024-03-05"}, {"source": "alphavantage"},
                                    {"from": "2024-03-04", "to": "2024-03-06"}])
def test_pages_neither_skip_nor_repeat_and_adjust_as_one_answer(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str, params: dict
) -> None:
    write(database_url, *(day(symbol, *d) for d in DAYS),
          *(day(symbol, on, close, source="other") for on, close, _, _ in DAYS[1:]))
    whole = answer(api_client, read_headers, symbol, **params)["data"]

    paged, cursor = [], None
    while True:
        body = answer(api_client, read_headers, symbol, limit=2, **params,
                      **({"cursor": cursor} if cursor else {}))
        paged += body["data"]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert len(whole) > 2 and paged == whole


def test_an_unknown_symbol_is_404_and_a_known_one_before_its_first_day_is_empty(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    write(database_url, day(symbol, *DAYS[0]))

    unknown = api_client.get("/api/v1/prices/NO_SUCH", headers=read_headers)

    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "unknown symbol 'NO_SUCH': no prices of it are stored"}
    assert answer(api_client, read_headers, symbol, as_of="2024-02-01")["data"] == []


@pytest.mark.parametrize("params", [
    {"from": "2024-02-30"}, {"from": "2024-03-05", "to": "2024-03-01"}, {"as_of": "soon"},
    {"source": "Alpha Vantage"}, {"limit": "0"}, {"cursor": "bm9wZQ"},
    {"cursor": encode_cursor(["2024-03-01", 1])},  # a key of the wrong type
    {"cursor": encode_cursor(["2024-99-01", "alphavantage"])},  # not a date
    {"cursor": encode_cursor(["10000-01-01", "alphavantage"])},  # past the calendar
])
def test_bad_parameters_are_422_naming_them(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str, params: dict
) -> None:
    write(database_url, day(symbol, *DAYS[0]))

    response = api_client.get(f"/api/v1/prices/{symbol}", params=params, headers=read_headers)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] in params


async def test_the_prices_query_answers_alike_on_postgresql_and_timescaledb(
    any_database_url: str,
) -> None:
    # daily_prices is a hypertable on TimescaleDB: the as-of pick (DISTINCT ON) and the
    # symbol probe run there too
    from api.queries import market, prices

    symbol = unique_symbol("P")
    write(any_database_url, *(day(symbol, *d) for d in DAYS[:2]),
          day(symbol, "2024-03-01", "80.10", known=day_ns("2024-03-08")))
    try:
        async with await psycopg.AsyncConnection.connect(any_database_url,
                                                         autocommit=True) as conn:
            closes = {as_of: [(d["close"], d["adjusted_close"]) for d in await prices.days(
                conn, symbol, None, None, None, day_ns(as_of), None, 10)]
                for as_of in ("2024-03-01", "2024-03-05", "2024-03-09")}
            known = (await market.symbol_in(conn, ["daily_prices"], symbol),
                     await market.symbol_in(conn, ["daily_prices"], unique_symbol("P")))
    finally:
        with psycopg.connect(any_database_url) as conn:
            conn.execute("DELETE FROM daily_prices WHERE symbol = %s", (symbol,))

    assert closes == {"2024-03-01": [],
                      "2024-03-05": [("80.00", pytest.approx(79.2)), ("81.00", 81.0)],
                      "2024-03-09": [("80.10", pytest.approx(79.3)), ("81.00", 81.0)]}
    assert known == (True, False)
