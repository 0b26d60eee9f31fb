"""Assemble a worker's Faust app: a batch subscription per engine input, a state table per engine.

Each fetch of an input topic reaches its engine's binding as one batch (up to
`batch_max_events` records; see streams/runtime/batching.py), and its offsets are acked to
Faust only after the binding returned, so they are committed only after the batch's outputs
and state were acked. An input keyed by another field than the engine's state key reaches
the binding through a repartition topic, fed by a `Repartitioner` subscribed to the input
(streams/runtime/partitioning.py, streams/runtime/repartition.py). State tables use
`use_partitioner=True`: Faust then picks the changelog partition by hashing the key (murmur2,
like our producers) instead of asking for "the current event", which a batch does not have;
the table has the partition count of the topics the binding consumes, so a key's changelog
partition is its input partition and a worker restores exactly the keys of the partitions it
is assigned. This is how a table is written once per batch per key, outside per-event
iteration. A broadcast input is read whole by a `BroadcastReader` per worker, outside the
group (streams/runtime/broadcast.py), started once the first assignment's tables are
recovered, so the keys it marks are restored first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

import faust
from faust.types import TP

from processors import Engine
from streams import kafka
from streams.catalog import Catalog
from streams.clock import LiveClock
from streams.device import select_device
from streams.runtime.allocator import use_system_allocator
from streams.runtime.batching import BatchHandler, BatchingApp
from streams.runtime.binding import EngineBinding
from streams.runtime.broadcast import BroadcastReader
from streams.runtime.partitioning import ensure_repartition_topics, plan_state
from streams.runtime.records import PARTITIONER, Header
from streams.runtime.recovery import SeekSafeTableManager
from streams.runtime.repartition import Repartitioner
from streams.settings import EngineParams, Settings

log = logging.getLogger(__name__)


class FaustPublisher:
    """`Publisher` over the Faust app's producer (aiokafka, murmur2 partitioning)."""

    def __init__(self, app: faust.App) -> None:
        self._app = app

    async def send(
        self, topic: str, key: bytes, value: bytes, *, partition: int | None = None,
        timestamp_ms: int | None = None, headers: list[Header] | None = None,
    ) -> Awaitable[object]:
        timestamp_s = None if timestamp_ms is None else timestamp_ms / 1000
        return await self._app.producer.send(
            topic, key, value, partition, timestamp_s, headers
        )

    async def flush(self) -> None:
        await self._app.producer.flush()


def build_app(
    settings: Settings,
    brokers: str,
    catalog: Catalog,
    engines: list[type[Engine]],
    params: EngineParams,
) -> tuple[BatchingApp, list[EngineBinding]]:
    """A Faust app running `engines` against `brokers`; returns it and the bindings.
    Arrow allocates with the system allocator from now on (streams/runtime/allocator.py)."""
    log.info("arrow memory pool=%s", use_system_allocator())
    faust_dir = settings.state_dir / "faust"  # Faust keeps a small data dir per app id
    faust_dir.mkdir(parents=True, exist_ok=True)
    app = BatchingApp(
        settings.app_id,
        broker=[f"kafka://{b.strip()}" for b in brokers.split(",")],
        store="memory://",
        datadir=str(faust_dir / settings.app_id),
        key_serializer="raw",
        value_serializer="raw",
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_commit_every=settings.batch_max_events,
        # A fetch is a batch: up to batch_max_events records (Faust's default is 500).
        broker_max_poll_records=settings.batch_max_events,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        fetch_fresh_wait_ms=settings.fetch_fresh_wait_ms,
        web_enabled=False,
        TableManager=SeekSafeTableManager,  # see streams/runtime/recovery.py
        table_standby_replicas=0,
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_rebalance_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.session_timeout_ms / 3000,
        consumer_group_instance_id=settings.group_instance_id,
    )
    clock = LiveClock()
    device = select_device(settings.device)
    publisher = FaustPublisher(app)
    plans = [plan_state(engine_cls, catalog, settings.app_id) for engine_cls in engines]
    for plan in plans:  # every engine is checked before any topic is created
        ensure_repartition_topics(plan, catalog, brokers)
    bindings, repartitioners, readers = [], [], []
    for engine_cls, plan in zip(engines, plans, strict=True):
        engine = engine_cls(getattr(params, engine_cls.name), clock, device)
        table = app.Table(
            f"{engine_cls.name}-state",
            default=None,
            partitions=plan.partitions,
            use_partitioner=True,
            key_type=bytes,
            value_type=bytes,
        )
        binding = EngineBinding(
            engine, plan=plan, catalog=catalog, table=table, publisher=publisher, clock=clock,
            partition_of=_partition_of(plan.partitions),
            assigned=_assigned(app, plan.consumed_topics),
            read_changelog=_changelog_reader(brokers, table.changelog_topic.get_topic_name()),
        )
        bindings.append(binding)
        for route in plan.routes:
            if route.broadcast:
                readers.append(BroadcastReader(
                    brokers=brokers, topic=route.topic,
                    partitions=catalog[route.topic].partitions, handle=binding.handle_broadcast,
                    caught_up=binding.broadcast_caught_up,
                    max_records=settings.batch_max_events,
                    fetch_max_wait_ms=settings.fetch_max_wait_ms,
                ))
                continue
            if route.repartitioned:
                repartitioner = Repartitioner(
                    engine=plan.engine, route=route, key_field=plan.key_field,
                    partition_of=binding.partition_of, publisher=publisher, clock=clock,
                    counters=binding.counters,
                )
                repartitioners.append(repartitioner)
                _subscribe(app, route.topic, catalog[route.topic].partitions,
                           repartitioner.handle)
            _subscribe(app, route.consumed, plan.partitions, binding.handle)
    _add_timers(app, settings, brokers, bindings, repartitioners, clock)
    _add_rebalance_hooks(app, bindings)
    _add_broadcast_readers(app, readers)
    return app, bindings


def _add_broadcast_readers(app: BatchingApp, readers: list[BroadcastReader]) -> None:
    if not readers:
        return

    @app.task
    async def read_broadcast_inputs() -> None:
        await app.tables.recovery.completed.wait()
        await asyncio.gather(*(reader.run() for reader in readers))


def _subscribe(app: BatchingApp, topic: str, partitions: int, handler: BatchHandler) -> None:
    app.subscribe_batches(
        app.topic(topic, key_serializer="raw", value_serializer="raw", partitions=partitions),
        handler,
    )


def _partition_of(partitions: int):  # type: ignore[no-untyped-def]
    every = list(range(partitions))

    def partition_of(key: str) -> int:
        return int(PARTITIONER(key.encode(), every, every))

    return partition_of


def _assigned(app: faust.App, topics: frozenset[str]):  # type: ignore[no-untyped-def]
    def assigned() -> set[int]:
        return {tp.partition for tp in app.consumer.assignment() if tp.topic in topics}

    return assigned


def _changelog_reader(brokers: str, topic: str):  # type: ignore[no-untyped-def]
    def read() -> list[tuple[bytes | None, bytes | None]]:
        return [(key, value) for _, _, key, value in kafka.read_all(brokers, topic)]

    return read


class LagMeter:
    """Records in a binding's assigned partitions not processed yet: the topics it consumes,
    and the inputs its repartitioners re-key for it.

    A partition not taken a record from yet starts at the group's committed offset, asked of
    the broker once per assignment (off the event loop); until that answer and every
    partition's end (from fetch responses) are known, the lag is unknown (None), which never
    counts as caught up.
    """

    def __init__(
        self, app: faust.App, brokers: str, group: str, binding: EngineBinding,
        repartitioners: list[Repartitioner],
    ) -> None:
        self._app, self._brokers, self._group = app, brokers, group
        self._binding, self._repartitioners = binding, repartitioners
        self._topics = binding.consumed_topics | {r.route.topic for r in repartitioners}
        self._starts: dict[tuple[str, int], int | None] = {}
        self._asked: frozenset[tuple[str, int]] = frozenset()

    async def lag(self) -> int | None:
        consumer = self._app.consumer
        assigned = frozenset(
            (tp.topic, tp.partition) for tp in consumer.assignment() if tp.topic in self._topics
        )
        if assigned != self._asked:
            self._asked = assigned
            self._starts = await asyncio.to_thread(
                kafka.committed_offsets, self._brokers, self._group, sorted(assigned)
            )
        processed = self._binding.next_offsets()
        for repartitioner in self._repartitioners:
            processed.update(repartitioner.next_offsets())
        total = 0
        for topic, partition in assigned:
            high = consumer.highwater(TP(topic, partition))
            position = processed.get((topic, partition), self._starts.get((topic, partition)))
            if high is None or high < 0 or (position is None and high > 0):
                return None
            total += max(0, high - (position or 0))
        return total


def _add_timers(
    app: faust.App,
    settings: Settings,
    brokers: str,
    bindings: list[EngineBinding],
    repartitioners: list[Repartitioner],
    clock: LiveClock,
) -> None:
    live_slack_ns = settings.live_slack_ms * 1_000_000
    meters = {
        b.name: LagMeter(app, brokers, settings.app_id, b,
                         [r for r in repartitioners if r.engine == b.name])
        for b in bindings
    }
    # published with every health record: what `replay --params live` runs with
    params = {b.name: b.engine.params.model_dump(mode="json") for b in bindings}
    ticks: dict[str, asyncio.Future[None]] = {}

    async def let_time_pass_on(binding: EngineBinding, now: int) -> None:
        # A worker catching up on a backlog must not close bars by wall-clock time:
        # later records of the backlog still belong to them. Live means every partition
        # is: one that already reached the live edge says nothing of the others.
        reached = binding.event_time_reached()
        live = reached is not None and now - reached <= live_slack_ns
        # None (unknown) is not caught up
        if live or await meters[binding.name].lag() == 0:
            await binding.tick(now)

    @app.timer(interval=settings.clock_tick_ms / 1000)
    async def let_time_pass() -> None:
        """Start each engine's tick, unless its previous one is still running.

        A tick waits for its engine's batch in flight and shares the event loop with every
        other batch, so it can take longer than the interval on a busy worker; awaited
        here, the ticks of all engines in turn overran the timer ("Timer let_time_pass is
        overlapping", 1.4-7.7 s seen). Started as tasks, the timer keeps its pace and an
        engine never has two ticks.
        """
        if not app.tables.recovery.completed.is_set():
            return
        now = clock.timestamp_ns()
        for binding in bindings:
            running = ticks.get(binding.name)
            if running is None or running.done():
                ticks[binding.name] = app.add_future(let_time_pass_on(binding, now))

    @app.timer(interval=settings.health_interval_ms / 1000)
    async def publish_health() -> None:
        now = clock.timestamp_ns()
        for binding in bindings:
            lag = binding.counters.lag = await meters[binding.name].lag()
            await _publish_health(app, binding, lag, params[binding.name], now)

    @app.on_before_shutdown.connect
    async def publish_stopped(app: faust.App, **_: object) -> None:
        # A clean stop says so, so /api/v1/engines shows this worker stopped, not stale.
        # Faust sends this after the consumer stopped and before the producer's last flush.
        now = clock.timestamp_ns()
        for binding in bindings:
            binding.counters.status = "stopped"
            await _publish_health(app, binding, None, params[binding.name], now)


async def _publish_health(
    app: faust.App, binding: EngineBinding, lag: int | None, params: dict[str, Any], now: int
) -> None:
    """One health record (with the engine's parameters) and one metrics record of `binding`
    (keyed by engine name)."""
    health = binding.counters.health(binding.name, lag, now, params)
    metrics = binding.counters.metrics(binding.name, now)
    for topic, value in (("logic.engine.health", health), ("logic.metrics", metrics)):
        await app.producer.send(
            topic, binding.name.encode(), value.model_dump_json().encode(), None, None, None,
        )


def _add_rebalance_hooks(app: faust.App, bindings: list[EngineBinding]) -> None:
    @app.on_partitions_revoked.connect
    async def drop_state(app: faust.App, revoked: set[TP], **_: object) -> None:
        for binding in bindings:
            mine = {tp.partition for tp in revoked if tp.topic in binding.consumed_topics}
            await binding.revoke(mine)

    @app.on_partitions_assigned.connect
    async def hold_assignment(app: faust.App, assigned: set[TP], **_: object) -> None:
        for binding in bindings:
            mine = {tp.partition for tp in assigned if tp.topic in binding.consumed_topics}
            await binding.hold(mine)
            log.info("engine partitions assigned engine=%s topics=%s partitions=%s",
                     binding.name, ",".join(sorted(binding.consumed_topics)), sorted(mine))
