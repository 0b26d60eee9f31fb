"""Helpers for tests that run `nautilus-streams worker` processes on the session's broker."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from streams import kafka
from streams.feeds.sim import SimMarket
from streams.runtime.records import PARTITIONER
from streams.schema import Trade

NS = 1_000_000_000


def sim_trades(market: SimMarket, start_ns: int, seconds: int) -> list[Trade]:
    """The simulated market's trades from `start_ns` for `seconds` of event time."""
    tape = []
    for event in market.events(start_ns):
        if event.ts_event >= start_ns + seconds * NS:
            return tape
        assert isinstance(event, Trade), "a trades-only market (quote_every=depth_every=0)"
        tape.append(event)
    raise AssertionError("unreachable: the simulated market is endless")


def partition_of(key: str, partitions: int) -> int:
    """The partition records keyed `key` go to (murmur2: our producers' and Faust's)."""
    every = list(range(partitions))
    return int(PARTITIONER(key.encode(), every, every))


def names_on_partitions(prefix: str, partitions: int, per_partition: int = 1) -> list[str]:
    """Unique names (`prefix`, a random tag, a number), `per_partition` on each of
    `partitions` partitions."""
    tag = uuid.uuid4().hex[:6].upper()
    names: list[str] = []
    counts = [0] * partitions
    i = 0
    while min(counts) < per_partition:
        name = f"{prefix}{tag}{i}"
        partition = partition_of(name, partitions)
        if counts[partition] < per_partition:
            counts[partition] += 1
            names.append(name)
        i += 1
    return names


# `produce`'s producer per broker, kept for the session: a new idempotent producer waits
# about 0.5 s for its producer id (librdkafka retries the id request on a 500 ms timer), which
# a test that produces minute by minute would pay at every minute
_producers: dict[str, Producer] = {}


def produce(
    brokers: str, records: list[tuple[str, bytes]], topic: str = "market.trades"
) -> list[tuple[int, int]]:
    """Produce `records` (key, value) in order; returns where each landed (partition,
    offset), as the broker acked it."""
    if brokers not in _producers:
        _producers[brokers] = kafka.producer(brokers)
    producer = _producers[brokers]
    landed: list[tuple[int, int]] = [(-1, -1)] * len(records)

    def acked(index: int) -> Callable[[KafkaError | None, Message], None]:
        def on_delivery(error: KafkaError | None, message: Message) -> None:
            assert error is None, error
            landed[index] = (message.partition(), message.offset())
        return on_delivery

    for i, (key, value) in enumerate(records):
        producer.produce(topic, key=key.encode(), value=value, on_delivery=acked(i))
        producer.poll(0)
    assert producer.flush(15) == 0
    return landed


def close_producers() -> None:
    """Close `produce`'s producers (before their broker stops: a producer left open logs every
    failed reconnect)."""
    while _producers:
        _producers.popitem()[1].close()


def start_group_at_end(
    brokers: str, group: str, topics: tuple[str, ...] = ("market.trades",)
) -> dict[tuple[str, int], int]:
    """Commit `group`'s offsets at the end of `topics`, as a user starting a new worker
    "from now" would: the worker then skips what other tests left on the shared topics.
    Returns the committed offsets."""
    starts = log_ends(brokers, topics)
    commit_group(brokers, group, starts)
    return starts


def log_ends(brokers: str, topics: tuple[str, ...]) -> dict[tuple[str, int], int]:
    """The true end of every partition of `topics` now (see `kafka.watermarks`), read by one
    consumer (a consumer per topic, as `kafka.end_offsets` makes, costs about 0.5 s each)."""
    consumer = kafka.reader(brokers)
    try:
        metadata = consumer.list_topics(timeout=kafka.TIMEOUT_S).topics
        partitions = [(t, p) for t in topics for p in sorted(metadata[t].partitions)]
        ends = kafka.watermarks(consumer, partitions)
    finally:
        consumer.close()
    return {tp: high for tp, (_, high) in ends.items()}


def commit_group(brokers: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit `offsets` for `group` (no member may be running): moving them back makes the
    next worker receive those records again, as after commits lost in a crash."""
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": group,
                         "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                        asynchronous=False)
    finally:
        consumer.close()


def read_topic(brokers: str, topic: str, keep: Callable[[dict], bool]) -> list[dict]:
    rows = [orjson.loads(value) for _, _, _, value in kafka.read_all(brokers, topic)]
    return [r for r in rows if keep(r)]


def wait_for(
    check: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.3
) -> None:
    """Poll `check` every `interval_s` until it holds; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@contextmanager
def worker(
    env: dict[str, str], app_id: str, log: Path, engines: str = "bars",
    module: str | None = None, **settings: str,
) -> Iterator[subprocess.Popen]:
    """A worker running `engines` in consumer group `app_id`, output appended to `log`;
    `settings` become NAUTILUS_* variables. `module`: run `python -m module` instead of
    `nautilus-streams worker` (a test-only engine's worker). Stopped with SIGTERM (then
    SIGKILL) at exit."""
    extra = {f"NAUTILUS_{k.upper()}": v for k, v in settings.items()}
    command = ["-m", module] if module else ["-m", "streams", "worker", "--engines", engines]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, *command],
            env={**env, "NAUTILUS_APP_ID": app_id, "NAUTILUS_HEALTH_INTERVAL_MS": "500", **extra},
            stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def assert_no_offset_jumps(log: Path) -> None:
    """market.trades has no offset gaps: a jump the worker logged means records were skipped
    on their way to the engine."""
    assert not [line for line in log.read_text().splitlines() if "offsets jumped" in line]


def assigned_partitions(log: Path, engine: str, since: int = 0) -> list[int] | None:
    """The partitions `engine` of the worker logging to `log` was assigned last (None before
    any assignment), reading the log from byte `since` on."""
    text = log.read_bytes()[since:].decode(errors="replace")
    found = re.findall(rf"engine partitions assigned engine={engine} topics=\S+ "
                       r"partitions=\[([\d, ]*)\]", text)
    return [int(p) for p in found[-1].split(",") if p.strip()] if found else None


def metrics_of(brokers: str, engine: str, pid: int) -> list[dict]:
    """`engine`'s logic.metrics records from the worker process `pid`, oldest first."""
    return read_topic(brokers, "logic.metrics",
                      lambda r: r["engine"] == engine and r["worker"].endswith(f":{pid}"))


def events_in(brokers: str, engine: str, pid: int) -> int:
    """Records `engine` of the worker process `pid` has taken in, as it last reported."""
    rows = metrics_of(brokers, engine, pid)
    return rows[-1]["counters"]["events_in"] if rows else 0
