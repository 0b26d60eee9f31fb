"""Kafka clients and topic administration against the catalog.

Producers partition with murmur2 (the Java client's and aiokafka's default) so a key lands on
the same partition whichever client wrote it: engines' changelogs and their input topics then
line up partition for partition.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from streams.catalog import Catalog, TopicSpec
from streams.exceptions import BrokerError

log = logging.getLogger(__name__)
TIMEOUT_S = 15.0
PROBE_TIMEOUT_S = 5.0  # how long `broker_problem` waits for a connection, then for metadata


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


# librdkafka logs every failed connection attempt (about 20 a second while a broker is down);
# a probe's attempts are its answer, not news, so they go nowhere.
_probe_log = logging.getLogger(f"{__name__}.probe")
_probe_log.propagate = False
_probe_log.addHandler(logging.NullHandler())


def broker_reachable(brokers: str, timeout_s: float) -> bool:
    """True when a Kafka-compatible broker at `brokers` answers a metadata request in time."""
    client = AdminClient(
        {
            "bootstrap.servers": brokers,
            "socket.connection.setup.timeout.ms": max(1000, int(timeout_s * 1000)),
        },
        logger=_probe_log,
    )
    try:
        client.list_topics(timeout=timeout_s)
    except KafkaException:
        return False
    return True


def broker_problem(brokers: str, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """Why no broker at `brokers` answers, in a few words; None when one does.

    Each address is tried over TCP first, so a refused, unresolvable or silent address is
    named at once with its reason; then one metadata request must be answered (something
    else may listen on the port).
    """
    reasons = []
    for address in (a.strip() for a in brokers.split(",") if a.strip()):
        reason = _connect_problem(address, timeout_s)
        if reason is None:
            break
        reasons.append(f"{address}: {reason}")
    else:
        return "; ".join(reasons) or "no address given"
    if broker_reachable(brokers, timeout_s):
        return None
    return f"no answer to a Kafka metadata request within {timeout_s:g} s"


def _connect_problem(address: str, timeout_s: float) -> str | None:
    host, _, port = address.rpartition("://")[2].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return None
    except ValueError:
        return "not HOST:PORT"
    except ConnectionRefusedError:
        return "connection refused"
    except socket.gaierror:
        return f"unknown host {host!r}"
    except TimeoutError:
        return f"no connection within {timeout_s:g} s"
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()


def admin(brokers: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": brokers})


@dataclass(frozen=True, slots=True)
class Change:
    topic: str
    action: str  # created | partitions | config
    detail: str


def apply_catalog(catalog: Catalog, brokers: str) -> list[Change]:
    """Make the broker match the catalog: create missing topics, add partitions, set configs.

    Idempotent: a second run returns no changes. Configs are applied before partitions grow.
    Partition counts only grow (Kafka cannot shrink a topic); a broker topic with more
    partitions than the catalog is an error rather than silently ignored. (The embedded
    Tansu broker cannot add partitions at all: apply says so.)
    """
    client = admin(brokers)
    existing = topic_partitions(client)
    shrink = [t.name for t in catalog if t.name in existing and existing[t.name] > t.partitions]
    if shrink:
        raise BrokerError(
            f"topics have more partitions on the broker than in topics.yaml: {', '.join(shrink)}"
        )
    changes: list[Change] = []
    new = [
        NewTopic(t.name, t.partitions, t.replication, config=t.broker_config)
        for t in catalog if t.name not in existing
    ]
    if new:
        for name, fut in client.create_topics(new, request_timeout=TIMEOUT_S).items():
            admin_result(fut, f"create topic {name}")
            spec = catalog[name]
            changes.append(Change(name, "created", f"{spec.partitions} partitions"))
    changes.extend(_apply_configs(client, [t for t in catalog if t.name in existing]))
    grow = [
        (t, existing[t.name]) for t in catalog
        if t.name in existing and existing[t.name] < t.partitions
    ]
    if grow:
        futures = client.create_partitions(
            [NewPartitions(t.name, t.partitions) for t, _ in grow], request_timeout=TIMEOUT_S
        )
        for (spec, before), fut in zip(grow, futures.values(), strict=True):
            admin_result(fut, f"add partitions to {spec.name}")
            changes.append(Change(spec.name, "partitions", f"{before} -> {spec.partitions}"))
    return changes


def _apply_configs(client: AdminClient, specs: list[TopicSpec]) -> list[Change]:
    if not specs:
        return []
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t.name) for t in specs]
    described = client.describe_configs(resources, request_timeout=TIMEOUT_S)
    changes = []
    for spec, fut in zip(specs, described.values(), strict=True):
        current = {k: v.value for k, v in admin_result(fut, f"describe {spec.name}").items()}
        wanted = spec.broker_config
        diff = {k: v for k, v in wanted.items() if current.get(k) != v}
        if not diff:
            continue
        # Incremental: only the differing keys change; the rest of the topic's config stays.
        update = ConfigResource(
            ConfigResource.Type.TOPIC, spec.name,
            incremental_configs=[
                ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                for k, v in diff.items()
            ],
        )
        for fut2 in client.incremental_alter_configs([update]).values():
            admin_result(fut2, f"alter configs of {spec.name}")
        detail = ", ".join(f"{k}={current.get(k)}->{v}" for k, v in diff.items())
        changes.append(Change(spec.name, "config", detail))
    return changes


def topic_partitions(client: AdminClient) -> dict[str, int]:
    """Topic -> partition count, of every topic the broker has."""
    try:
        meta = client.list_topics(timeout=TIMEOUT_S)
    except KafkaException as exc:
        raise BrokerError(f"broker unreachable: {exc}") from exc
    return {name: len(t.partitions) for name, t in meta.topics.items() if not t.error}


def admin_result(fut, what: str):  # type: ignore[no-untyped-def]
    """The result of an admin client future; a BrokerError saying what failed."""
    try:
        return fut.result()
    except KafkaException as exc:
        raise BrokerError(f"{what} failed: {exc.args[0]}") from exc


def reader(brokers: str, **overrides: object) -> Consumer:
    """A consumer for reading: a throwaway group id, never commits, starts at the earliest."""
    import uuid

    config: dict[str, object] = {
        "bootstrap.servers": brokers,
        "group.id": f"nautilus-read-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    }
    config.update(overrides)
    return Consumer(config)


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    """The partition ids of `topic`; BrokerError if the broker does not have it."""
    meta = consumer.list_topics(topic, timeout=TIMEOUT_S).topics.get(topic)
    if meta is None or meta.error is not None:
        raise BrokerError(f"topic {topic} does not exist on the broker")
    return sorted(meta.partitions)


def watermarks(
    consumer: Consumer, partitions: list[tuple[str, int]]
) -> dict[tuple[str, int], tuple[int, int]]:
    """(low, high) per (topic, partition), high being the true end of the log now (see
    `true_highs`)."""
    reported = {
        tp: consumer.get_watermark_offsets(TopicPartition(*tp), timeout=TIMEOUT_S)
        for tp in partitions
    }
    return true_highs(consumer, reported)


def true_highs(
    consumer: Consumer, reported: dict[tuple[str, int], tuple[int, int]]
) -> dict[tuple[str, int], tuple[int, int]]:
    """`reported` (low, high) per partition, each high raised to the true end of the log.

    Tansu 0.6 answers ListOffsets(latest) with its last batch's base offset + 1, which is
    short of the end when that batch holds several records. Fetch responses carry the right
    end: fetch each partition from the reported end and take the high watermark the first
    fetch response brought back (on a correct broker it equals the reported one). The
    consumer must not have fetched these partitions before (it keeps their last high
    watermark, which would pass for an answer).
    """
    if not reported:
        return {}
    consumer.assign([TopicPartition(t, p, hi) for (t, p), (_, hi) in reported.items()])
    pending = set(reported)
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while pending:
            if time.monotonic() > deadline:
                raise BrokerError(f"no fetch response for {sorted(pending)[:3]}")
            for msg in consumer.consume(10_000, timeout=0.05):
                err = msg.error()
                if err is not None and err.code() != KafkaError._PARTITION_EOF:
                    raise BrokerError(f"read {msg.topic()}[{msg.partition()}] failed: {err}")
            pending = {tp for tp in pending if _cached_high(consumer, tp) < 0}  # unanswered
        highs = {tp: _cached_high(consumer, tp) for tp in reported}
    finally:
        consumer.unassign()
    return {tp: (lo, max(hi, highs[tp])) for tp, (lo, hi) in reported.items()}


def _cached_high(consumer: Consumer, tp: tuple[str, int]) -> int:
    """The high watermark of the newest fetch response for `tp`; negative before the first."""
    return int(consumer.get_watermark_offsets(TopicPartition(*tp), cached=True)[1])


def tail(
    brokers: str,
    topic: str,
    *,
    count: int | None,
    from_beginning: bool,
    key: str | None,
    timeout_s: float | None = None,
) -> Iterator[tuple[bytes | None, bytes, int, int]]:
    """Yield (key, value, partition, offset) of `topic` records; stops after `count` matches.

    Without --from-beginning it starts at the end and waits for new records. With
    `timeout_s`, stops once that long passed without a matching record: records of other
    keys do not extend the wait, so a busy topic cannot hold it open.
    """
    consumer = reader(brokers)
    try:
        marks = watermarks(consumer, [(topic, p) for p in _partitions(consumer, topic)])
        consumer.assign([
            TopicPartition(topic, p, lo if from_beginning else hi)
            for (_, p), (lo, hi) in marks.items()
        ])
        seen = 0
        wanted = key.encode() if key is not None else None
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while count is None or seen < count:
            wait_s = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if wait_s <= 0:
                return
            msg = consumer.poll(wait_s)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise BrokerError(f"consume from {topic} failed: {msg.error()}")
            if wanted is not None and msg.key() != wanted:
                continue
            seen += 1
            if timeout_s is not None:
                deadline = time.monotonic() + timeout_s
            yield msg.key(), msg.value(), msg.partition(), msg.offset()
    finally:
        consumer.close()


def committed_offsets(
    brokers: str, group: str, partitions: list[tuple[str, int]]
) -> dict[tuple[str, int], int | None]:
    """The consumer group's committed offset per partition (None: nothing committed)."""
    consumer = Consumer({"bootstrap.servers": brokers, "group.id": group,
                         "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(t, p) for t, p in partitions],
                                   timeout=TIMEOUT_S)
    except KafkaException as exc:
        raise BrokerError(f"committed offsets of {group}: {exc.args[0]}") from exc
    finally:
        consumer.close()
    return {(tp.topic, tp.partition): (tp.offset if tp.offset >= 0 else None) for tp in found}


def end_offsets(brokers: str, topic: str) -> dict[int, int]:
    """The true end (next offset) of every partition of `topic` now, see `watermarks`;
    BrokerError if the broker does not have the topic."""
    consumer = reader(brokers)
    try:
        marks = watermarks(consumer, [(topic, p) for p in _partitions(consumer, topic)])
    finally:
        consumer.close()
    return {p: high for (_, p), (_, high) in marks.items()}


# A read up to known ends waits for nothing new: the broker answers a fetch at once rather
# than after librdkafka's default 500 ms for more bytes (a small topic read back in ~0.2 s
# instead of ~0.6 s on the embedded broker).
BOUNDED_READ = {"fetch.wait.max.ms": 10}


def read_all(brokers: str, topic: str) -> Iterator[tuple[int, int, bytes | None, bytes]]:
    """Every record of `topic` up to its end when called: (partition, offset, key, value),
    each partition in offset order. Records written meanwhile are not waited for."""
    consumer = reader(brokers, **BOUNDED_READ)
    try:
        marks = watermarks(consumer, [(topic, p) for p in _partitions(consumer, topic)])
        yield from _read_ranges(consumer, topic, {p: m for (_, p), m in marks.items()})
    finally:
        consumer.close()


def read_backwards(
    brokers: str, topic: str, first_window: int = 1_000
) -> Iterator[list[tuple[int, int, bytes | None, bytes]]]:
    """`topic` from its end backwards, in windows: each a list of (partition, offset, key,
    value), each partition in offset order, the newest window first. The first window holds
    the last `first_window` records of each partition, each further one four times as many
    before those, until the start. Stop iterating once you have found what you need."""
    consumer = reader(brokers, **BOUNDED_READ)
    try:
        marks = watermarks(consumer, [(topic, p) for p in _partitions(consumer, topic)])
        ends = {p: hi for (_, p), (_, hi) in marks.items()}
        starts = {p: lo for (_, p), (lo, _) in marks.items()}
        window = first_window
        while any(ends[p] > starts[p] for p in ends):
            ranges = {p: (max(starts[p], ends[p] - window), ends[p]) for p in ends}
            yield list(_read_ranges(consumer, topic, ranges))
            ends = {p: lo for p, (lo, _) in ranges.items()}
            window *= 4
    finally:
        consumer.close()


def _read_ranges(
    consumer: Consumer, topic: str, ranges: dict[int, tuple[int, int]]
) -> Iterator[tuple[int, int, bytes | None, bytes]]:
    """The records of `topic` at offsets [lo, hi) of each partition, in offset order per
    partition: (partition, offset, key, value)."""
    pending = {p: hi for p, (lo, hi) in ranges.items() if hi > lo}
    consumer.assign([TopicPartition(topic, p, ranges[p][0]) for p in pending])
    try:
        while pending:
            for msg in consumer.consume(10_000, timeout=0.1):
                partition, offset = msg.partition(), msg.offset()
                if msg.error():
                    if msg.error().code() == KafkaError._PARTITION_EOF:  # nothing more there
                        pending.pop(partition, None)
                        continue
                    raise BrokerError(f"read {topic} failed: {msg.error()}")
                end = pending.get(partition)
                if end is None:
                    continue
                if offset < end:
                    yield partition, offset, msg.key(), msg.value()
                if offset >= end - 1:  # also past a gap (a compacted or control record)
                    del pending[partition]
    finally:
        consumer.unassign()
