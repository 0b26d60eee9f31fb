"""Assemble a worker's Faust app: one agent per engine input, one state table per engine.

Batches come from `stream.take_events(n, within=t)`, so Faust acks (and may commit) a batch
only after the binding returned. State tables use `use_partitioner=True`: Faust then picks
the changelog partition by hashing the key (murmur2, like our producers) instead of asking
for "the current event", which a batch does not have; since the input topics are keyed by the
same field with the same partition count, a key's changelog partition is its input partition,
so recovery restores exactly the keys a worker owns. This is how a table is written once per
batch per key, outside per-event iteration.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

import faust
from aiokafka.partitioner import DefaultPartitioner
from faust.types import TP

from processors import ENGINES, Engine
from streams.catalog import Catalog
from streams.clock import LiveClock
from streams.device import select_device
from streams.exceptions import ConfigError
from streams.runtime.binding import EngineBinding, SourceRecord
from streams.settings import EngineParams, Settings

log = logging.getLogger(__name__)
_partitioner = DefaultPartitioner()


class FaustPublisher:
    """`Publisher` over the Faust app's producer (aiokafka, murmur2 partitioning)."""

    def __init__(self, app: faust.App) -> None:
        self._app = app

    async def send(self, topic: str, key: bytes, value: bytes) -> Awaitable[object]:
        return await self._app.producer.send(topic, key, value, None, None, None)

    async def flush(self) -> None:
        await self._app.producer.flush()


def resolve_engines(names: list[str] | None) -> list[type[Engine]]:
    """Engine classes by name (all when None); unknown names are a ConfigError."""
    if not names:
        return list(ENGINES.values())
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        raise ConfigError(
            f"unknown engine(s) {', '.join(unknown)}; known: {', '.join(ENGINES)}"
        )
    return [ENGINES[n] for n in names]


def build_app(
    settings: Settings,
    brokers: str,
    catalog: Catalog,
    engines: list[type[Engine]],
    params: EngineParams,
) -> tuple[faust.App, list[EngineBinding]]:
    """A Faust app running `engines` against `brokers`; returns it and the bindings."""
    faust_dir = settings.state_dir / "faust"  # Faust keeps a small data dir per app id
    faust_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
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
        # One fetch hand-over per batch, not per 500 records (Faust's default): the consumer
        # thread's round trips, not the engines, bound throughput otherwise.
        broker_max_poll_records=settings.batch_max_events,
        stream_buffer_maxsize=max(4096, settings.batch_max_events * 2),
        web_enabled=False,
        table_standby_replicas=0,
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_rebalance_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.session_timeout_ms / 3000,
    )
    clock = LiveClock()
    device = select_device(settings.device)
    publisher = FaustPublisher(app)
    bindings = []
    for engine_cls in engines:
        engine = engine_cls(getattr(params, engine_cls.name), clock, device)
        partitions = catalog[engine_cls.inputs[0]].partitions
        table = app.Table(
            f"{engine_cls.name}-state",
            default=None,
            partitions=partitions,
            use_partitioner=True,
            key_type=bytes,
            value_type=bytes,
        )
        binding = EngineBinding(
            engine, catalog=catalog, table=table, publisher=publisher, clock=clock,
            owns_key=_owner(app, engine_cls.inputs[0], partitions),
        )
        bindings.append(binding)
        for input_topic in engine_cls.inputs:
            _add_agent(app, settings, binding, input_topic, catalog[input_topic].partitions)
    _add_timers(app, settings, bindings, clock)
    _add_rebalance_hooks(app, bindings)
    return app, bindings


def _owner(app: faust.App, topic: str, partitions: int):  # type: ignore[no-untyped-def]
    every = list(range(partitions))

    def owns_key(key: str) -> bool:
        partition = _partitioner(key.encode(), every, every)
        return TP(topic, partition) in app.consumer.assignment()

    return owns_key


def _add_agent(
    app: faust.App, settings: Settings, binding: EngineBinding, topic_name: str, partitions: int
) -> None:
    topic = app.topic(
        topic_name, key_serializer="raw", value_serializer="raw", partitions=partitions
    )
    within_s = settings.batch_within_ms / 1000

    async def consume(stream: faust.StreamT) -> None:
        async for events in stream.take_events(settings.batch_max_events, within=within_s):
            records = [
                SourceRecord(
                    e.message.partition, e.message.offset, e.message.key, e.message.value,
                    int(e.message.timestamp * 1000),
                )
                for e in events
            ]
            await binding.handle(topic_name, records)

    app.agent(topic, name=f"{binding.name}.{topic_name}")(consume)


def lag(app: faust.App, binding: EngineBinding) -> int:
    """Records in the binding's assigned input partitions not processed yet."""
    consumer = app.consumer
    inputs = set(binding.engine.inputs)
    next_offsets = binding.next_offsets()
    total = 0
    for tp in consumer.assignment():
        if tp.topic not in inputs:
            continue
        try:
            high = consumer.highwater(tp)
        except Exception:  # not fetched yet: unknown, count as caught up
            continue
        position = next_offsets.get((tp.topic, tp.partition))
        if position is None:
            committed = getattr(consumer, "_committed_offset", {}).get(tp)
            position = committed if committed is not None else high
        total += max(0, (high or 0) - position)
    return total


def _add_timers(
    app: faust.App, settings: Settings, bindings: list[EngineBinding], clock: LiveClock
) -> None:
    live_slack_ns = settings.live_slack_ms * 1_000_000

    @app.timer(interval=settings.clock_tick_ms / 1000)
    async def let_time_pass() -> None:
        if not app.tables.recovery.completed.is_set():
            return
        now = clock.timestamp_ns()
        for binding in bindings:
            # A worker catching up on a backlog must not close bars by wall-clock time:
            # later records of the backlog still belong to them.
            newest = binding.counters.last_event_ts
            live = newest is not None and now - newest <= live_slack_ns
            if live or lag(app, binding) == 0:
                await binding.tick(now)

    @app.timer(interval=settings.health_interval_ms / 1000)
    async def publish_health() -> None:
        now = clock.timestamp_ns()
        for binding in bindings:
            health = binding.counters.health(binding.name, lag(app, binding), now)
            metrics = binding.counters.metrics(binding.name, now)
            for topic, value in (("logic.engine.health", health), ("logic.metrics", metrics)):
                await app.producer.send(
                    topic, binding.name.encode(), value.model_dump_json().encode(),
                    None, None, None,
                )


def _add_rebalance_hooks(app: faust.App, bindings: list[EngineBinding]) -> None:
    @app.on_partitions_revoked.connect
    async def drop_state(app: faust.App, revoked: set[TP], **_: object) -> None:
        for binding in bindings:
            if any(tp.topic in binding.engine.inputs for tp in revoked):
                binding.revoke()
