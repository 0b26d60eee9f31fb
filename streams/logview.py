"""Where the log stands: topics, partitions, watermarks and consumer-group lag, in a few
batched requests over long-lived clients.

`LogView` keeps one admin client, so a process that looks at the log again and again (the
API's `/api/v1/topics` and `/metrics`) pays no client start-up and no metadata bootstrap per
look. A look is three round trips to the broker: one metadata request, one batched
ListOffsets (earliest) and one fetch round whose responses give each partition's true end
(see `kafka.true_highs`), the consumer groups' OffsetFetch answered meanwhile. `topics list`
takes one look through a view of its own.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from streams import kafka
from streams.catalog import Catalog

log = logging.getLogger(__name__)
Partition = tuple[str, int]
# The true-end fetch needs only each partition's first fetch response, not its records: ask
# for little data, and let an idle partition answer at once.
TRUE_END_FETCH = {"fetch.wait.max.ms": 10, "max.partition.fetch.bytes": 4096}


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
    """A long-lived admin client for repeated looks at one broker. One caller at a time."""

    def __init__(self, brokers: str) -> None:
        self.brokers = brokers
        self._admin = AdminClient({"bootstrap.servers": brokers})

    def snapshot(self, catalog: Catalog, groups: list[str]) -> LogSnapshot:
        """Every topic's partitions and watermarks, and each group's lag per catalog topic
        where it has committed something (a partition without a commit counts from its
        start). The groups' offsets are asked for first and answered while the watermarks
        are read."""
        existing = self.topics()
        names = catalog.names + sorted(
            n for n in existing if n not in catalog and not n.startswith("_")
        )
        partitions = [(n, p) for n in names for p in range(existing.get(n, 0))]
        in_catalog = [tp for tp in partitions if tp[0] in catalog]
        asked = {group: self._ask_committed(group, in_catalog) for group in groups}
        marks = self.watermarks(partitions)
        lags: dict[tuple[str, str], int] = {}
        for group, future in asked.items():
            committed = _committed(future, group)
            consumed = {topic for topic, _ in committed}
            for tp in in_catalog:
                if tp[0] in consumed:
                    low, high = marks[tp]
                    behind = max(0, high - committed.get(tp, low))
                    lags[(group, tp[0])] = lags.get((group, tp[0]), 0) + behind
        return LogSnapshot({n: existing.get(n) for n in names}, marks, lags)

    def topics(self) -> dict[str, int]:
        """Topic -> partition count, of every topic the broker has."""
        return kafka.topic_partitions(self._admin)

    def watermarks(self, partitions: list[Partition]) -> dict[Partition, tuple[int, int]]:
        """(low, high) of each partition: low from one batched ListOffsets, high the end the
        first fetch response of each partition reports (the true end, see
        `kafka.true_highs`), so ListOffsets(latest) is not needed."""
        if not partitions:
            return {}
        futures = self._admin.list_offsets(
            {TopicPartition(*tp): OffsetSpec.earliest() for tp in partitions},
            request_timeout=kafka.TIMEOUT_S)
        low = {(tp.topic, tp.partition): kafka.admin_result(f, f"offsets of {tp.topic}").offset
               for tp, f in futures.items()}
        consumer = kafka.reader(self.brokers, **TRUE_END_FETCH)  # fresh: see kafka.true_highs
        try:
            return kafka.true_highs(consumer, {tp: (low[tp], low[tp]) for tp in partitions})
        finally:
            consumer.close()

    def _ask_committed(self, group: str, partitions: list[Partition]) -> Future | None:
        """Ask for the group's committed offsets of `partitions`; `_committed` waits."""
        if not partitions:
            return None
        request = ConsumerGroupTopicPartitions(group, [TopicPartition(*tp) for tp in partitions])
        futures = self._admin.list_consumer_group_offsets([request],
                                                          request_timeout=kafka.TIMEOUT_S)
        return next(iter(futures.values()))


def _committed(future: Future | None, group: str) -> dict[Partition, int]:
    """The committed offset of each partition the group has committed on."""
    if future is None:
        return {}
    answer = kafka.admin_result(future, f"committed offsets of {group}")
    return {(tp.topic, tp.partition): tp.offset for tp in answer.topic_partitions
            if tp.offset >= 0}


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
    snapshot = LogView(brokers).snapshot(catalog, groups=[])
    rows = []
    for name, count in snapshot.partitions.items():
        spec = catalog.get(name)
        rows.append(TopicStatus(name, spec is not None, spec.partitions if spec else None,
                                count, snapshot.low(name), snapshot.high(name)))
    return rows
