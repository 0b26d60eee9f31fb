"""The worker on the real broker: restart after SIGKILL, batch invariance, dead letters,
health. Each test uses its own symbols and consumer group, so tests sharing the session's
broker (and its market.trades) do not see each other's results."""

from __future__ import annotations

import base64
import signal
import socket
import time
import uuid
from pathlib import Path

import numpy as np
import orjson
import pytest

from processors import BarEngine, VpinEngine
from streams import codec
from streams.params import apply_overrides
from streams.replay import Source, run_replay
from streams.schema import Trade
from streams.settings import EngineParams
from tests.streams.runtime.workers import (
    assert_no_offset_jumps,
    produce,
    read_topic,
    start_group_at_end,
    wait_for,
    worker,
)

pytestmark = pytest.mark.slow
MINUTE_NS = 60 * 1_000_000_000
T0 = 1_700_000_040 * 1_000_000_000  # a minute boundary in 2023: far behind the wall clock


def make_tape(symbols: list[str], n: int, minutes: int, seed: int) -> list[Trade]:
    rng = np.random.default_rng(seed)
    ts = T0 + np.sort(rng.integers(0, minutes * MINUTE_NS, n))
    prices = np.round(100 + np.cumsum(rng.normal(0, 0.05, n)), 2)
    return [
        Trade(ts_event=int(t), ts_init=int(t), symbol=symbols[i % len(symbols)],
              price=f"{p:.2f}", size=int(s))
        for i, (t, p, s) in enumerate(zip(ts, prices, rng.integers(1, 100, n), strict=True))
    ]


def expected_bars(tape: list[Trade]) -> dict[str, dict]:
    """The uninterrupted run: the same engine in-process over the whole tape."""
    columns, rejected = codec.decode_columns("Trade", [codec.encode(t) for t in tape])
    assert not rejected
    result = run_replay([Source("market.trades", columns)], [BarEngine], EngineParams())
    return {row["bar_id"]: _comparable(row) for row in result.rows("market.bars.1m")}


def _comparable(bar: dict) -> dict:
    # ts_init is processing time by definition; everything else must match exactly.
    return {k: v for k, v in bar.items() if k != "ts_init"}


def _symbols(prefix: str, n: int) -> list[str]:
    tag = uuid.uuid4().hex[:6].upper()
    return [f"{prefix}{tag}{i}" for i in range(n)]


def _bars_of(brokers: str, symbols: list[str]) -> list[dict]:
    wanted = set(symbols)
    return read_topic(brokers, "market.bars.1m", lambda r: r.get("symbol") in wanted)


def assert_same_bars(seen: list[dict], expected: dict[str, dict]) -> int:
    """Every expected bar, nothing else; a re-delivered bar must be identical. Returns the
    number of duplicates (at-least-once delivery with deterministic ids)."""
    by_id: dict[str, dict] = {}
    duplicates = 0
    for bar in seen:
        row = _comparable(bar)
        if bar["bar_id"] in by_id:
            duplicates += 1
            assert by_id[bar["bar_id"]] == row, f"re-delivered bar differs: {bar['bar_id']}"
        by_id[bar["bar_id"]] = row
    assert sorted(by_id) == sorted(expected)
    for bar_id, row in expected.items():
        assert by_id[bar_id] == row, bar_id
    return duplicates


def test_worker_killed_with_sigkill_resumes_with_no_lost_or_doubled_state(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: a 40-minute tape on the log. Tiny batches keep the worker busy for several
    # seconds, so the kill lands mid-stream, with state written and offsets not yet committed.
    # (The tape is on the log before the worker starts: a pause in the input would, rightly,
    # let the live clock close the open bars of a caught-up worker.)
    symbols = _symbols("K", 4)
    tape = make_tape(symbols, 40_000, minutes=40, seed=11)
    expected = expected_bars(tape)
    app_id = f"test-kill-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id)
    produce(kafka_brokers, [(t.symbol, codec.encode(t)) for t in tape])
    log = tmp_path / "worker.log"

    # Act: kill the worker outright as soon as it has published its first bars, restart it
    with worker(services_env, app_id, log, batch_max_events="20") as first:
        wait_for(lambda: len(_bars_of(kafka_brokers, symbols)) > 0, 60, "the first bars")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    killed_at = len({b["bar_id"] for b in _bars_of(kafka_brokers, symbols)})
    with worker(services_env, app_id, log, batch_max_events="20"):
        wait_for(
            lambda: len({b["bar_id"] for b in _bars_of(kafka_brokers, symbols)}) >= len(expected),
            120, f"{len(expected)} bars",
        )
        time.sleep(2)  # anything extra (a doubled or wrong bar) would show up by now

    # Assert: exactly the bars of an uninterrupted run
    assert 0 < killed_at < len(expected), "the kill did not land mid-stream"
    duplicates = assert_same_bars(_bars_of(kafka_brokers, symbols), expected)
    assert_no_offset_jumps(log)
    skipped = [line for line in log.read_text().splitlines() if "re-delivered" in line]
    print(f"bars={len(expected)} at_kill={killed_at} duplicates={duplicates} {skipped}")


@pytest.mark.parametrize("batch_max_events", [1, 7, 10_000])
def test_worker_output_does_not_depend_on_batch_size(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path, batch_max_events: int
) -> None:
    # Arrange
    symbols = _symbols("B", 3)
    tape = make_tape(symbols, 1_500, minutes=6, seed=batch_max_events)
    expected = expected_bars(tape)
    app_id = f"test-batch-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id)
    produce(kafka_brokers, [(t.symbol, codec.encode(t)) for t in tape])

    log = tmp_path / "worker.log"

    # Act
    with worker(services_env, app_id, log, batch_max_events=str(batch_max_events)):
        wait_for(
            lambda: len({b["bar_id"] for b in _bars_of(kafka_brokers, symbols)}) >= len(expected),
            90, f"{len(expected)} bars",
        )

    # Assert: the same bars as the in-process run over the whole tape in one batch
    assert assert_same_bars(_bars_of(kafka_brokers, symbols), expected) == 0
    assert_no_offset_jumps(log)


def test_engines_sharing_an_input_topic_each_get_every_record(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: bars and vpin both read market.trades
    symbols = _symbols("S", 2)
    tape = make_tape(symbols, 1_200, minutes=6, seed=11)
    vpin = {"bucket_volume": "2000", "window": "2", "sigma_bars": "2", "bar_seconds": "30"}
    columns, rejected = codec.decode_columns("Trade", [codec.encode(t) for t in tape])
    assert not rejected
    params = apply_overrides(EngineParams(), [f"vpin.{k}={v}" for k, v in vpin.items()])
    replay = run_replay([Source("market.trades", columns)], [BarEngine, VpinEngine], params)
    expected_readings = {(r["symbol"], r["bucket"]) for r in replay.rows("logic.vpin")}
    app_id = f"test-shared-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id)
    produce(kafka_brokers, [(t.symbol, codec.encode(t)) for t in tape])
    env = {**services_env, **{f"NAUTILUS_VPIN__{k.upper()}": v for k, v in vpin.items()}}

    def readings() -> set[tuple[str, int]]:
        rows = read_topic(kafka_brokers, "logic.vpin", lambda r: r.get("symbol") in symbols)
        return {(r["symbol"], r["bucket"]) for r in rows}

    # Act
    with worker(env, app_id, tmp_path / "worker.log", engines="bars,vpin"):
        wait_for(lambda: readings() >= expected_readings, 90, "every VPIN reading")
        wait_for(lambda: len({b["bar_id"] for b in _bars_of(kafka_brokers, symbols)})
                 >= len(expected_bars(tape)), 60, "every bar")

    # Assert: each engine saw the whole tape
    assert expected_readings and readings() == expected_readings
    assert_same_bars(_bars_of(kafka_brokers, symbols), expected_bars(tape))


def test_bad_records_are_dead_lettered_and_the_worker_goes_on(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: a bad record between two good trades of one symbol, in different minutes
    (symbol,) = _symbols("D", 1)
    good = make_tape([symbol], 2, minutes=3, seed=3)
    good = [good[0], good[1].model_copy(update={"ts_event": T0 + 2 * MINUTE_NS + 1})]
    garbage = b"not json at all " + uuid.uuid4().hex.encode()
    negative = orjson.dumps({**orjson.loads(codec.encode(good[0])), "size": -5})
    app_id = f"test-dead-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id)
    produce(kafka_brokers, [
        (symbol, codec.encode(good[0])), (symbol, garbage), (symbol, negative),
        (symbol, codec.encode(good[1])),
    ])

    # Act
    with worker(services_env, app_id, tmp_path / "worker.log") as proc:
        wait_for(lambda: len(_bars_of(kafka_brokers, [symbol])) >= 2, 60, "two bars")
        health = read_topic(kafka_brokers, "logic.engine.health", lambda r: True)
        assert proc.poll() is None, "the worker stopped"

    # Assert: both bad records are on logic.deadletter with reason, source and bytes ...
    letters = read_topic(
        kafka_brokers, "logic.deadletter",
        lambda r: base64.b64decode(r["value_b64"]) in (garbage, negative),
    )
    assert len(letters) == 2
    by_value = {base64.b64decode(r["value_b64"]): r for r in letters}
    assert "invalid JSON" in by_value[garbage]["reason"]
    assert "size must be a positive integer" in by_value[negative]["reason"]
    assert {r["source_topic"] for r in letters} == {"market.trades"}
    assert by_value[negative]["source_offset"] == by_value[garbage]["source_offset"] + 1
    # ... the good trades made their bars ...
    bars = sorted(_bars_of(kafka_brokers, [symbol]), key=lambda b: b["start_ns"])
    assert [b["volume"] for b in bars] == [good[0].size, good[1].size]
    # ... and the worker reported its health, counting the dead letters
    mine = [h for h in health if h["engine"] == "bars" and h["dead_letters"] >= 2]
    assert mine and mine[-1]["status"] == "running"


def test_restarted_worker_with_no_new_input_restores_state_and_closes_open_bars(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: 30 symbols (several keys per changelog batch and partition), 3 minutes
    symbols = _symbols("O", 30)
    tape = make_tape(symbols, 3_000, minutes=3, seed=5)
    expected = expected_bars(tape)
    last_minute = {b for b, row in expected.items() if row["start_ns"] == T0 + 2 * MINUTE_NS}
    app_id = f"test-open-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id)
    produce(kafka_brokers, [(t.symbol, codec.encode(t)) for t in tape])
    log = tmp_path / "worker.log"

    # Act: the first worker never lets time pass, so the last minute's bars stay open ...
    with worker(services_env, app_id, log, clock_tick_ms="600000"):
        wait_for(
            lambda: len(_bars_of(kafka_brokers, symbols)) >= len(expected) - len(last_minute),
            60, "all but the open bars",
        )
        time.sleep(1)
    assert not last_minute & {b["bar_id"] for b in _bars_of(kafka_brokers, symbols)}
    # ... and the restarted one has no new input: only its recovered state can close them
    with worker(services_env, app_id, log):
        wait_for(lambda: len(_bars_of(kafka_brokers, symbols)) >= len(expected), 60,
                 "the open bars, closed by the clock")

    # Assert
    assert assert_same_bars(_bars_of(kafka_brokers, symbols), expected) == 0
    restored = "engine state restored engine=bars partitions=[0, 1, 2, 3, 4, 5] keys=30"
    assert restored in log.read_text()


def test_a_worker_stopped_cleanly_publishes_a_final_stopped_health(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    app_id = f"test-stop-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id, ("market.trades", "market.quotes", "market.depth"))

    def reports(worker_id: str) -> list[dict]:
        return read_topic(kafka_brokers, "logic.engine.health",
                          lambda r: r["worker"] == worker_id)

    with worker(services_env, app_id, tmp_path / "worker.log", engines="bars,vpin") as proc:
        worker_id = f"{socket.gethostname()}:{proc.pid}"
        wait_for(lambda: {r["engine"] for r in reports(worker_id)} == {"bars", "vpin"}, 60,
                 "a health report of each engine")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0

    last = {r["engine"]: r["status"] for r in reports(worker_id)}  # in order per engine key
    assert last == {"bars": "stopped", "vpin": "stopped"}
