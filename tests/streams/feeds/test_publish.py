"""Publishing against the session's real broker: counts, keys, one partition per key, order
per key, pacing, stopping, and a missing topic. Records go to fresh topics of the test's own
(through `topic_map`), so the catalog's topics stay empty."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streams.catalog import Catalog
from streams.codec import decode
from streams.exceptions import BrokerError, ConfigError
from streams.feeds import TOPIC_BY_MODEL, MarketEvent
from streams.feeds.publish import publish
from streams.feeds.sim import SimMarket
from streams.settings import REPO_ROOT
from tests.factories import T0

MODEL_BY_TOPIC = {topic: model.__name__ for model, topic in TOPIC_BY_MODEL.items()}
PARTITIONS = Catalog.load(REPO_ROOT / "topics.yaml")["market.trades"].partitions


@pytest.fixture
def topic_map(kafka_brokers: str) -> Iterator[dict[str, str]]:
    """Fresh topics standing in for market.trades / quotes / depth / bars.1m, with their
    partitions."""
    tag = uuid.uuid4().hex[:8]
    mapping = {t: f"test.{tag}.{t.removeprefix('market.')}" for t in TOPIC_BY_MODEL.values()}
    client = AdminClient({"bootstrap.servers": kafka_brokers})
    new = [NewTopic(name, PARTITIONS, 1) for name in mapping.values()]
    for fut in client.create_topics(new, request_timeout=10).values():
        fut.result()
    try:
        yield mapping
    finally:
        for fut in client.delete_topics(list(mapping.values()), request_timeout=10).values():
            fut.result()


def _read_back(brokers: str, topic: str, count: int) -> list[tuple[bytes, bytes, int]]:
    """(key, value, partition) of the first `count` records of `topic`, in partition order."""
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": f"t-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        records = []
        for _ in range(200):
            if len(records) >= count:
                break
            for msg in consumer.consume(num_messages=10_000, timeout=0.5):
                assert msg.error() is None, msg.error()
                records.append((msg.key(), msg.value(), msg.partition()))
        return records
    finally:
        consumer.close()


def _tape(n: int) -> list[MarketEvent]:
    market = SimMarket(["ESZ6", "NQZ6", "AAPL", "MSFT", "EURUSD"], seed=11, trades_per_s=500.0,
                       depth_every=5)
    return list(itertools.islice(market.events(T0), n))


def test_published_tape_reads_back_keyed_by_symbol_one_partition_per_key(
    kafka_brokers: str, topic_map: dict[str, str]
) -> None:
    # Arrange
    tape = _tape(3_000)
    expected = Counter(topic_map[TOPIC_BY_MODEL[type(e)]] for e in tape)

    # Act
    stats = publish(tape, kafka_brokers, topic_map=topic_map)

    # Assert
    assert stats.produced == dict(expected)
    assert stats.delivered == len(tape) and stats.delivery_errors == 0 and not stats.stopped
    for catalog_topic, topic in topic_map.items():
        if topic not in expected:  # the simulated market publishes no bars
            continue
        records = _read_back(kafka_brokers, topic, expected[topic])
        assert len(records) == expected[topic]
        partitions: dict[bytes, set[int]] = defaultdict(set)
        by_key: dict[bytes, list] = defaultdict(list)
        for key, value, partition in records:
            event = decode(MODEL_BY_TOPIC[catalog_topic], value)
            assert key == event.symbol.encode()
            partitions[key].add(partition)
            by_key[key].append(event)
        assert all(len(p) == 1 for p in partitions.values())
        assert len({p for (p,) in partitions.values()}) > 1  # symbols spread out
        for key, events in by_key.items():  # order per key is the tape's order
            original = [e for e in tape if e.symbol.encode() == key
                        and TOPIC_BY_MODEL[type(e)] == catalog_topic]
            assert events == original


def test_speed_paces_by_event_time(kafka_brokers: str, topic_map: dict[str, str]) -> None:
    tape = _tape(2_000)
    span_s = (tape[-1].ts_event - tape[0].ts_event) / 1e9

    stats = publish(tape, kafka_brokers, speed=4.0, topic_map=topic_map)

    assert stats.elapsed_s >= 0.9 * span_s / 4.0


def test_rate_paces_by_count(kafka_brokers: str, topic_map: dict[str, str]) -> None:
    stats = publish(_tape(500), kafka_brokers, rate=2_000.0, topic_map=topic_map)

    assert stats.total == 500
    assert stats.elapsed_s >= 0.9 * 499 / 2_000.0


def test_a_set_stop_event_publishes_nothing(
    kafka_brokers: str, topic_map: dict[str, str]
) -> None:
    stop = threading.Event()
    stop.set()

    stats = publish(_tape(100), kafka_brokers, stop=stop, topic_map=topic_map)

    assert stats.stopped
    assert stats.total == 0


def test_stop_mid_stream_flushes_what_was_produced(
    kafka_brokers: str, topic_map: dict[str, str]
) -> None:
    stop = threading.Event()
    tape = _tape(1_000)

    def events() -> Iterator[MarketEvent]:
        for i, event in enumerate(tape):
            if i == 400:
                stop.set()
            yield event

    stats = publish(events(), kafka_brokers, stop=stop, topic_map=topic_map)

    assert stats.stopped
    assert stats.total == 400
    assert stats.delivered == 400


def test_missing_topic_is_a_broker_error(kafka_brokers: str) -> None:
    absent = {"market.trades": f"test.absent.{uuid.uuid4().hex[:8]}"}
    trades = [e for e in _tape(50) if TOPIC_BY_MODEL[type(e)] == "market.trades"]

    with pytest.raises(BrokerError, match="does not exist"):
        publish(trades, kafka_brokers, topic_map=absent)


def test_rate_and_speed_together_are_refused(kafka_brokers: str) -> None:
    with pytest.raises(ConfigError, match="not both"):
        publish([], kafka_brokers, rate=10.0, speed=1.0)
