"""The sink's own line on logic.engine.health: engine `sink`, published every interval and at
once whenever its status changes (running <-> degraded while the database is away, stopped at
the end). Each report carries the sink's lag, measured by the callable it is given."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import Producer

from streams import codec
from streams.runtime.counters import Counters
from streams.schema import EngineHealth

log = logging.getLogger(__name__)

ENGINE = "sink"


class HealthReporter:
    """Counters of the sink and the producer that publishes them."""

    def __init__(self, producer: Producer, topic: str, interval_ms: int,
                 lag: Callable[[], int | None]) -> None:
        self.counters = Counters()
        self._lag = lag
        self._producer = producer
        self._topic = topic
        self._interval_ns = interval_ms * 1_000_000
        self._last_ns = 0
        self.last: EngineHealth | None = None  # the newest record published

    def set_status(self, status: str) -> None:
        """Change the status; a change is published at once."""
        if status != self.counters.status:
            log.info("sink status from=%s to=%s", self.counters.status, status)
            self.counters.status = status
            self.publish()

    def maybe_publish(self) -> None:
        """Publish if the interval has passed since the last publication."""
        if time.time_ns() - self._last_ns >= self._interval_ns:
            self.publish()

    def publish(self) -> None:
        now = time.time_ns()
        self._last_ns = now
        lag = self.counters.lag = self._lag()
        record = self.last = self.counters.health(ENGINE, lag=lag, now_ns=now)
        self._producer.produce(self._topic, key=ENGINE.encode(), value=codec.encode(record))
        self._producer.poll(0)
