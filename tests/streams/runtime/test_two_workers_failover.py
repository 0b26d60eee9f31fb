"""Two workers running the symbol-keyed market path (bars and VPIN) split market.trades; one
is killed with SIGKILL mid-stream and not restarted: the other takes its partitions, and
market.bars.1m and logic.vpin hold exactly what one uninterrupted run gives.

The uninterrupted run is the in-process replay of the same tape. The tape is dated ahead of
the wall clock, so the workers run live (as `up`'s do) and their clock never reaches its
bars: only later trades close them. (A tape dated behind the wall clock, produced while the
workers run, would let the clock close a bar whenever a worker has caught up on what was
produced so far, before the rest of the bar's trades arrive.) So the workers keep each
symbol's last bar open, which the replay closes at its end of input: those are not compared.
"""

from __future__ import annotations

import re
import signal
import uuid
from pathlib import Path

import pytest

from processors import BarEngine, VpinEngine
from streams import codec, kafka
from streams.feeds.sim import SimMarket
from streams.params import apply_overrides
from streams.replay import Source, run_replay
from streams.schema import Trade
from streams.settings import EngineParams
from tests.streams.runtime.workers import (
    NS,
    assert_no_offset_jumps,
    assigned_partitions,
    events_in,
    log_ends,
    metrics_of,
    names_on_partitions,
    partition_of,
    produce,
    read_topic,
    sim_trades,
    start_group_at_end,
    wait_for,
    worker,
)

pytestmark = pytest.mark.slow
PARTITIONS = 6  # market.trades'
START_NS = 4_102_444_800 * NS  # 2100-01-01: a minute boundary far ahead of the wall clock
HALF_S = 180  # each half of the tape: whole minutes, so whole bars of both engines
VPIN = {"bar_seconds": 10, "bucket_volume": 60, "window": 5, "sigma_bars": 5,
        "cdf_window": 50}
ENGINES = ("bars", "vpin")
INPUTS = ("market.trades", "market.quotes")  # the engines' inputs (vpin reads quotes too)


def uninterrupted(tape: list[Trade]) -> tuple[dict[str, dict], dict[tuple[str, int], dict]]:
    """The bars (by bar_id) and VPIN readings (by symbol and bucket) of the in-process replay
    of `tape`, less those of each symbol's last bar, which only its end of input closes."""
    columns, rejected = codec.decode_columns("Trade", [codec.encode(t) for t in tape])
    assert not rejected
    params = apply_overrides(EngineParams(), [f"vpin.{k}={v}" for k, v in VPIN.items()])
    replay = run_replay([Source("market.trades", columns)], [BarEngine, VpinEngine], params)
    last_ts = {t.symbol: t.ts_event for t in tape}  # the tape is in time order
    bar_ns = VPIN["bar_seconds"] * NS
    bars = {b["bar_id"]: _comparable(b) for b in replay.rows("market.bars.1m")
            if b["ts_event"] <= last_ts[b["symbol"]]}  # a bar's ts_event is its end
    readings = {_reading_key(r): _comparable(r) for r in replay.rows("logic.vpin")
                if r["ts_event"] // bar_ns < last_ts[r["symbol"]] // bar_ns}
    return bars, readings


def _comparable(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "ts_init"}  # ts_init is processing time


def _reading_key(reading: dict) -> tuple[str, int]:
    return reading["symbol"], reading["bucket"]


def distinct(rows: list[dict], key: str | None = None) -> dict:
    """`rows` by their id (`key`, else symbol and bucket); a record published twice (at least
    once delivery) must be the same record."""
    by_id: dict = {}
    for row in rows:
        row_id = row[key] if key else _reading_key(row)
        assert by_id.setdefault(row_id, _comparable(row)) == _comparable(row), (
            f"a re-published record differs: {row_id}")
    return by_id


def restored_partitions(log: Path, since: int) -> dict[str, set[int]]:
    """Per engine, the partitions whose state the worker of `log` restored after byte
    `since`."""
    text = log.read_bytes()[since:].decode(errors="replace")
    restored: dict[str, set[int]] = {engine: set() for engine in ENGINES}
    for engine, partitions in re.findall(
        r"engine state restored engine=(\w+) partitions=\[([\d, ]*)\]", text
    ):
        restored[engine] |= {int(p) for p in partitions.split(",") if p.strip()}
    return restored


def committed(brokers: str, group: str, ends: dict[tuple[str, int], int]) -> bool:
    """`group` has committed at least `ends` on every partition."""
    offsets = kafka.committed_offsets(brokers, group, sorted(ends))
    return all((offsets[tp] or 0) >= end for tp, end in ends.items())


def test_a_killed_workers_partitions_go_to_the_other_and_outputs_equal_one_run(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: two symbols on every partition; a tape in two halves, and what one
    # uninterrupted run makes of it
    symbols = names_on_partitions("F", PARTITIONS, per_partition=2)
    market = SimMarket(symbols, seed=17, trades_per_s=30, quote_every=0, depth_every=0,
                       informed_probability=0.0)
    tape = sim_trades(market, START_NS, 2 * HALF_S)
    first_half = [t for t in tape if t.ts_event < START_NS + HALF_S * NS]
    second_half = tape[len(first_half):]
    for half in (first_half, second_half):
        assert {partition_of(t.symbol, PARTITIONS) for t in half} == set(range(PARTITIONS))
    expected_bars, expected_readings = uninterrupted(tape)
    app_id = f"test-failover-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id, INPUTS)
    env = {**services_env, **{f"NAUTILUS_VPIN__{k.upper()}": str(v) for k, v in VPIN.items()}}
    logs = [tmp_path / "survivor.log", tmp_path / "killed.log"]
    # small batches: records of the killed worker are often in flight at the kill; a short
    # session: the group notices the dead member sooner; a fast clock: ticks (each restores
    # the state of the partitions the worker holds) fall inside every rebalance
    settings = {"batch_max_events": "50", "session_timeout_ms": "3000", "clock_tick_ms": "100"}

    def bars() -> list[dict]:
        return read_topic(kafka_brokers, "market.bars.1m", lambda r: r.get("symbol") in symbols)

    def readings() -> list[dict]:
        return read_topic(kafka_brokers, "logic.vpin", lambda r: r.get("symbol") in symbols)

    def split() -> list[set[int]] | None:
        held = [set(assigned_partitions(log, "bars") or ()) for log in logs]
        whole = held[0] | held[1] == set(range(PARTITIONS))
        return held if all(held) and not held[0] & held[1] and whole else None

    def worked_on_both(pids: list[int], held: list[set[int]]) -> bool:
        """Each worker took in records of both engines and published bars and VPIN readings
        of its symbols."""
        if not all(events_in(kafka_brokers, e, pid) for e in ENGINES for pid in pids):
            return False
        return all({partition_of(r["symbol"], PARTITIONS) for r in rows} & h
                   for rows in (bars(), readings()) for h in held)

    # the second worker joins one that holds every partition, which hands half over (the
    # rebalance that once left the first worker unable to restore that half: see
    # EngineBinding.hold)
    with worker(env, app_id, logs[0], ",".join(ENGINES), **settings) as survivor:
        wait_for(lambda: assigned_partitions(logs[0], "bars") == list(range(PARTITIONS)), 60,
                 "the first worker to hold every partition")
        with worker(env, app_id, logs[1], ",".join(ENGINES), **settings) as killed:
            wait_for(lambda: split() is not None, 120, "the two workers to split market.trades")
            held = split()
            assert held is not None

            # Act: the first half, then kill one worker outright once both have worked on it;
            # the second half goes on the log after the kill, so records of the killed worker's
            # partitions remain to be consumed
            produce(kafka_brokers, [(t.symbol, codec.encode(t)) for t in first_half])
            wait_for(lambda: worked_on_both([survivor.pid, killed.pid], held), 90,
                     "both workers to publish bars and readings")
            killed_pid = killed.pid
            killed.send_signal(signal.SIGKILL)
            killed.wait(10)
            at_kill = len(distinct(bars(), "bar_id")), len(distinct(readings()))
            since = logs[0].stat().st_size
            produce(kafka_brokers, [(t.symbol, codec.encode(t)) for t in second_half])
            ends = log_ends(kafka_brokers, ("market.trades",))
            wait_for(lambda: set(assigned_partitions(logs[0], "bars", since) or ())
                     == set(range(PARTITIONS)), 60, "the survivor to take every partition")
            wait_for(lambda: committed(kafka_brokers, app_id, ends), 120,
                     "the group's offsets committed past the whole tape")
    # offsets commit only once a batch's outputs are acked, and the survivor stopped
    # cleanly: everything the tape caused is published, and nothing more can be

    # Assert: exactly the outputs of the uninterrupted run, nothing lost or doubled ...
    published_bars, published_readings = bars(), readings()
    assert distinct(published_bars, "bar_id") == expected_bars
    assert distinct(published_readings) == expected_readings
    assert 0 < at_kill[0] < len(expected_bars) and 0 < at_kill[1] < len(expected_readings)
    # ... the survivor took the killed worker's partitions and restored their state ...
    restored = restored_partitions(logs[0], since)
    assert all(held[1] <= restored[engine] for engine in ENGINES), (held, restored)
    # ... and every record reached the engines in order
    for log in logs:
        assert_no_offset_jumps(log)
    skipped = {e: metrics_of(kafka_brokers, e, survivor.pid)[-1]["counters"]
               ["redelivered_skipped"] for e in ENGINES}
    print(f"bars={len(expected_bars)} (published {len(published_bars)}) "
          f"readings={len(expected_readings)} (published {len(published_readings)}) "
          f"at_kill={at_kill} killed_pid={killed_pid} held={held} skipped={skipped}")
