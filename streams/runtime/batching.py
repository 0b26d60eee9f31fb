"""Deliver each fetch to the engines as one batch, not record by record through Faust.

faust-streaming hands every fetched record to its agents one at a time: the drain loop wraps
each delivery in `wait_first` (two tasks per record), then the conductor, a channel queue, the
stream and `take_events` each touch it. Profiled, that path is what bounds a worker (about
8,000 trades/s here; our engines take millions per second in-process).

`BatchingConsumer` keeps Faust's consumer (group membership, rebalances, seeks, flow control,
commits, table changelogs) and replaces only its drain loop: the records of one fetch that
belong to a topic with batch handlers go to each of them in one call, all partitions of the
topic together in fetch order; the handler returns only once the batch's outputs and state
are acked (see streams/runtime/binding.py); then the batch's offsets are acked to Faust's
commit bookkeeping exactly as per-record acks would be, so offsets are committed only after
the work they cover. Records of other topics (table changelogs during recovery) keep Faust's
per-record path. A fetch that straddles a rebalance is cut where the generation changes, like
Faust's own loop; the rest is fetched again from the committed offsets.

Faust's stall monitor (the consumer's livelock detector, every 2.5 commit intervals) reports a
partition whose fetched records no stream has taken for `stream_processing_timeout` (5 min):
it reads the time a stream last took a record of it (`monitor.stream_inbound_time`, which
Faust's stream iteration sets and this drain loop bypasses). `_deliver` sets it when a batch is
handed to its handlers, so a healthy worker is quiet ("Stream has not started processing TP"
blocks, every few seconds per partition, were the result), while a batch still unfinished
after the timeout, or records left untaken, are reported as before.

`BatchingConsumerThread` sets how long a fetch may wait at the broker for records
(`fetch_max_wait_ms`, NAUTILUS_FETCH_MAX_WAIT_MS, default 100 ms; Faust fixes 1,500 ms).
aiokafka sends one fetch per broker at a time and leaves out partitions whose records are
still being processed; once a batch takes longer than its prefetch backoff (100 ms), the next
fetch carries only the other partitions, and when those are at their end the broker holds it
for the whole wait while the busy partitions, drained meanwhile, cannot be fetched. With
Faust's 1,500 ms a VPIN worker on the embedded broker spent about a third of its time in such
stalls (79 k trades/s; 152 k with 100 ms). A Kafka broker or Redpanda answers a waiting fetch
as soon as a record arrives; the embedded broker (Tansu 0.6) does not: a fetch that finds
nothing is mostly held for the whole wait, so there a record reaching a quiet topic can wait
up to `fetch_max_wait_ms` (issue 16, an aiokafka consumer alone on Tansu, a record every
3 ms: p50 27 ms, p99 72 ms with 100 ms; 6 ms, 48 ms with 10 ms). A shorter wait costs
more fetch requests while a topic is idle (10 ms: an idle VPIN worker 6 % of a core instead
of 1 %, the broker 10 % instead of 3 %).

Optionally (`fetch_fresh_wait_ms`, NAUTILUS_FETCH_FRESH_WAIT_MS, default 0: off) it tops
each fetch up with the records that arrived while the previous batch was processed. aiokafka
fetches ahead: the moment a batch is taken it asks for more, and that answer (what arrived
within a round trip) waits in its buffer while the batch is processed. The next batch is
those records, already a batch old, and the ones that arrived during the processing wait
for the batch after: a record waits one to two batches before its engine sees it. Topped
up, the consumer takes the buffer, then waits up to `fetch_fresh_wait_ms` for the fetch
that taking it started and delivers both as one batch: a record waits at most about one
batch, plus that wait whenever the fresh fetch is slow or finds nothing. Measured on the
shared 2-core machine (issue 16, benchmarks/latency.py): at 1,000 trades/s the newest record
of a batch was 8-15 ms old when taken instead of 20-40 ms, but at 20,000 trades/s a worker
that is short of CPU gained nothing (its fetch came back after the wait) and a 40 ms wait
made p50 worse (329-348 ms against 133-253 ms): every wait lengthens a saturated worker's
batches; and on a backlog a worker's rate fell by a fifth (83 k against 98-108 k trades/s),
since the fetch it waits for no longer overlaps the processing. Hence off by default. A
fetch that already holds `batch_max_events` records is not topped up; should the assignment
change during the wait, neither part is delivered: the seek that follows every assignment
reads both again from the committed offsets.

`BatchingApp` is a `faust.App` whose transport makes this consumer; `subscribe_batches`
registers a handler and subscribes its topic.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from time import monotonic
from typing import Any, ClassVar, cast

import faust
import numpy as np
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ConsumerT, TransportT
from faust.types.tuples import ack_lock

BatchHandler = Callable[[str, list[Any]], Awaitable[None]]
"""Called with a topic name and its records (aiokafka ConsumerRecords) from one fetch."""


class BatchingConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with a drain loop that delivers whole fetches per topic."""

    @property
    def batch_handlers(self) -> dict[str, list[BatchHandler]]:
        return cast(BatchingApp, self.app).batch_handlers

    def _new_consumer_thread(self) -> BatchingConsumerThread:
        return BatchingConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _drain_messages(self, fetcher: Any) -> None:
        consumer_stopped = cast(Any, self)._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                records, active = await self._wait_next_records(timeout=1.0)
                await self.sleep(0)  # never monopolise the loop, even when fetches are instant
                if records and not self.should_stop:
                    if self.flow_active:
                        await self._deliver(records, active, self.app.consumer_generation_id)
                    else:  # fetched while a rebalance stopped the flow: read again later
                        await self._seek_back()
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _seek_back(self) -> None:
        try:
            await self.perform_seek()
        except Exception as exc:  # as Faust's own loop: the next rebalance seeks again
            self.log.warning("seek to committed offsets failed: %r", exc)

    async def _deliver(
        self, records: Mapping[TP, Sequence[Any]], active: set[TP] | None, generation: int
    ) -> None:
        batches: dict[str, list[tuple[TP, list[Any]]]] = defaultdict(list)
        for tp, tp_records in records.items():
            if active is not None and tp not in active and tp not in self._buffered_partitions:
                continue
            self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
            unread = await self._unread(tp, tp_records)
            if not unread:
                continue
            if tp.topic in self.batch_handlers:
                batches[tp.topic].append((tp, unread))
            elif not await self._deliver_each(tp, unread, generation):
                return
        inbound = self.app.monitor.stream_inbound_time  # what the stall monitor reads
        for topic, parts in batches.items():
            if not self._still_current(generation):
                return
            batch = [r for _, rs in parts for r in rs]
            taken = monotonic()
            for tp, _ in parts:
                inbound[tp] = taken
            # engines on the same topic work side by side; each acks its own outputs first
            await asyncio.gather(*(handle(topic, batch) for handle in self.batch_handlers[topic]))
            for tp, tp_records in parts:
                self._read_offset[tp] = tp_records[-1].offset
                self._ack_all(tp, tp_records)
            await self._maybe_commit()

    def _still_current(self, generation: int) -> bool:
        return self.flow_active and self.app.consumer_generation_id == generation

    async def _unread(self, tp: TP, tp_records: Sequence[Any]) -> list[Any]:
        """The records not read before, with Faust's gap bookkeeping for skipped offsets."""
        read = self._read_offset[tp]
        unread = [r for r in tp_records if read is None or r.offset >= read]
        if not unread or _contiguous(unread, read):
            return unread
        if self.app.topics.acks_enabled_for(tp.topic):
            previous = read
            for record in unread:  # offsets missing from the log (compaction, markers): gaps
                if previous and record.offset - previous > 1:
                    await self._add_gap(tp, previous + 1, record.offset)
                previous = record.offset
        return unread

    async def _deliver_each(self, tp: TP, tp_records: list[Any], generation: int) -> bool:
        """Faust's per-record delivery (table changelogs); False once the flow stops."""
        for record in tp_records:
            if not self._still_current(generation):
                return False
            await self._maybe_commit()
            await self.wait_first(
                self.callback(self._to_message(tp, record)), self.suspend_flow.wait()
            )
            self._read_offset[tp] = record.offset
        return True

    def _ack_all(self, tp: TP, tp_records: list[Any]) -> None:
        """Mark a delivered batch's offsets acked, as `Consumer.ack` does one by one."""
        if not self.app.topics.acks_enabled_for(tp.topic):
            return
        with ack_lock:
            committed = self._committed_offset[tp]
            index = self._acked_index[tp]
            offsets = [
                o for o in (r.offset for r in tp_records)
                if (committed is None or o >= committed) and o not in index
            ]
            index.update(offsets)
            self._acked[tp].extend(offsets)
            self._n_acked += len(offsets)

    def _new_offset(self, tp: TP) -> int | None:
        """Faust's committable offset (the end of the first run of consecutive acked offsets
        after the committed one), found with numpy: a batch acks thousands at once."""
        acked = self._acked[tp]
        if not acked or self._gap[tp]:
            return cast(int | None, super()._new_offset(tp))
        acked.sort()
        committed = self._committed_offset[tp]
        if committed and acked[0] - committed > 1:
            return None
        breaks = np.flatnonzero(np.diff(np.asarray(acked, dtype=np.int64)) != 1)
        run = acked[: int(breaks[0]) + 1 if len(breaks) else len(acked)]
        del acked[: len(run)]
        self._acked_index[tp].difference_update(run)
        return run[-1] + 1

    async def _maybe_commit(self) -> None:
        if self._commit_every is not None and self._n_acked >= self._commit_every:
            self._n_acked = 0
            await self.commit()


def _contiguous(records: list[Any], read: int | None) -> bool:
    """No offset is missing between `read` (the last read, if any) and the records."""
    first, last = records[0].offset, records[-1].offset
    return last - first == len(records) - 1 and (read is None or first - read <= 1)


def _appended(
    records: Mapping[TP, Sequence[Any]], later: Mapping[TP, Sequence[Any]]
) -> dict[TP, list[Any]]:
    """Each partition's `records` followed by its `later` ones (fetched after them)."""
    joined = {tp: list(tp_records) for tp, tp_records in records.items()}
    for tp, tp_records in later.items():
        joined.setdefault(tp, []).extend(tp_records)
    return joined


class BatchingConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread, with the app's `fetch_max_wait_ms`, topping each
    fetch up with the records that arrived meanwhile (`fetch_fresh_wait_ms`)."""

    def _create_worker_consumer(self, transport: TransportT) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Faust passes fetch_max_wait_ms=1500 to AIOKafkaConsumer without a setting; the
        # consumer hands its attribute to the Fetcher it makes on start.
        if not hasattr(consumer, "_fetch_max_wait_ms"):
            raise RuntimeError("this aiokafka keeps fetch_max_wait_ms elsewhere; update "
                               "BatchingConsumerThread")
        consumer._fetch_max_wait_ms = cast(BatchingApp, self.app).fetch_max_wait_ms
        return consumer

    async def _fetch_records(
        self,
        consumer: Any,
        active_partitions: set[TP],
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Mapping[TP, list[Any]]:
        """The records fetched so far, topped up with what the fetch that taking them starts
        brings within `fetch_fresh_wait_ms` (see the module docstring)."""
        records = await super()._fetch_records(
            consumer, active_partitions, timeout=timeout, max_records=max_records
        )
        wait_s = cast(BatchingApp, self.app).fetch_fresh_wait_ms / 1000
        if not wait_s or not records:
            return records
        taken = sum(len(tp_records) for tp_records in records.values())
        if max_records is not None and taken >= max_records:
            return records
        subscriptions = consumer._fetcher._subscriptions
        if subscriptions.reassignment_in_progress:
            return records
        assignment = subscriptions.subscription.assignment
        fresh = await super()._fetch_records(
            consumer, active_partitions, timeout=wait_s,
            max_records=None if max_records is None else max_records - taken,
        )
        subscription = subscriptions.subscription
        if subscription is None or subscription.assignment is not assignment:
            return {}  # a rebalance began meanwhile: the seek after it reads both again
        return _appended(records, fresh)


class BatchingTransport(faust_aiokafka.Transport):
    """The aiokafka transport, making `BatchingConsumer`s."""

    Consumer: ClassVar[type[ConsumerT]] = BatchingConsumer


class BatchingApp(faust.App):
    """A Faust app whose consumer delivers subscribed topics in whole fetches."""

    def __init__(
        self, *args: Any, fetch_max_wait_ms: int, fetch_fresh_wait_ms: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.batch_handlers: dict[str, list[BatchHandler]] = {}
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.fetch_fresh_wait_ms = fetch_fresh_wait_ms

    def _new_transport(self) -> TransportT:
        return BatchingTransport(self.conf.broker_consumer, self)

    def subscribe_batches(self, topic: faust.TopicT, handler: BatchHandler) -> None:
        """Subscribe `topic` (one name) and send its records to `handler` per fetch, besides
        any handler subscribed to it before (every engine reading the topic gets each batch)."""
        (name,) = topic.topics
        self.batch_handlers.setdefault(name, []).append(handler)
        self.topics.add(topic)
