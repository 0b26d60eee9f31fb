"""Live fan-out of topics to websocket clients: one consumer per topic, bounded client queues.

A `TopicFeed` starts when a topic gets its first client and stops with its last. It reads every
partition from the true end of the log at start (no consumer group, nothing committed; the
API is not part of the pipeline), encodes each record once as the JSON text clients receive,
and offers it to every matching client's queue without waiting. A client whose queue is full
is dropped: its backlog is discarded and, once the message in flight is through, it gets a
close frame. A slow client never slows the feed, the other clients or the pipeline.

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


@dataclass(eq=False)
class Client:
    """One websocket subscriber: its key filter and its bounded queue of messages. A `None`
    in the queue tells its sender to close the connection: the client is being dropped."""

    key: bytes | None
    queue: asyncio.Queue[str | None]
    dropping: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, key: bytes | None, message: str) -> None:
        if self.dropping.is_set() or (self.key is not None and key != self.key):
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.drop()

    def drop(self) -> None:
        """Discard what is queued and have the sender close the connection next."""
        if self.dropping.is_set():
            return
        metrics.STREAM_DROPPED.inc()
        log.info("websocket client dropped: too slow or feed failed key=%r", self.key)
        self.dropping.set()
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class TopicFeed:
    """Consumes one topic from its end and fans its records out to the clients."""

    def __init__(self, brokers: str, topic: str) -> None:
        self.brokers, self.topic = brokers, topic
        self.clients: set[Client] = set()
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"live:{self.topic}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.brokers, enable_auto_commit=False,
                                    group_id=None)
        await consumer.start()
        try:
            await self._seek_to_end(consumer)
            self.ready.set()
            while True:
                batches = await consumer.getmany(timeout_ms=1_000, max_records=FETCH_RECORDS)
                for tp, records in batches.items():
                    for r in records:
                        self._fan_out(tp, r.offset, r.key, r.value)
                await asyncio.sleep(0)  # let the clients' senders drain between fetches
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("live feed failed topic=%s", self.topic)
            for client in self.clients:
                client.drop()
        finally:
            self.ready.set()
            await consumer.stop()

    async def _seek_to_end(self, consumer: AIOKafkaConsumer) -> None:
        """Start every partition at its true end (see kafka.watermarks: the embedded broker
        reports a short end to ListOffsets), so clients get only what is produced later."""
        partitions = sorted(consumer.partitions_for_topic(self.topic) or ())
        if not partitions:
            await consumer._client.force_metadata_update()  # first use of this topic
            partitions = sorted(consumer.partitions_for_topic(self.topic) or ())
        ends = await asyncio.to_thread(_true_ends, self.brokers, self.topic, partitions)
        consumer.assign([TopicPartition(self.topic, p) for p in partitions])
        for p, end in ends.items():
            consumer.seek(TopicPartition(self.topic, p), end)

    def _fan_out(self, tp: TopicPartition, offset: int, key: bytes | None,
                 value: bytes | None) -> None:
        try:
            decoded = orjson.loads(value) if value is not None else None
        except orjson.JSONDecodeError:
            return  # not a record of ours; the pipeline dead-letters such records
        message = orjson.dumps({
            "topic": tp.topic, "partition": tp.partition, "offset": offset,
            "key": key.decode(errors="replace") if key is not None else None, "value": decoded,
        }).decode()
        for client in list(self.clients):
            client.offer(key, message)


def _true_ends(brokers: str, topic: str, partitions: list[int]) -> dict[int, int]:
    consumer = kafka.reader(brokers)
    try:
        marks = kafka.watermarks(consumer, [(topic, p) for p in partitions])
    finally:
        consumer.close()
    return {p: high for (_, p), (_, high) in marks.items()}


class LiveHub:
    """The feeds of one API process, by (brokers, topic)."""

    def __init__(self) -> None:
        self._feeds: dict[tuple[str, str], TopicFeed] = {}
        self._lock = asyncio.Lock()

    async def join(self, brokers: str, topic: str, client: Client) -> TopicFeed:
        """Add `client` to the topic's feed (started if needed), once it reads from the end."""
        async with self._lock:
            feed = self._feeds.get((brokers, topic))
            if feed is None:
                feed = self._feeds[(brokers, topic)] = TopicFeed(brokers, topic)
                feed.start()
            feed.clients.add(client)
        await feed.ready.wait()
        return feed

    async def leave(self, feed: TopicFeed, client: Client) -> None:
        """Remove `client`; the feed stops with its last client."""
        async with self._lock:
            feed.clients.discard(client)
            if feed.clients:
                return
            self._feeds.pop((feed.brokers, feed.topic), None)
        await feed.stop()

    async def close(self) -> None:
        for feed in list(self._feeds.values()):
            await feed.stop()
        self._feeds.clear()
