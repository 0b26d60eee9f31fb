"""Two runs' rows in one database, as `up --keep-data`, an external database or a recreated
topic leave them: each run's engines start their buckets (and alert episodes) afresh. The
routes must not mix the runs: series in event-time order, "latest" the newest by event time,
no id shared by two runs.

The rows are real engine outputs (the VPIN engine in-process, twice, the second run an hour
later), written through the sink's writer, read through the app.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from streams.schema import Alert, Event, Trade, VpinReading
from tests.api.data import cleanup, unique_symbol, write
from tests.factories import T0, tape
from tests.processors.test_vpin import make_engine, run

SEC = 1_000_000_000
HOUR = 3_600 * SEC
V = 20
# Buy shares per bucket of 20 (tick rule, window 1, CDF over 5 values, alerts at 0.9 / 0.8):
# the engine raises at buckets 1, 4 and 8 and clears at 3 and 6 (tests/processors/
# test_vpin_alerts.py works the numbers out by hand).
BUYS = [12, 14, 10, 16, 14, 12, 15, 18]


def vpin_run(symbol: str, start_ns: int, buckets: int) -> list[Event]:
    """One run of a fresh VPIN engine on `buckets` buckets of trades from `start_ns`."""
    rows: list[tuple[int, str, str, int]] = [(start_ns, symbol, "100.00", 1)]
    for k, buy in enumerate(BUYS[:buckets]):
        rows += [(start_ns + (2 * k + 1) * SEC, symbol, "101.00", buy),
                 (start_ns + (2 * k + 2) * SEC, symbol, "100.00", V - buy)]
    trades: list[Trade] = tape(*rows)
    engine = make_engine(classification="tick", bucket_volume=V, window=1, cdf_window=5)
    return [e.value for e in run(engine, trades)]  # type: ignore[misc]


@pytest.fixture
def two_runs(database_url: str) -> Iterator[tuple[str, list[Event], list[Event]]]:
    """A symbol with a first run of 8 buckets and, an hour later, a second run of 3."""
    symbol = unique_symbol("R")
    first, second = vpin_run(symbol, T0, 8), vpin_run(symbol, T0 + HOUR, 3)
    with cleanup(database_url, [symbol]):
        write(database_url, *first)
        write(database_url, *second)
        yield symbol, first, second


def _readings(events: list[Event]) -> list[tuple[int, int]]:
    return [(e.bucket, e.ts_event) for e in events if isinstance(e, VpinReading)]


def test_vpin_latest_is_the_newest_reading_by_event_time(
    api_client: TestClient, read_headers: dict, two_runs: tuple[str, list, list]
) -> None:
    symbol, _, second = two_runs

    one = api_client.get("/api/v1/vpin/latest", params={"symbol": symbol},
                         headers=read_headers).json()["data"]
    every = api_client.get("/api/v1/vpin/latest", headers=read_headers).json()["data"]

    newest = _readings(second)[-1]  # bucket 3 of the second run, not bucket 8 of the first
    assert [(r["bucket"], r["ts_event"]) for r in one] == [newest]
    assert [(r["bucket"], r["ts_event"]) for r in every if r["symbol"] == symbol] == [newest]


def test_vpin_series_follows_event_time_across_runs_and_pages(
    api_client: TestClient, read_headers: dict, two_runs: tuple[str, list, list]
) -> None:
    symbol, first, second = two_runs

    seen, cursor = [], None
    while True:
        params = {"symbol": symbol, "limit": 4, **({"cursor": cursor} if cursor else {})}
        body = api_client.get("/api/v1/vpin", params=params, headers=read_headers).json()
        seen += [(r["bucket"], r["ts_event"]) for r in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert seen == _readings(first) + _readings(second)


def test_alert_ids_of_two_runs_do_not_collide(
    api_client: TestClient, read_headers: dict, two_runs: tuple[str, list, list]
) -> None:
    symbol, first, second = two_runs
    published = [e for e in first + second if isinstance(e, Alert)]

    got = api_client.get("/api/v1/alerts", params={"symbol": symbol},
                         headers=read_headers).json()["data"]

    # 3 episodes in the first run (raised at 1, 4, 8), 1 in the second (raised at 1, cleared
    # at 3): 4 ids, each raised once and cleared at most once, in time order.
    assert len(got) == len(published) == 7
    assert [a["ts_event"] for a in got] == sorted(a.ts_event for a in published)
    transitions = Counter((a["alert_id"], a["state"]) for a in got)
    assert set(transitions.values()) == {1}
    assert sum(state == "raised" for _, state in transitions) == 4
