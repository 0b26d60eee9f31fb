"""Publish market events to their `market.*` topics, keyed by symbol, at a chosen pace.

Pacing is one of: a target rate in events per second; a speed relative to event time
(1.0 = as fast as the events happened, 10.0 = ten times faster); or neither, as fast as the
broker takes them. Schedules are absolute (event n is due at start + n / rate), so short
stalls are caught up instead of accumulating.

Keys are the symbol's UTF-8 bytes and the producer partitions with murmur2
(`streams.kafka.producer`), so every record of a symbol lands on the same partition whatever
client wrote it. A full local queue (BufferError) is waited out by serving delivery reports;
failed deliveries are counted, not raised. A stop request or Ctrl-C ends the loop and what was
produced is still flushed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from streams import kafka
from streams.codec import encode
from streams.exceptions import BrokerError, ConfigError
from streams.feeds import TOPIC_BY_MODEL, MarketEvent

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000
MIN_SLEEP_S = 0.001  # waits shorter than this are skipped; the absolute schedule catches up
POLL_EVERY = 1_000  # serve delivery reports at least every this many events


@dataclass(frozen=True, slots=True)
class PublishStats:
    """Counts so far (or in all): events produced per topic, delivery outcome, time taken."""

    produced: dict[str, int]
    delivered: int
    delivery_errors: int
    elapsed_s: float
    last_ts_event: int | None
    stopped: bool = False  # ended by a stop request or Ctrl-C, not by running out of events

    @property
    def total(self) -> int:
        return sum(self.produced.values())

    @property
    def events_per_s(self) -> float:
        return self.total / self.elapsed_s if self.elapsed_s > 0 else 0.0


ProgressFn = Callable[[PublishStats], None]


class _Pacer:
    """When each event is due, in monotonic seconds: by count (rate) or by event time (speed)."""

    def __init__(self, rate: float | None, speed: float | None) -> None:
        for name, value in (("rate", rate), ("speed", speed)):
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be positive, got {value!r}")
        if rate is not None and speed is not None:
            raise ConfigError("give a rate or a speed, not both")
        self._rate, self._speed = rate, speed
        self.start()

    def start(self) -> None:
        """Start the schedule now (the first event is due at once)."""
        self._t0 = time.monotonic()
        self._ts0: int | None = None

    def wait_s(self, n_sent: int, ts_event: int) -> float:
        """Seconds until the event is due (<= 0: due now)."""
        if self._rate is not None:
            due = self._t0 + n_sent / self._rate
        elif self._speed is not None:
            if self._ts0 is None:
                self._ts0 = ts_event
            due = self._t0 + (ts_event - self._ts0) / NS_PER_S / self._speed
        else:
            return 0.0
        return due - time.monotonic()


class _Publisher:
    """One producer, its counters and its delivery callback."""

    def __init__(
        self, producer: Producer, brokers: str, topic_map: Mapping[str, str] | None = None
    ) -> None:
        self._producer = producer
        self._brokers = brokers
        self._topic_map = dict(topic_map or {})
        self._topics: set[str] | None = None
        self.produced: dict[str, int] = {}
        self.delivered = 0
        self.delivery_errors = 0
        self.last_ts_event: int | None = None
        self.started = time.monotonic()

    def connect(self, timeout_s: float = kafka.TIMEOUT_S) -> None:
        """Fail fast with a clear error when the broker cannot be reached."""
        try:
            meta = self._producer.list_topics(timeout=timeout_s)
        except KafkaException as exc:
            raise BrokerError(f"broker {self._brokers} unreachable: {exc.args[0]}") from exc
        self._topics = {name for name, t in meta.topics.items() if t.error is None}

    def send(self, event: MarketEvent) -> None:
        topic = TOPIC_BY_MODEL[type(event)]
        topic = self._topic_map.get(topic, topic)
        if topic not in self.produced:
            self._first_use(topic)
        value, key = encode(event), event.symbol.encode()
        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=self._on_delivery)
                break
            except BufferError:
                self._producer.poll(0.05)  # local queue full: let deliveries drain it
        self.produced[topic] += 1
        self.last_ts_event = event.ts_event

    def _first_use(self, topic: str) -> None:
        if self._topics is not None and topic not in self._topics:
            raise BrokerError(
                f"topic {topic} does not exist on broker {self._brokers}: "
                "run `nautilus-streams topics apply`"
            )
        self.produced[topic] = 0

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.delivered += 1
            return
        self.delivery_errors += 1
        if self.delivery_errors <= 5:
            log.error("delivery failed topic=%s key=%r error=%s", msg.topic(), msg.key(), err)

    def poll(self, timeout_s: float) -> None:
        self._producer.poll(timeout_s)

    def flush(self, timeout_s: float) -> None:
        left = self._producer.flush(timeout_s)
        if left:
            log.warning("flush timed out undelivered=%d timeout_s=%.1f", left, timeout_s)
            self.delivery_errors += left

    def stats(self, stopped: bool = False) -> PublishStats:
        return PublishStats(
            produced=dict(self.produced),
            delivered=self.delivered,
            delivery_errors=self.delivery_errors,
            elapsed_s=time.monotonic() - self.started,
            last_ts_event=self.last_ts_event,
            stopped=stopped,
        )


def publish(
    events: Iterable[MarketEvent],
    brokers: str,
    *,
    rate: float | None = None,
    speed: float | None = None,
    progress: ProgressFn | None = None,
    progress_interval_s: float = 5.0,
    stop: threading.Event | None = None,
    flush_timeout_s: float = 30.0,
    topic_map: Mapping[str, str] | None = None,
    producer_config: Mapping[str, object] | None = None,
) -> PublishStats:
    """Produce `events` in order to their topics; returns the counts once all is flushed.

    `rate` (events/s) or `speed` (x event time) paces the stream; `progress` is called with
    the running counts every `progress_interval_s`. Setting `stop`, or Ctrl-C, ends early.
    `topic_map` renames topics (e.g. {"market.trades": "test.trades"}) for tests and staging;
    `produced` counts by the topic actually written.
    """
    pacer = _Pacer(rate, speed)
    producer = kafka.producer(brokers, **(producer_config or {}))
    publisher = _Publisher(producer, brokers, topic_map)
    publisher.connect()
    pacer.start()
    stopped = False
    try:
        stopped = _run(publisher, pacer, events, stop, progress, progress_interval_s)
    except KeyboardInterrupt:
        stopped = True
    finally:
        publisher.flush(flush_timeout_s)
    stats = publisher.stats(stopped)
    log.info(
        "publish done events=%d delivered=%d errors=%d elapsed_s=%.2f stopped=%s",
        stats.total, stats.delivered, stats.delivery_errors, stats.elapsed_s, stopped,
    )
    return stats


def _run(
    publisher: _Publisher,
    pacer: _Pacer,
    events: Iterable[MarketEvent],
    stop: threading.Event | None,
    progress: ProgressFn | None,
    interval_s: float,
) -> bool:
    """The produce loop; returns True when stopped early."""
    next_progress = time.monotonic() + interval_s
    for n, event in enumerate(events):
        wait = pacer.wait_s(n, event.ts_event)
        while wait > MIN_SLEEP_S:
            if stop is not None and stop.is_set():
                return True
            publisher.poll(min(wait, 0.1))  # serve delivery reports while waiting
            wait = pacer.wait_s(n, event.ts_event)
        if stop is not None and stop.is_set():
            return True
        publisher.send(event)
        if n % POLL_EVERY == 0:
            publisher.poll(0)
        if progress is not None and time.monotonic() >= next_progress:
            progress(publisher.stats())
            next_progress = time.monotonic() + interval_s
    return False
