"""A bar file's bars (no trade count, no vwap) through the real sink into the session's
database and out of `/api/v1/bars`: null where unknown, for the 1-minute bars and their
rollups alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from streams.feeds.files import iter_events, read_market_file
from streams.sink.runner import Sink
from tests.api.data import cleanup, unique_symbol
from tests.factories import MINUTE_NS, T0
from tests.streams.sink.conftest import SinkTopics, running, sink_topics, wait_for

__all__ = ["sink_topics"]  # the sink's per-test topics, a fixture


@pytest.fixture
def symbol(database_url: str) -> Iterator[str]:
    name = unique_symbol("F")
    with cleanup(database_url, [name]):
        yield name


def _stored(database_url: str, symbol: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM bars_1m WHERE symbol = %s", (symbol,)).fetchone()
    return row[0] if row else 0


def test_bars_without_vwap_round_trip_through_the_sink_and_the_api(
    sink_topics: SinkTopics, database_url: str, api_client: TestClient, read_headers: dict,
    symbol: str, tmp_path: Path,
) -> None:
    # Arrange: three 1-minute bars of a bar file, 22:13 to 22:15 (two 5-minute buckets)
    path = tmp_path / "bars.csv"
    path.write_text("ts_event,symbol,open,high,low,close,volume\n" + "".join(
        f"{T0 + (m + 1) * MINUTE_NS},{symbol},100.{m}0,101.00,99.00,100.{m}5,{10 + m}\n"
        for m in range(3)))
    sink_topics.produce(*iter_events(read_market_file(path)))

    # Act
    with running(Sink(sink_topics.config(database_url), sink_topics.routes)):
        wait_for(lambda: _stored(database_url, symbol) == 3, "the 3 bars in bars_1m")
    minutes = api_client.get("/api/v1/bars", headers=read_headers,
                             params={"symbol": symbol, "interval": "1m"})
    fives = api_client.get("/api/v1/bars", headers=read_headers,
                           params={"symbol": symbol, "interval": "5m"})

    # Assert
    assert minutes.status_code == 200, minutes.text
    assert [(b["ts_event"], b["open"], b["close"], b["volume"], b["trade_count"], b["vwap"])
            for b in minutes.json()["data"]] == [
        (T0 + (m + 1) * MINUTE_NS, f"100.{m}0", f"100.{m}5", 10 + m, None, None)
        for m in range(3)]
    assert fives.status_code == 200, fives.text
    assert [(b["time"], b["open"], b["close"], b["volume"], b["trade_count"], b["vwap"])
            for b in fives.json()["data"]] == [
        ("2023-11-14T22:10:00Z", "100.00", "100.15", 21, None, None),
        ("2023-11-14T22:15:00Z", "100.20", "100.25", 12, None, None)]
