"""The /api/v1 routes on the real database and broker: answers, pages, 401/404/422, no leaks."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import jsonschema_rs
import psycopg
import pytest
from fastapi.testclient import TestClient

from api.deps import app_settings
from api.main import app, lifespan
from api.params import encode_cursor
from streams.settings import Settings
from streams.storage import tokens
from tests.api.data import cleanup, unique_symbol, write
from tests.factories import MINUTE_NS, T0, event

ROUTES = ["/api/v1/symbols", "/api/v1/trades?symbol=X", "/api/v1/bars?symbol=X",
          "/api/v1/vpin?symbol=X", "/api/v1/vpin/latest", "/api/v1/microstructure?symbol=X",
          "/api/v1/alerts", "/api/v1/engines", "/api/v1/topics"]
SEC = 1_000_000_000


@pytest.fixture
def symbol(database_url: str) -> Iterator[str]:
    name = unique_symbol()
    with cleanup(database_url, [name]):
        yield name


def trades(symbol: str, n: int) -> list:
    return [event("Trade", symbol=symbol, ts_event=T0 + i * SEC // 10, ts_init=T0 + i,
                  trade_id=f"t-{i}", price=f"{100 + i / 100:.2f}", size=i + 1) for i in range(n)]


def readings(symbol: str, buckets: int) -> list:
    return [event("VpinReading", symbol=symbol, bucket=b, ts_event=T0 + b * SEC,
                  vpin=b / 100, vpin_cdf=0.5) for b in range(1, buckets + 1)]


@pytest.mark.parametrize("route", ROUTES)
def test_every_route_needs_a_valid_token(
    api_client: TestClient, route: str, database_url: str
) -> None:
    token, info = tokens.create_token(database_url, "read", "revoked-one")
    tokens.revoke_token(database_url, info.token_id)
    old, old_info = tokens.create_token(database_url, "read", "expired-one", timedelta(hours=1))
    with psycopg.connect(database_url) as conn:  # its hour has passed, as the database sees it
        conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 second'"
                     " WHERE token_id = %s", (old_info.token_id,))

    missing = api_client.get(route)
    revoked = api_client.get(route, headers={"Authorization": f"Bearer {token}"})
    expired = api_client.get(route, headers={"Authorization": f"Bearer {old}"})
    garbage = api_client.get(route, headers={"Authorization": "Bearer nst_nope"})

    for response in (missing, revoked, expired, garbage):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


OPEN_ROUTES = {"/health", "/ready", "/", "/favicon.ico", "/docs", "/docs/oauth2-redirect",
               "/redoc", "/openapi.json"}  # the dashboard page and the API's own docs


def test_every_route_of_the_app_needs_a_token_and_admin_routes_the_admin_scope(
    api_client: TestClient, read_headers: dict
) -> None:
    # Arrange: every HTTP route the app has (FastAPI wraps an included router's routes),
    # its path parameters filled in
    from api.auth import RequireAdmin

    routes = [candidate for route in app.routes for candidate in (
        route.effective_candidates() if hasattr(route, "effective_candidates") else [route])]
    calls = [(method, re.sub(r"{[^}]+}", "x", route.path),
              RequireAdmin in (getattr(route, "dependencies", None) or []))
             for route in routes if getattr(route, "methods", None)
             for method in sorted(set(route.methods) - {"HEAD"})]

    # Act
    anonymous = {(m, p): api_client.request(m, p, json={}).status_code for m, p, _ in calls}
    read_on_admin = {(m, p): api_client.request(m, p, json={}, headers=read_headers).status_code
                     for m, p, admin in calls if admin}

    # Assert: open ones answer, every other one is 401 without a token, 403 for read on admin
    assert len(calls) > 30 and len(read_on_admin) >= 4
    assert {c: code for c, code in anonymous.items() if c[1] in OPEN_ROUTES and code >= 400} \
        == {}
    assert {c: code for c, code in anonymous.items()
            if c[1] not in OPEN_ROUTES and code != 401} == {}
    assert {c: code for c, code in read_on_admin.items() if code != 403} == {}


def test_every_protected_route_documents_401_and_403(api_client: TestClient) -> None:
    # the routes that answer without a token (see ARCHITECTURE) are the only ones without
    open_paths = {"/health", "/ready", "/", "/favicon.ico"}
    spec = api_client.get("/openapi.json").json()

    undocumented = [
        f"{method.upper()} {path}: {sorted({'401', '403'} - set(op['responses']))}"
        for path, operations in spec["paths"].items() if path not in open_paths
        for method, op in operations.items() if not {"401", "403"} <= set(op["responses"])]

    assert undocumented == []
    assert spec["components"]["schemas"]["ErrorBody"]["required"] == ["detail"]


def test_an_empty_from_to_or_cursor_is_no_bound_and_the_first_page(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    write(database_url, *trades(symbol, 3))

    plain = api_client.get("/api/v1/trades", params={"symbol": symbol}, headers=read_headers)
    empty = api_client.get(f"/api/v1/trades?symbol={symbol}&from=&to=&cursor=",
                           headers=read_headers)

    assert empty.status_code == 200, empty.text
    assert empty.json() == plain.json() and len(plain.json()["data"]) == 3


@pytest.mark.parametrize(("path", "key"), [
    ("/api/v1/trades", [10**18, "t"]), ("/api/v1/bars", [10**18]),
    ("/api/v1/vpin", [10**18, 1]), ("/api/v1/alerts", [10**18, "a", "raised"]),
])
def test_a_cursor_past_the_calendar_is_422_not_500(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str, path: str,
    key: list,
) -> None:
    # a well-formed cursor whose time (µs since the epoch) is past year 9999 overflowed
    # datetime in the route: a 500
    write(database_url, *trades(symbol, 1))

    response = api_client.get(path, params={"symbol": symbol, "cursor": encode_cursor(key)},
                              headers=read_headers)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


def test_trades_page_through_without_gaps_or_repeats(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    tape = trades(symbol, 250)
    write(database_url, *tape)

    seen, cursor, pages = [], None, 0
    while True:
        params = {"symbol": symbol, "limit": 100, **({"cursor": cursor} if cursor else {})}
        body = api_client.get("/api/v1/trades", params=params, headers=read_headers).json()
        seen += body["data"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert [t["trade_id"] for t in seen] == [t.trade_id for t in tape]
    assert seen[0] == {"symbol": symbol, "time": "2023-11-14T22:13:00Z", "ts_event": T0,
                       "price": "100.00", "size": 1, "aggressor": "buy", "trade_id": "t-0",
                       "venue": "XNAS", "unreported": False, "conditions": None}


def test_trades_say_which_prints_are_unreported_and_under_which_conditions(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    # An odd-lot print (IB's AllLast: unreported, sale condition I) between two regular trades
    regular, odd_lot, regular_after = trades(symbol, 3)
    odd_lot = odd_lot.model_copy(update={"unreported": True, "conditions": "I"})
    write(database_url, regular, odd_lot, regular_after)

    body = api_client.get("/api/v1/trades", params={"symbol": symbol},
                          headers=read_headers).json()

    assert [(t["trade_id"], t["unreported"], t["conditions"]) for t in body["data"]] == [
        ("t-0", False, None), ("t-1", True, "I"), ("t-2", False, None)]


def test_time_bounds_take_iso_8601_or_nanoseconds(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    write(database_url, *trades(symbol, 50))  # one trade every 0.1 s from T0

    def ids(lo: str, hi: str) -> list[str]:
        body = api_client.get("/api/v1/trades", headers=read_headers,
                              params={"symbol": symbol, "from": lo, "to": hi}).json()
        return [t["trade_id"] for t in body["data"]]

    by_ns = ids(str(T0 + SEC), str(T0 + 2 * SEC))
    by_iso = ids("2023-11-14T22:13:01Z", "2023-11-14T23:13:02+01:00")

    assert by_ns == by_iso == [f"t-{i}" for i in range(10, 20)]  # from inclusive, to exclusive



def test_times_past_the_calendar_in_utc_are_its_edges_not_an_error(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    # year 1 at +01:00 is still year 0 in UTC, 9999-12-31 at -01:00 already year 10000: no
    # datetime holds them, every record is after the one and before the other
    write(database_url, *trades(symbol, 3))

    def answer(lo: str, hi: str) -> httpx.Response:
        return api_client.get("/api/v1/trades", params={"symbol": symbol, "from": lo, "to": hi},
                              headers=read_headers)

    everything = answer("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00")
    before_the_first = answer("0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00+00:30")
    reversed_ = answer("0001-01-01T00:00:00+00:30", "0001-01-01T00:00:00+01:00")

    assert everything.status_code == 200, everything.text
    assert [t["trade_id"] for t in everything.json()["data"]] == ["t-0", "t-1", "t-2"]
    assert (before_the_first.status_code, before_the_first.json()["data"]) == (200, [])
    assert reversed_.status_code == 422  # 23:30 of year 0 is not before 23:00 of it


@pytest.mark.parametrize("value", [
    "2026-11-20T14:30:00Z", "2026-11-20T20:00:00.5+05:30", 1795185000000000000, 0, 2**63 - 1,
    "", "yesterday", "2023-11-14T22:13:00", "2026-11-20", -1, 2**63,
])
def test_a_time_bound_is_refused_exactly_when_its_documented_schema_refuses_it(
    api_client: TestClient, read_headers: dict, value: str | int
) -> None:
    spec = api_client.get("/openapi.json").json()
    documented = next(p["schema"] for p in spec["paths"]["/api/v1/trades"]["get"]["parameters"]
                      if p["name"] == "from")

    response = api_client.get("/api/v1/trades", params={"symbol": "NO_SUCH", "from": str(value)},
                              headers=read_headers)

    valid = jsonschema_rs.validator_for(documented, validate_formats=True).is_valid(value)
    assert response.status_code == (404 if valid else 422), response.text


@pytest.mark.parametrize(("route", "parameter"), [
    ("/api/v1/trades?symbol=A%00", "symbol"), ("/api/v1/vpin/latest?symbol=A%00", "symbol"),
    ("/api/v1/executions?exec_id=e%00", "exec_id"), ("/api/v1/positions?account=a%00", "account"),
    ("/api/v1/portfolio/a%00", "account"), ("/api/v1/risk/a%00", "account"),
    ("/api/v1/margin/a%00", "account"),
    ("/api/v1/trades?symbol=X&cursor=WzAsIlx1MDAwMCJd", "cursor"),  # [0, "\u0000"]
])
def test_a_nul_character_in_a_text_parameter_is_422_naming_it(
    api_client: TestClient, read_headers: dict, route: str, parameter: str
) -> None:
    # PostgreSQL text cannot hold NUL: the driver refuses to send one, so it is bad input
    response = api_client.get(route, headers=read_headers)

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == parameter


def test_bars_roll_up_to_5_minutes(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    # 7 one-minute bars from T0 (22:13): buckets 22:10 (minutes 13-14) and 22:15 (15-19)
    bars = [event("Bar", symbol=symbol, bar_id=f"{symbol}@1m@{T0 + m * MINUTE_NS}",
                  start_ns=T0 + m * MINUTE_NS, ts_event=T0 + (m + 1) * MINUTE_NS - 1,
                  open=f"{100 + m}.00", high=f"{101 + m}.00", low=f"{99 + m}.00",
                  close=f"{100 + m}.50", volume=10 * (m + 1), trade_count=m + 1,
                  vwap=100.0 + m) for m in range(7)]
    write(database_url, *bars)

    body = api_client.get("/api/v1/bars", headers=read_headers,
                          params={"symbol": symbol, "interval": "5m"}).json()

    first, second = body["data"]
    assert (first["time"], first["open"], first["close"]) == ("2023-11-14T22:10:00Z",
                                                              "100.00", "101.50")
    assert (first["high"], first["low"], first["volume"], first["trade_count"]) == (
        "102.00", "99.00", 30, 3)
    # (100 * 10 + 101 * 20) / 30 = 100.666..., rounded to 9 decimals as on the wire
    assert first["vwap"] == 100.666666667
    assert (second["time"], second["open"], second["close"], second["volume"]) == (
        "2023-11-14T22:15:00Z", "102.00", "106.50", sum(10 * (m + 1) for m in range(2, 7)))
    assert Decimal(second["high"]) == 107 and Decimal(second["low"]) == 101
    assert body["next_cursor"] is None


def test_vpin_latest_is_the_newest_reading_of_each_symbol(
    api_client: TestClient, read_headers: dict, database_url: str
) -> None:
    a, b = unique_symbol("V"), unique_symbol("V")
    with cleanup(database_url, [a, b]):
        write(database_url, *readings(a, 5), *readings(b, 3))

        every = api_client.get("/api/v1/vpin/latest", headers=read_headers).json()["data"]
        one = api_client.get("/api/v1/vpin/latest", params={"symbol": b},
                             headers=read_headers).json()["data"]
        unknown = api_client.get("/api/v1/vpin/latest", params={"symbol": "NOPE"},
                                 headers=read_headers)

    latest = {r["symbol"]: r["bucket"] for r in every if r["symbol"] in (a, b)}
    assert latest == {a: 5, b: 3}
    assert [(r["symbol"], r["bucket"], r["vpin"]) for r in one] == [(b, 3, 0.03)]
    assert unknown.status_code == 404


def test_vpin_series_pages_in_time_order(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    write(database_url, *readings(symbol, 7))

    first = api_client.get("/api/v1/vpin", params={"symbol": symbol, "limit": 4},
                           headers=read_headers).json()
    rest = api_client.get("/api/v1/vpin", headers=read_headers, params={
        "symbol": symbol, "limit": 4, "cursor": first["next_cursor"]}).json()

    assert [r["bucket"] for r in first["data"]] == [1, 2, 3, 4]
    assert [r["bucket"] for r in rest["data"]] == [5, 6, 7] and rest["next_cursor"] is None


def test_microstructure_alerts_and_symbols(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    write(database_url, event("MicrostructureFeatures", symbol=symbol),
          event("Alert", alert_id=f"vpin:{symbol}:1", symbol=symbol, severity="warning"),
          event("Alert", alert_id=f"vpin:{symbol}:1", symbol=symbol, state="cleared",
                severity="info", ts_event=T0 + SEC), *readings(symbol, 1))

    features = api_client.get("/api/v1/microstructure", params={"symbol": symbol},
                              headers=read_headers).json()["data"]
    warnings = api_client.get("/api/v1/alerts", params={"symbol": symbol,
                              "severity": "warning"}, headers=read_headers).json()["data"]
    every = api_client.get("/api/v1/alerts", params={"symbol": symbol},
                           headers=read_headers).json()["data"]
    symbols = api_client.get("/api/v1/symbols", headers=read_headers).json()

    assert [(f["symbol"], f["bid_depth"]) for f in features] == [(symbol, [300, 200])]
    assert [(a["state"], a["severity"]) for a in warnings] == [("raised", "warning")]
    assert [a["state"] for a in every] == ["raised", "cleared"]
    mine = [s for s in symbols["data"] if s["symbol"] == symbol]
    assert mine == [{"symbol": symbol, "kinds": ["vpin", "microstructure"]}]
    assert symbols["count"] == len(symbols["data"])


def test_a_symbol_with_only_data_beyond_the_tape_is_listed_and_known(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    write(database_url, event("Fundamental", symbol=symbol), event("Filing", symbol=symbol),
          event("DailyPrice", symbol=symbol))

    symbols = api_client.get("/api/v1/symbols", headers=read_headers).json()
    trades = api_client.get("/api/v1/trades", params={"symbol": symbol}, headers=read_headers)

    mine = [s for s in symbols["data"] if s["symbol"] == symbol]
    assert mine == [{"symbol": symbol, "kinds": ["fundamentals", "filings", "prices"]}]
    assert (trades.status_code, trades.json()["data"]) == (200, [])  # known: no 404


RECORD_ROUTES = [
    ("/api/v1/trades", {}), ("/api/v1/bars", {"interval": "1m"}),
    ("/api/v1/bars", {"interval": "5m"}), ("/api/v1/bars", {"interval": "1h"}),
    ("/api/v1/bars", {"interval": "1d"}), ("/api/v1/vpin", {}), ("/api/v1/vpin/latest", {}),
    ("/api/v1/microstructure", {}), ("/api/v1/alerts", {}),
]


def test_every_record_carries_ts_event_and_time(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str
) -> None:
    # Arrange: one record of each kind; the bar is the minute [T0, T0 + 1m); the health report
    # is recent (the engines route shows only workers heard from within its horizon)
    engine, now = unique_symbol("e").lower(), time.time_ns()
    bar = event("Bar", symbol=symbol, bar_id=f"{symbol}@1m@{T0}", start_ns=T0,
                ts_event=T0 + MINUTE_NS)
    with cleanup(database_url, [], [engine]):
        write(database_url, *trades(symbol, 1), bar, *readings(symbol, 1),
              event("MicrostructureFeatures", symbol=symbol, ts_event=T0 + SEC),
              event("Alert", alert_id=f"a:{symbol}", symbol=symbol, ts_event=T0 + 2 * SEC),
              event("EngineHealth", engine=engine, ts_event=now, ts_init=now))

        # Act
        answers = {(route, params.get("interval")): api_client.get(
            route, params={"symbol": symbol, **params}, headers=read_headers).json()["data"]
            for route, params in RECORD_ROUTES}
        engines = api_client.get("/api/v1/engines", headers=read_headers).json()["data"]

    # Assert
    answers[("/api/v1/engines", None)] = [r for r in engines if r["engine"] == engine]
    for where, records in answers.items():
        assert len(records) == 1, where
        assert isinstance(records[0]["ts_event"], int) and "time" in records[0], where
    spans = {"1m": MINUTE_NS, "5m": 5 * MINUTE_NS, "1h": 60 * MINUTE_NS, "1d": 1440 * MINUTE_NS}
    for interval, span in spans.items():  # a bar's ts_event is its end, as on market.bars.1m
        (rolled,) = answers[("/api/v1/bars", interval)]
        start = T0 - T0 % span
        assert (rolled["time"], rolled["ts_event"]) == (iso(start), start + span), interval
    assert answers[("/api/v1/engines", None)][0]["ts_event"] == now


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns // SEC, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("route", ["/api/v1/trades", "/api/v1/bars", "/api/v1/vpin",
                                   "/api/v1/microstructure", "/api/v1/alerts"])
def test_unknown_symbol_is_404(api_client: TestClient, read_headers: dict, route: str) -> None:
    response = api_client.get(route, params={"symbol": "NO_SUCH"}, headers=read_headers)

    assert response.status_code == 404
    assert response.json() == {"detail": "unknown symbol 'NO_SUCH'"}


@pytest.mark.parametrize("params", [
    {"from": "yesterday"}, {"from": "2023-11-14T22:13:00"}, {"from": "20", "to": "10"},
    {"limit": "0"}, {"limit": "1001"}, {"cursor": "not-a-cursor"},
    {"cursor": "WyJ4Il0"},  # ["x"]: a key of the wrong type
    {"interval": "2m"},
])
def test_invalid_input_is_422_naming_the_parameter(
    api_client: TestClient, read_headers: dict, params: dict, symbol: str, database_url: str
) -> None:
    write(database_url, *trades(symbol, 1))

    response = api_client.get("/api/v1/bars", params={"symbol": symbol, **params},
                              headers=read_headers)

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] in params


def test_topics_list_the_catalog_with_watermarks(
    api_client: TestClient, read_headers: dict
) -> None:
    rows = api_client.get("/api/v1/topics", headers=read_headers).json()["data"]

    trades_topic = next(r for r in rows if r["name"] == "market.trades")
    assert trades_topic["in_catalog"] and trades_topic["value_model"] == "Trade"
    assert trades_topic["partitions"] >= 1
    assert trades_topic["records"] == trades_topic["high"] - trades_topic["low"] >= 0


def test_database_down_is_503_without_details(
    api_client: TestClient, read_headers: dict, api_settings: Settings, tmp_path: Path
) -> None:
    secret = "pw-never-shown"
    broken = Settings.model_validate({
        "KAFKA_BROKERS": api_settings.kafka_brokers, "state_dir": tmp_path,
        "DATABASE_URL": f"postgresql://u:{secret}@/db?host={tmp_path}&connect_timeout=2",
    })
    app.dependency_overrides[app_settings] = lambda: broken

    response = api_client.get("/api/v1/symbols", headers=read_headers)

    assert response.status_code == 503
    assert response.json() == {"detail": "the database is unavailable"}
    assert secret not in response.text and str(tmp_path) not in response.text


def test_vpin_latest_answers_are_reused_within_the_cache_time(
    api_client: TestClient, read_headers: dict, database_url: str, symbol: str,
    api_settings: Settings,
) -> None:
    cached = api_settings.model_copy(update={"api_latest_cache_ms": 60_000})
    app.dependency_overrides[app_settings] = lambda: cached
    write(database_url, *readings(symbol, 2))

    def latest() -> int:
        body = api_client.get("/api/v1/vpin/latest", params={"symbol": symbol},
                              headers=read_headers).json()
        return body["data"][0]["bucket"]

    first = latest()
    write(database_url, readings(symbol, 3)[-1])
    assert (first, latest()) == (2, 2)  # the newer bucket shows once the answer expires
    app.dependency_overrides[app_settings] = lambda: api_settings
    assert latest() == 3


class _CountedLookups(dict):
    """The route's table of queries in flight, counting the requests that looked in it."""

    lookups = 0

    def get(self, key, default=None):
        self.lookups += 1
        return super().get(key, default)


async def test_concurrent_misses_of_vpin_latest_share_one_query(
    api_settings: Settings, read_headers: dict, database_url: str, symbol: str
) -> None:
    # tokens cached, answers never: every request misses the answer cache
    settings = api_settings.model_copy(update={"api_token_cache_ms": 60_000,
                                               "api_latest_cache_ms": 0})
    app.dependency_overrides[app_settings] = lambda: settings
    write(database_url, *readings(symbol, 4))
    url = f"/api/v1/vpin/latest?symbol={symbol}"
    try:
        async with lifespan(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api", headers=read_headers
        ) as client:
            warm = await client.get(url)  # the token's lookup, the pool's first connection
            (database,) = app.state.databases.values()
            pool = database.pool
            before = pool.get_stats()["requests_num"]
            app.state.latest_pending = lookups = _CountedLookups()
            # The table is locked until every request has missed the cache and looked for a
            # query in flight: the first query cannot finish before the last request arrives,
            # however slowly the requests are scheduled.
            with psycopg.connect(database_url) as lock:
                lock.execute("LOCK TABLE vpin_readings IN ACCESS EXCLUSIVE MODE")
                requests = [asyncio.ensure_future(client.get(url)) for _ in range(16)]
                while lookups.lookups < 16:
                    assert not any(r.done() for r in requests), "a request ended under the lock"
                    await asyncio.sleep(0.01)
                lock.rollback()
            answers = await asyncio.gather(*requests)

            taken = pool.get_stats()["requests_num"] - before
            unknown = await asyncio.gather(*(client.get(url + "X") for _ in range(4)))
            pending = dict(app.state.latest_pending)
    finally:
        app.dependency_overrides.clear()

    assert warm.status_code == 200 and warm.json()["data"][0]["bucket"] == 4
    assert [a.status_code for a in answers] == [200] * 16
    assert {a.text for a in answers} == {warm.text}
    assert taken == 1  # one connection, one query, for the 16 requests
    assert [u.status_code for u in unknown] == [404] * 4  # a shared failure reaches each
    assert pending == {}  # nothing left in flight
