"""Kafka clients and topic administration against the catalog.

Producers partition with murmur2 (the Java client's and aiokafka's default) so a key lands on
the same partition whichever client wrote it: engines' changelogs and their input topics then
line up partition for partition.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewPartitions, NewTopic

from streams.catalog import Catalog, TopicSpec
from streams.exceptions import BrokerError

log = logging.getLogger(__name__)
TIMEOUT_S = 15.0


def producer(brokers: str, **overrides: object) -> Producer:
    """An idempotent producer that partitions by murmur2 of the key."""
    config: dict[str, object] = {
        "bootstrap.servers": brokers,
        "enable.idempotence": True,
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 1_000_000,
        "compression.type": "none",
    }
    config.update(overrides)
    return Producer(config)


def admin(brokers: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": brokers})


@dataclass(frozen=True, slots=True)
class Change:
    topic: str
    action: str  # created | partitions | config
    detail: str


def apply_catalog(catalog: Catalog, brokers: str) -> list[Change]:
    """Make the broker match the catalog: create missing topics, add partitions, set configs.

    Idempotent: a second run returns no changes. Partition counts only grow (Kafka cannot
    shrink a topic); a broker topic with more partitions than the catalog is reported as an
    error rather than silently ignored.
    """
    client = admin(brokers)
    existing = _describe(client, catalog)
    changes: list[Change] = []
    new = [
        NewTopic(t.name, t.partitions, t.replication, config=t.broker_config)
        for t in catalog if t.name not in existing
    ]
    if new:
        for name, fut in client.create_topics(new, request_timeout=TIMEOUT_S).items():
            _result(fut, f"create topic {name}")
            spec = catalog[name]
            changes.append(Change(name, "created", f"{spec.partitions} partitions"))
    grow = [
        (t, existing[t.name]) for t in catalog
        if t.name in existing and existing[t.name] < t.partitions
    ]
    shrink = [t.name for t in catalog if t.name in existing and existing[t.name] > t.partitions]
    if shrink:
        raise BrokerError(
            f"topics have more partitions on the broker than in topics.yaml: {', '.join(shrink)}"
        )
    if grow:
        futures = client.create_partitions(
            [NewPartitions(t.name, t.partitions) for t, _ in grow], request_timeout=TIMEOUT_S
        )
        for (spec, before), fut in zip(grow, futures.values(), strict=True):
            _result(fut, f"add partitions to {spec.name}")
            changes.append(Change(spec.name, "partitions", f"{before} -> {spec.partitions}"))
    changes.extend(_apply_configs(client, [t for t in catalog if t.name in existing]))
    return changes


def _apply_configs(client: AdminClient, specs: list[TopicSpec]) -> list[Change]:
    if not specs:
        return []
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t.name) for t in specs]
    described = client.describe_configs(resources, request_timeout=TIMEOUT_S)
    changes = []
    for spec, (resource, fut) in zip(specs, described.items(), strict=True):
        current = {k: v.value for k, v in _result(fut, f"describe {spec.name}").items()}
        wanted = spec.broker_config
        diff = {k: v for k, v in wanted.items() if current.get(k) != v}
        if not diff:
            continue
        update = ConfigResource(ConfigResource.Type.TOPIC, spec.name, set_config=wanted)
        for fut2 in client.alter_configs([update], request_timeout=TIMEOUT_S).values():
            _result(fut2, f"alter configs of {spec.name}")
        detail = ", ".join(f"{k}={current.get(k)}->{v}" for k, v in diff.items())
        changes.append(Change(spec.name, "config", detail))
    return changes


def _describe(client: AdminClient, catalog: Catalog) -> dict[str, int]:
    try:
        meta = client.list_topics(timeout=TIMEOUT_S)
    except KafkaException as exc:
        raise BrokerError(f"broker unreachable: {exc}") from exc
    return {name: len(t.partitions) for name, t in meta.topics.items() if not t.error}


def _result(fut, what: str):  # type: ignore[no-untyped-def]
    try:
        return fut.result()
    except KafkaException as exc:
        raise BrokerError(f"{what} failed: {exc.args[0]}") from exc


@dataclass(frozen=True, slots=True)
class TopicStatus:
    name: str
    in_catalog: bool
    catalog_partitions: int | None
    broker_partitions: int | None
    low: int
    high: int

    @property
    def records(self) -> int:
        return self.high - self.low


def topic_status(catalog: Catalog, brokers: str) -> list[TopicStatus]:
    """Catalog topics (and any other non-internal broker topics) with watermarks."""
    existing = _describe(admin(brokers), catalog)
    consumer = Consumer(
        {"bootstrap.servers": brokers, "group.id": "nautilus-streams-cli", "enable.auto.commit": False}
    )
    try:
        rows = []
        names = catalog.names + sorted(n for n in existing if n not in catalog and not n.startswith("_"))
        for name in names:
            low = high = 0
            for p in range(existing.get(name, 0)):
                lo, hi = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=TIMEOUT_S)
                low, high = low + lo, high + hi
            spec = catalog[name] if name in catalog else None
            rows.append(TopicStatus(
                name, spec is not None, spec.partitions if spec else None,
                existing.get(name), low, high,
            ))
        return rows
    finally:
        consumer.close()


def tail(
    brokers: str,
    topic: str,
    *,
    count: int | None,
    from_beginning: bool,
    key: str | None,
    idle_timeout_s: float | None = None,
) -> Iterator[tuple[bytes | None, bytes, int, int]]:
    """Yield (key, value, partition, offset) of `topic` records; stops after `count` matches.

    Without --from-beginning it starts at the end and waits for new records. With
    `idle_timeout_s`, stops after that long without a record.
    """
    import time
    import uuid

    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": f"nautilus-tail-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest" if from_beginning else "latest",
    })
    try:
        meta = consumer.list_topics(topic, timeout=TIMEOUT_S).topics.get(topic)
        if meta is None or meta.error is not None:
            raise BrokerError(f"topic {topic} does not exist on the broker")
        parts = []
        for p in meta.partitions:
            lo, hi = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT_S)
            parts.append(TopicPartition(topic, p, lo if from_beginning else hi))
        consumer.assign(parts)
        seen = 0
        wanted = key.encode() if key is not None else None
        last = time.monotonic()
        while count is None or seen < count:
            msg = consumer.poll(0.2)
            if msg is None:
                if idle_timeout_s is not None and time.monotonic() - last > idle_timeout_s:
                    return
                continue
            if msg.error():
                raise BrokerError(f"consume from {topic} failed: {msg.error()}")
            last = time.monotonic()
            if wanted is not None and msg.key() != wanted:
                continue
            seen += 1
            yield msg.key(), msg.value(), msg.partition(), msg.offset()
    finally:
        consumer.close()
