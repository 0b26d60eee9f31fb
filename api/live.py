"""Live fan-out of topics to websocket clients: one consumer per topic, bounded client queues.

A `TopicFeed` starts when a topic gets its first client and stops with its last. It reads every
partition from the true end of the log at start (no consumer group, nothing committed; the
API is not part of the pipeline), encodes each record once as the JSON text clients receive,
and offers it to every matching client's queue without waiting. A client whose queue is full
is dropped: its backlog is discarded and, once the message in flight is through, it gets a
close frame (CLOSE_TOO_SLOW). A slow client never slows the feed, the other clients or the
pipeline. A feed that fails (broker gone, topic missing) drops its clients with CLOSE_FAILED;
the next client starts a new one.

Only records produced after a client connected reach it: the first client of a topic waits
until the feed has sought to the true end (`kafka.end_offsets`: the embedded broker's
ListOffsets reports a short end); a client joining a running feed skips what the feed's last
fetch already showed to be in the log (the partitions' high watermarks).

Message: `{"topic", "partition", "offset", "key", "value"}`, `value` being the record's JSON as
on the wire.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from api import metrics
from streams import kafka

log = logging.getLogger(__name__)
FETCH_RECORDS = 500  # most records fanned out at once: a client's queue must hold a burst
CLOSE_FAILED, CLOSE_TOO_SLOW = 1011, 1013


@dataclass(eq=False)
class Client:
    """One websocket subscriber: its key filter, the first offset it gets per partition, and
    its bounded queue of messages. A `None` in the queue tells its sender to close the
    connection with `close_code` / `close_reason`: the client is being dropped."""

    key: bytes | None
    queue: asyncio.Queue[str | None]
    after: dict[int, int] = field(default_factory=dict)  # partition -> first offset sent
    dropping: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int = CLOSE_TOO_SLOW
    close_reason: str = ""

    def offer(self, partition: int, offset: int, key: bytes | None, message: str) -> None:
        if self.dropping.is_set() or (self.key is not None and key != self.key):
            return
        if offset < self.after.get(partition, 0):
            return  # in the log before this client joined
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.drop(CLOSE_TOO_SLOW, "too slow: fell behind the stream")

    def drop(self, code: int, reason: str) -> None:
        """Discard what is queued and have the sender close the connection next."""
        if self.dropping.is_set():
            return
        metrics.STREAM_DROPPED.labels("slow" if code == CLOSE_TOO_SLOW else "failed").inc()
        log.info("websocket client dropped code=%d key=%r", code, self.key)
        self.close_code, self.close_reason = code, reason
        self.dropping.set()
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class TopicFeed:
    """Consumes one topic from its end and fans its records out to the clients."""

    def __init__(self, brokers: str, topic: str) -> None:
        self.brokers, self.topic = brokers, topic
        self.clients: set[Client] = set()
        self.ready = asyncio.Event()  # set once reading from the end, or failed
        self.failed = False
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._ends: dict[int, int] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"live:{self.topic}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})  # not gather: see api/routes/stream.py _pump

    def add(self, client: Client) -> None:
        """Subscribe `client` from now on: from the end the feed sought to if it is still
        starting, else from the high watermarks of its last fetch."""
        if self.ready.is_set() and self._consumer is not None:
            client.after = dict(self._ends)
            for p in client.after:
                high = self._consumer.highwater(TopicPartition(self.topic, p))
                client.after[p] = max(client.after[p], high or 0)
        self.clients.add(client)

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.brokers, enable_auto_commit=False,
                                    group_id=None)
        try:
            await consumer.start()
            await self._seek_to_end(consumer)
            self._consumer = consumer
            self.ready.set()
            while True:
                batches = await consumer.getmany(timeout_ms=1_000, max_records=FETCH_RECORDS)
                clients = list(self.clients)
                for tp, records in batches.items():
                    for r in records:
                        self._fan_out(clients, tp, r.offset, r.key, r.value)
                await asyncio.sleep(0)  # let the clients' senders drain between fetches
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("live feed failed topic=%s", self.topic)
            self.failed = True
            for client in self.clients:
                client.drop(CLOSE_FAILED, "the live feed failed; reconnect later")
        finally:
            self.ready.set()
            await consumer.stop()

    async def _seek_to_end(self, consumer: AIOKafkaConsumer) -> None:
        """Start every partition at its true end, so clients get only what comes later."""
        self._ends = await asyncio.to_thread(kafka.end_offsets, self.brokers, self.topic)
        consumer.assign([TopicPartition(self.topic, p) for p in self._ends])
        for p, end in self._ends.items():
            consumer.seek(TopicPartition(self.topic, p), end)

    def _fan_out(self, clients: list[Client], tp: TopicPartition, offset: int,
                 key: bytes | None, value: bytes | None) -> None:
        try:
            decoded = orjson.loads(value) if value is not None else None
        except orjson.JSONDecodeError:
            return  # not a record of ours; the pipeline dead-letters such records
        message = orjson.dumps({
            "topic": tp.topic, "partition": tp.partition, "offset": offset,
            "key": key.decode(errors="replace") if key is not None else None, "value": decoded,
        }).decode()
        for client in clients:
            client.offer(tp.partition, offset, key, message)


class LiveHub:
    """The feeds of one API process, by (brokers, topic)."""

    def __init__(self) -> None:
        self._feeds: dict[tuple[str, str], TopicFeed] = {}
        self._lock = asyncio.Lock()

    async def join(self, brokers: str, topic: str, client: Client) -> TopicFeed:
        """Add `client` to the topic's feed (started if needed, or if the last one failed)
        and return once the feed reads from the end (or has failed and dropped it)."""
        async with self._lock:
            feed = self._feeds.get((brokers, topic))
            if feed is None or feed.failed:
                feed = self._feeds[(brokers, topic)] = TopicFeed(brokers, topic)
                feed.start()
            feed.add(client)
        await feed.ready.wait()
        return feed

    async def leave(self, feed: TopicFeed, client: Client) -> None:
        """Remove `client`; a feed stops with its last client."""
        async with self._lock:
            feed.clients.discard(client)
            if feed.clients:
                return
            if self._feeds.get((feed.brokers, feed.topic)) is feed:
                del self._feeds[(feed.brokers, feed.topic)]
        await feed.stop()

    async def close(self) -> None:
        for feed in list(self._feeds.values()):
            await feed.stop()
        self._feeds.clear()
