"""Where the log stands: topics, partitions, watermarks and consumer-group lag, in a few
batched requests over long-lived clients.

`LogView` keeps one admin client and one reading consumer, so a process that looks at the
log again and again (the API's `/api/v1/topics` and `/metrics`) pays no client start-up and
no metadata bootstrap per look; each look is one metadata request, one batched ListOffsets
per end, one OffsetFetch per group, and one fetch round for the true ends (see
`kafka.true_highs`). `topics list` takes one look through a view of its own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from streams import kafka
from streams.catalog import Catalog
from streams.exceptions import BrokerError

log = logging.getLogger(__name__)
Partition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class LogSnapshot:
    """The log at one moment: catalog topics, then other non-internal broker topics."""

    partitions: dict[str, int | None]  # topic -> partitions on the broker (None: missing)
    marks: dict[Partition, tuple[int, int]]  # (low, high) per partition, high the true end
    lags: dict[tuple[str, str], int]  # (group, topic) -> records not committed yet

    def low(self, topic: str) -> int:
        return sum(lo for (t, _), (lo, _) in self.marks.items() if t == topic)

    def high(self, topic: str) -> int:
        return sum(hi for (t, _), (_, hi) in self.marks.items() if t == topic)


class LogView:
    """Long-lived clients for repeated looks at one broker. One caller at a time."""

    def __init__(self, brokers: str) -> None:
        self.brokers = brokers
        self._admin = AdminClient({"bootstrap.servers": brokers})
        self._consumer = kafka.reader(brokers)

    def close(self) -> None:
        self._consumer.close()

    def snapshot(self, catalog: Catalog, groups: list[str]) -> LogSnapshot:
        """Every topic's partitions and watermarks, and each group's lag per catalog topic
        where it has committed something (a partition without a commit counts from its
        start)."""
        existing = self.topics()
        names = catalog.names + sorted(
            n for n in existing if n not in catalog and not n.startswith("_")
        )
        marks = self.watermarks([(n, p) for n in names for p in range(existing.get(n, 0))])
        in_catalog = [tp for tp in marks if tp[0] in catalog]
        lags: dict[tuple[str, str], int] = {}
        for group in groups:
            committed = self.committed(group, in_catalog)
            consumed = {topic for topic, _ in committed}
            for tp in in_catalog:
                if tp[0] in consumed:
                    low, high = marks[tp]
                    behind = max(0, high - committed.get(tp, low))
                    lags[(group, tp[0])] = lags.get((group, tp[0]), 0) + behind
        return LogSnapshot({n: existing.get(n) for n in names}, marks, lags)

    def topics(self) -> dict[str, int]:
        """Topic -> partition count, of every topic the broker has."""
        try:
            meta = self._admin.list_topics(timeout=kafka.TIMEOUT_S)
        except KafkaException as exc:
            raise BrokerError(f"broker unreachable: {exc}") from exc
        return {name: len(t.partitions) for name, t in meta.topics.items() if not t.error}

    def watermarks(self, partitions: list[Partition]) -> dict[Partition, tuple[int, int]]:
        """(low, high) of each partition, high the true end (see `kafka.true_highs`)."""
        if not partitions:
            return {}
        low, high = (self._list_offsets(partitions, spec)
                     for spec in (OffsetSpec.earliest(), OffsetSpec.latest()))
        reported = {tp: (low[tp], high[tp]) for tp in partitions}
        return kafka.true_highs(self._consumer, reported)

    def committed(self, group: str, partitions: list[Partition]) -> dict[Partition, int]:
        """The group's committed offset of each of `partitions` it has committed on."""
        if not partitions:
            return {}
        request = ConsumerGroupTopicPartitions(group, [TopicPartition(*tp) for tp in partitions])
        futures = self._admin.list_consumer_group_offsets([request],
                                                          request_timeout=kafka.TIMEOUT_S)
        answer = _result(next(iter(futures.values())), f"committed offsets of {group}")
        return {(tp.topic, tp.partition): tp.offset
                for tp in answer.topic_partitions if tp.offset >= 0}

    def _list_offsets(self, partitions: list[Partition], spec: OffsetSpec) -> dict[Partition, int]:
        futures = self._admin.list_offsets({TopicPartition(*tp): spec for tp in partitions},
                                           request_timeout=kafka.TIMEOUT_S)
        return {(tp.topic, tp.partition): _result(f, f"offsets of {tp.topic}").offset
                for tp, f in futures.items()}


def _result(future, what: str):  # type: ignore[no-untyped-def]
    try:
        return future.result()
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
    view = LogView(brokers)
    try:
        snapshot = view.snapshot(catalog, groups=[])
    finally:
        view.close()
    rows = []
    for name, count in snapshot.partitions.items():
        spec = catalog.get(name)
        rows.append(TopicStatus(name, spec is not None, spec.partitions if spec else None,
                                count, snapshot.low(name), snapshot.high(name)))
    return rows
