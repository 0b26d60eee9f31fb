"""`feed file` on the session's real broker: a vendor CSV (mapped, epoch ms, no symbol
column) and a LOBSTER pair published in one time order, read back from market.trades and
market.depth, and the bad rows read back from logic.deadletter. The topics are shared, so
the test's records carry a symbol of their own."""

from __future__ import annotations

import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from streams import kafka
from streams.codec import decode
from tests.streams.feeds.test_lobster import _at, _pair

pytestmark = pytest.mark.slow

JAN2_0930_NY_MS = 1_704_205_800_000  # 2024-01-02T14:30:00Z


def _mine(brokers: str, topic: str, key: str) -> list[bytes]:
    return [value for _, _, k, value in kafka.read_all(brokers, topic) if k == key.encode()]


def test_feed_file_publishes_mapped_csv_and_lobster_and_dead_letters(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange
    symbol = f"F{uuid.uuid4().hex[:7].upper()}"
    vendor = tmp_path / "vendor.csv"
    vendor.write_text(f"time,px,qty,side\n{JAN2_0930_NY_MS},185.640,100,B\n"
                      f"{JAN2_0930_NY_MS + 1},185.65,0,S\n{JAN2_0930_NY_MS + 2},185.66,3,S\n")
    message_path, book_path = _pair(tmp_path)

    # Act
    result = subprocess.run(
        [sys.executable, "-m", "streams", "feed", "file", "-i", str(vendor),
         "-i", str(message_path), "--map", "ts=time,price=px,size=qty", "--ts-unit", "ms",
         "--symbol", symbol],
        capture_output=True, text=True, timeout=120, env=services_env,
    )

    # Assert: LOBSTER's 2012 trades first, then the vendor's, each exactly as written
    assert result.returncode == 0, result.stderr
    trades = [decode("Trade", v) for v in _mine(kafka_brokers, "market.trades", symbol)]
    assert [(t.ts_event, str(t.price), t.size, t.aggressor) for t in trades] == [
        (_at("34200.03"), "585.94", 40, "sell"),
        (_at("34200.04"), "585.98", 7, "buy"),
        (_at("34200.12"), "586", 150, "buy"),
        (JAN2_0930_NY_MS * 1_000_000, "185.640", 100, "buy"),
        (JAN2_0930_NY_MS * 1_000_000 + 2_000_000, "185.66", 3, "sell"),
    ]
    books = [decode("DepthSnapshot", v) for v in _mine(kafka_brokers, "market.depth", symbol)]
    assert [b.ts_event for b in books] == [
        _at(s) for s in ("34200.01", "34200.02", "34200.03", "34200.05", "34200.07", "34200.12")
    ]
    assert books[1].ask_prices == [Decimal("586.00")] and books[1].ask_sizes == [200]
    letters = {
        (letter["source_topic"], letter["source_offset"]): letter["reason"]
        for key in (vendor, message_path, book_path)
        for letter in map(orjson.loads, _mine(kafka_brokers, "logic.deadletter", f"file:{key}"))
    }
    assert letters == {
        (f"file:{vendor}", 3): "size must be >= 1, got 0",
        (f"file:{message_path}", 9): "type must be 1-7, got 9",
        (f"file:{message_path}", 10): "size must be >= 1, got -5",
        (f"file:{book_path}", 11): "crossed book: best bid 586.05 >= best ask 586",
    }
    assert f"{vendor}:3: size must be >= 1, got 0" in result.stderr
