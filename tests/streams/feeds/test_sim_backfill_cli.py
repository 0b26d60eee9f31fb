"""`feed sim --backfill-minutes` against the session's broker: the history goes out first,
unpaced and in the past, then the live tape from where it ends, at the wall clock."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.streams.runtime.workers import read_topic

NS = 1_000_000_000


def test_feed_sim_publishes_the_history_then_goes_live_where_it_ends(
    services_env: dict[str, str], kafka_brokers: str, tmp_path: Path
) -> None:
    # Arrange: a symbol of its own; 2 minutes of history at 10 trades/s (each merging 20 of
    # the 200/s live trades), then 3 s live
    symbol = f"BF{uuid.uuid4().hex[:8].upper()}"
    before_ns = time.time_ns()

    # Act
    result = subprocess.run(
        [sys.executable, "-m", "streams", "feed", "sim", "--symbols", symbol, "--rate", "200",
         "--backfill-minutes", "2", "--backfill-rate", "10", "--duration", "3"],
        cwd=tmp_path, env=services_env, capture_output=True, text=True, timeout=120,
    )
    after_ns = time.time_ns()

    # Assert
    assert result.returncode == 0, result.stderr
    found = re.search(r"feed backfill start minutes=2 from_ns=(\d+) live_from_ns=(\d+) "
                      r"trades_per_s=10 merge=20", result.stderr)
    assert found, result.stderr
    history_from, live_from = int(found[1]), int(found[2])
    assert "feed backfill done" in result.stderr
    trades = read_topic(kafka_brokers, "market.trades", lambda t: t["symbol"] == symbol)
    times = [t["ts_event"] for t in trades]
    history = [t for t in trades if t["ts_event"] < live_from]
    live = [t for t in trades if t["ts_event"] >= live_from]
    assert before_ns <= live_from <= after_ns and live_from - history_from == 120 * NS
    assert times == sorted(times) and times[0] >= history_from
    assert [int(t["trade_id"]) for t in trades] == list(range(1, len(trades) + 1))
    assert 1_000 < len(history) < 1_400  # Poisson, 10 a second for 120 s
    assert 400 < len(live) < 800  # 200 a second for 3 s
    assert live[-1]["ts_event"] < live_from + 3 * NS <= after_ns  # live: at the wall clock
    mean_history = sum(t["size"] for t in history) / len(history)
    mean_live = sum(t["size"] for t in live) / len(live)
    assert mean_history > 5 * mean_live  # each merges 20 live-rate trades
