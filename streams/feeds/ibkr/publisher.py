"""Where a live feed's output goes: market events through `publish`, the rest alongside.

IB delivers ticks in an asyncio loop; `streams.feeds.publish.publish` is a blocking loop over
an iterable. `KafkaPublisher` runs `publish` in a thread over a queue the feed fills, so market
events get the same keys, partitioning and delivery accounting as every other feed. The queue
holds at most `max_queued` events: when the broker falls that far behind, newer events are
dropped and counted (`dropped`; the feed logs it and reports it in its metrics) rather than
growing memory without bound or stalling the loop that reads from IB. Alerts, health and
metrics (a few records a second at most) go through a second producer directly.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException, Message

from streams import kafka
from streams.codec import encode
from streams.exceptions import BrokerError
from streams.feeds import TOPIC_BY_MODEL, MarketEvent
from streams.feeds.publish import PublishStats, publish
from streams.schema import Event

log = logging.getLogger(__name__)

ALERTS_TOPIC = "logic.risk.alerts"
HEALTH_TOPIC = "logic.engine.health"
METRICS_TOPIC = "logic.metrics"
CONTROL_TOPICS = (ALERTS_TOPIC, HEALTH_TOPIC, METRICS_TOPIC)


MAX_QUEUED = 100_000


class FeedPublisher(Protocol):
    error: BaseException | None  # set when publishing failed; the feed then stops
    dropped: int  # market events that found no room

    def market(self, event: MarketEvent) -> None:
        """Queue a trade, quote or depth snapshot for its market.* topic."""

    def control(self, topic: str, key: str, event: Event) -> None:
        """Produce an alert, health or metrics record keyed by `key`."""


class KafkaPublisher:
    """A FeedPublisher on the broker; `start()` checks every topic exists, `close()` flushes."""

    def __init__(self, brokers: str, flush_timeout_s: float = 30.0,
                 max_queued: int = MAX_QUEUED) -> None:
        self._brokers = brokers
        self._flush_timeout_s = flush_timeout_s
        self._queue: queue.Queue[MarketEvent | None] = queue.Queue(max_queued)
        self.dropped = 0
        self._control = kafka.producer(brokers)
        self._thread = threading.Thread(target=self._publish, name="ibkr-publish", daemon=True)
        self._stats: PublishStats | None = None
        self.error: BaseException | None = None
        self.control_errors = 0

    def start(self) -> KafkaPublisher:
        try:
            meta = self._control.list_topics(timeout=kafka.TIMEOUT_S)
        except KafkaException as exc:
            raise BrokerError(f"broker {self._brokers} unreachable: {exc.args[0]}") from exc
        have = {name for name, t in meta.topics.items() if t.error is None}
        missing = sorted(set(TOPIC_BY_MODEL.values()).union(CONTROL_TOPICS) - have)
        if missing:
            raise BrokerError(f"topics missing on broker {self._brokers}: {', '.join(missing)}; "
                              "run `nautilus-streams topics apply`")
        self._thread.start()
        return self

    def market(self, event: MarketEvent) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.dropped += 1

    def control(self, topic: str, key: str, event: Event) -> None:
        while True:
            try:
                self._control.produce(topic, encode(event), key.encode(),
                                      on_delivery=self._on_delivery)
                break
            except BufferError:
                self._control.poll(0.05)
        self._control.poll(0)

    def close(self) -> PublishStats | None:
        """Publish what is queued, flush both producers; the final market counts."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        left = self._control.flush(self._flush_timeout_s)
        if left:
            log.warning("ibkr control flush timed out undelivered=%d", left)
            self.control_errors += left
        return self._stats

    def _publish(self) -> None:
        try:
            self._stats = publish(iter(self._queue.get, None), self._brokers,
                                  flush_timeout_s=self._flush_timeout_s)
        except Exception as exc:  # the feed sees `error` within a heartbeat tick and stops
            log.exception("ibkr publish thread failed")
            self.error = exc

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.control_errors += 1
            log.error("ibkr control delivery failed topic=%s error=%s", msg.topic(), err)
