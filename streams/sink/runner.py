"""The sink loop: consume a batch, write it in one transaction, then commit its offsets.

Delivery is at least once with idempotent effects: offsets are committed only after the
database transaction (and the batch's dead letters) went through, and every table upserts on
its natural key, so a batch delivered again changes nothing. While the database is away the
batch in hand is retried with exponential backoff, nothing is committed or skipped, and the
sink reports itself `degraded` on logic.engine.health; when the database is back it writes
the held batch and catches up from where it stood.

A batch is written in a thread of its own while the loop consumes and decodes the next one
(the database's work overlaps the sink's Python work); the next batch's write starts only
after the one before was written and its offsets committed. So the sink holds at most two
batches: one being written, one waiting for it. A database that is there but slow (a lock
held, a busy disk) holds the sink there too: it consumes nothing more, and its health reports,
published every interval while a write waits, show its lag growing.

A stop drains before it closes: what the log already holds for the sink's partitions is
written first (until each partition reached its end and nothing came for a second, for at
most `drain_ms`), so the records that the other processes published as they stopped (a
worker's final `stopped` health, the last bars) reach the database. `up` stops the sink last
for this reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from streams import codec, kafka
from streams.sink.batch import Batch, decode_batch, to_dead_letter
from streams.sink.health import HealthReporter
from streams.sink.tables import Route, Source, Table
from streams.sink.writer import Refused, TableRows, Writer

log = logging.getLogger(__name__)

DEAD_LETTER_TOPIC = "logic.deadletter"
HEALTH_TOPIC = "logic.engine.health"
FLUSH_TIMEOUT_S = 30.0
DRAIN_IDLE_S = 1.0  # librdkafka's fetch.wait.max.ms is 0.5 s
LAG_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class SinkConfig:
    """Where the sink reads and writes, and how it batches and retries."""

    brokers: str
    database_url: str
    group: str
    batch_rows: int = 20_000
    batch_within_ms: int = 200
    retry_min_ms: int = 500
    retry_max_ms: int = 30_000
    health_interval_ms: int = 5_000
    session_timeout_ms: int = 6_000
    group_instance_id: str | None = None  # static membership, see Settings.group_instance_id
    drain_ms: int = 5_000
    dead_letter_topic: str = DEAD_LETTER_TOPIC
    health_topic: str = HEALTH_TOPIC


class Sink:
    """Writes the routed topics into their tables until `stopping` is set."""

    def __init__(self, config: SinkConfig, routes: Sequence[Route]) -> None:
        self.config = config
        self.routes = {r.topic: r for r in routes}
        self._producer = kafka.producer(config.brokers)
        self.health = HealthReporter(self._producer, config.health_topic,
                                     config.health_interval_ms, self._lag)
        self._writer = Writer(config.database_url)
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="sink-write")
        self._in_flight: _InFlight | None = None  # the batch being written
        # a batch was given up on (stopped while the database was away): nothing after it
        # may be committed in this run
        self._gave_up = False
        self._consumer = Consumer({
            "bootstrap.servers": config.brokers,
            "group.id": config.group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": config.session_timeout_ms,
            "enable.partition.eof": True,  # tells a stop's drain where the log ends
            **({"group.instance.id": config.group_instance_id}
               if config.group_instance_id else {}),
        })
        self._at_end: set[tuple[str, int]] = set()  # partitions read to their end
        # committed offsets of the current assignment, asked once per assignment
        self._starts: dict[tuple[str, int], int] = {}

    def run(self, stopping: threading.Event) -> None:
        self._consumer.subscribe(sorted(self.routes))
        self.health.publish()
        log.info("sink started group=%s topics=%s", self.config.group, ",".join(self.routes))
        try:
            while not stopping.is_set():
                messages = self._consume()
                if messages:
                    self._handle(messages, stopping)
                else:  # idle: finish the write under way
                    self._finish(stopping)
                    if self.health.counters.status == "starting":
                        self.health.set_status("running")
                self.health.maybe_publish()
            if self._finish(stopping):
                self._drain(stopping)
        finally:
            self._close()

    def _drain(self, stopping: threading.Event) -> None:
        """Write what the log holds: until every assigned partition reached its end and nothing
        came for DRAIN_IDLE_S (longer than a fetch waits at the broker), or `drain_ms` passed.
        A database that fails meanwhile ends it at once (nothing is committed then: no later
        batch may be committed over one that was not written)."""
        started = time.monotonic()
        deadline, idle_since, drained = started + self.config.drain_ms / 1000, started, 0
        while time.monotonic() < deadline:
            messages = self._consume()
            if messages:
                if not self._handle(messages, stopping):
                    break
                drained, idle_since = drained + len(messages), time.monotonic()
            elif self._at_end_of_assignment() and time.monotonic() - idle_since >= DRAIN_IDLE_S:
                break
        self._finish(stopping)
        log.info("sink drained records=%d complete=%s", drained, time.monotonic() < deadline)

    def _at_end_of_assignment(self) -> bool:
        assignment = self._consumer.assignment()
        return bool(assignment) and all((tp.topic, tp.partition) in self._at_end
                                        for tp in assignment)

    def _consume(self) -> list[Message]:
        timeout_s = self.config.batch_within_ms / 1000
        good = []
        for msg in self._consumer.consume(self.config.batch_rows, timeout_s):
            err = msg.error()
            if err is None:
                good.append(msg)
                self._at_end.discard((msg.topic(), msg.partition()))
            elif err.code() == KafkaError._PARTITION_EOF:
                self._at_end.add((msg.topic(), msg.partition()))
            else:
                log.warning("consume error topic=%s error=%s", msg.topic(), err)
        return good

    def _handle(self, messages: list[Message], stopping: threading.Event) -> bool:
        """Decode `messages`, finish the write under way, then start writing these; False
        (nothing started) if stopped while the database was away."""
        batch = decode_batch(messages, self.routes, time.time_ns())
        if not self._finish(stopping):
            return False
        self._in_flight = _InFlight(messages, batch, time.monotonic(),
                                    self._write_thread.submit(self._writer.write, batch.rows))
        return True

    def _finish(self, stopping: threading.Event) -> bool:
        """Wait for the batch being written (retrying while the database fails), then send its
        dead letters and commit its offsets; False if stopped while the database was away
        (nothing committed)."""
        flight, self._in_flight = self._in_flight, None
        if self._gave_up:
            return False
        if flight is None:
            return True
        batch = flight.batch
        if not self._write_until_done(flight, stopping):
            self._gave_up = True
            return False
        for letter in batch.dead_letters:
            self._producer.produce(self.config.dead_letter_topic,
                                   key=letter.source_topic.encode(), value=codec.encode(letter))
        if self._producer.flush(FLUSH_TIMEOUT_S):
            raise KafkaException(f"dead letters not acknowledged in {FLUSH_TIMEOUT_S:.0f}s")
        self._commit(flight.messages)
        counters = self.health.counters
        counters.events_in += len(flight.messages)
        counters.events_out += batch.row_count
        counters.dead_letters += len(batch.dead_letters)
        counters.observe_batch((time.monotonic() - flight.started) * 1000)
        counters.last_event_ts = time.time_ns()
        log.debug("batch written records=%d rows=%d dead_letters=%d ms=%.1f",
                  len(flight.messages), batch.row_count, len(batch.dead_letters),
                  (time.monotonic() - flight.started) * 1000)
        return True

    def _write_until_done(self, flight: _InFlight, stopping: threading.Event) -> bool:
        """Wait for `flight`'s write, writing it again with backoff while the database fails;
        False if stopped. Health is published every interval meanwhile, so a database that
        takes long shows as a lag that grows, not as a sink gone silent."""
        delay_ms = self.config.retry_min_ms
        written = flight.written
        while True:
            try:
                refused = self._wait(written)
                break
            except psycopg.Error as exc:
                self.health.counters.errors += 1
                log.warning("database write failed retry_in_ms=%d error=%s", delay_ms,
                            type(exc).__name__)
                self.health.set_status("degraded")
                self.health.maybe_publish()  # degraded, and how far behind, every interval
                if stopping.wait(delay_ms / 1000):
                    return False
                delay_ms = min(delay_ms * 2, self.config.retry_max_ms)
                written = self._write_thread.submit(self._writer.write, flight.batch.rows)
        self.health.set_status("running")
        _dead_letter_refused(flight.batch, refused)
        return True

    def _wait(self, written: Future[dict[Table, list[Refused]]]) -> dict[Table, list[Refused]]:
        while True:
            try:
                return written.result(timeout=self.config.health_interval_ms / 1000)
            except FutureTimeout:
                self.health.maybe_publish()

    def _lag(self) -> int | None:
        """Records in the assigned partitions not consumed yet (besides them, the sink holds at
        most two batches it has not written); None before an assignment, or while a
        partition's end (from fetch responses) or start is unknown."""
        assignment = self._consumer.assignment()
        if not assignment:
            return None
        assigned = {(tp.topic, tp.partition) for tp in assignment}
        if set(self._starts) != assigned:
            try:
                committed = self._consumer.committed(assignment, timeout=LAG_TIMEOUT_S)
            except KafkaException as exc:
                log.warning("committed offsets unavailable, lag unknown error=%s", exc)
                return None
            self._starts = {(tp.topic, tp.partition): tp.offset for tp in committed}
        total = 0
        for tp in self._consumer.position(assignment):
            low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            start = self._starts[(tp.topic, tp.partition)]
            position = next((o for o in (tp.offset, start, low) if o >= 0), None)
            if high < 0 or position is None:
                return None
            total += max(0, high - position)
        return total

    def _commit(self, messages: list[Message]) -> None:
        ends: dict[tuple[str, int], int] = {}
        for msg in messages:
            tp = (msg.topic(), msg.partition())
            ends[tp] = max(ends.get(tp, 0), msg.offset() + 1)
        offsets = [TopicPartition(t, p, o) for (t, p), o in ends.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # Rows are in the database; whoever owns the partitions now re-reads and upserts.
            log.warning("offset commit failed partitions=%d error=%s", len(offsets), exc)

    def _close(self) -> None:
        self._write_thread.shutdown()  # a write under way ends first (uncommitted: re-read)
        self.health.set_status("stopped")
        self._write_last_health()
        self._producer.flush(FLUSH_TIMEOUT_S)
        self._consumer.close()
        self._writer.close()
        log.info("sink stopped events_in=%d rows=%d dead_letters=%d",
                 self.health.counters.events_in, self.health.counters.events_out,
                 self.health.counters.dead_letters)

    def _write_last_health(self) -> None:
        """Write the report saying `stopped` into the database directly, where the sink routes
        its own health topic: once it has stopped, no sink reads that record from the log."""
        route = self.routes.get(self.config.health_topic)
        record = self.health.last
        if route is None or record is None:
            return
        try:
            row = route.table.row(record, Source(route.topic, 0, 0))  # health rows ignore it
            self._writer.write({route.table: TableRows([[row]])})
        except psycopg.Error as exc:
            log.warning("last health report not written error=%s", type(exc).__name__)


@dataclass(frozen=True, slots=True)
class _InFlight:
    """A batch whose write is under way: its messages (committed once it is written), rows,
    start and the write."""

    messages: list[Message]
    batch: Batch
    started: float
    written: Future[dict[Table, list[Refused]]]


def _dead_letter_refused(batch: Batch, refused: dict[Table, list[Refused]]) -> None:
    """Move the rows the database refused from `batch.rows` to its dead letters."""
    now = time.time_ns()
    for table, rows in refused.items():
        for r in rows:
            batch.dead_letters.append(to_dead_letter(batch.messages[table][r.index], r.reason, now))
        batch.rows[table] = batch.rows[table].without({r.index for r in rows})
