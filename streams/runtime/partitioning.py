"""Where an engine's state lives: its key space, and the topic each input is read from.

An engine keeps its state by `Engine.key_field`. A worker holds exactly the state of the
partitions it is assigned, so every record an engine reads must arrive on the partition its
state key hashes to (murmur2, like our producers):

- an input topic keyed by the engine's key field (the catalog names each topic's `key`) is
  read directly; all such inputs of one engine must share one partition count;
- an input keyed by another field is read through a repartition topic the runtime owns,
  `<app_id>-<engine>-<topic>-repartition` (see streams/runtime/repartition.py), with the
  state's partition count;
- a broadcast input (`@handles(topic, broadcast=True)`: records of no key, such as bars for
  an engine keyed by account) is not partitioned at all: every worker reads all of its
  partitions from the earliest record, outside the consumer group, and commits nothing
  (streams/runtime/broadcast.py).

The state's partition count is the direct inputs' one; an engine with none takes the largest
partition count of its keyed inputs, so re-keying never narrows its parallelism. An engine
needs at least one keyed input: broadcast records alone create no key. A binding that
cannot fit (a value model without the key field, direct inputs of different partition
counts, a repartition topic of another partition count on the broker) is refused at startup
with a one-line ConfigError naming engine, topic and key.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import NewTopic

from processors.base import Engine
from streams import kafka
from streams.catalog import Catalog
from streams.exceptions import BrokerError, ConfigError
from streams.schema import MODELS


@dataclass(frozen=True, slots=True)
class InputRoute:
    """One input of an engine: its catalog topic and the topic its binding consumes."""

    topic: str
    consumed: str
    broadcast: bool = False

    @property
    def repartitioned(self) -> bool:
        return self.consumed != self.topic


@dataclass(frozen=True, slots=True)
class StatePlan:
    """An engine's key space: its state key, partition count and input routes."""

    engine: str
    key_field: str
    partitions: int
    routes: tuple[InputRoute, ...]

    @property
    def consumed_topics(self) -> frozenset[str]:
        """The topics the binding reads as a member of the consumer group."""
        return frozenset(r.consumed for r in self.routes if not r.broadcast)

    @property
    def broadcast(self) -> tuple[InputRoute, ...]:
        return tuple(r for r in self.routes if r.broadcast)

    @property
    def repartitioned(self) -> tuple[InputRoute, ...]:
        return tuple(r for r in self.routes if r.repartitioned)


def repartition_topic(app_id: str, engine: str, topic: str) -> str:
    """The runtime's repartition topic of `engine`'s input `topic` in app `app_id`."""
    return f"{app_id}-{engine}-{topic}-repartition"


def plan_state(engine_cls: type[Engine], catalog: Catalog, app_id: str) -> StatePlan:
    """How `engine_cls` reads its inputs so each worker holds exactly its partitions' state;
    a ConfigError if its inputs cannot be partitioned by its state key."""
    name, key = engine_cls.name, engine_cls.key_field
    broadcast = engine_cls.broadcast_inputs
    for topic in broadcast:
        catalog[topic]  # a CatalogError names an unknown topic
    specs = [catalog[topic] for topic in engine_cls.inputs if topic not in broadcast]
    if not specs:
        raise ConfigError(f"engine {name} reads only broadcast inputs "
                          f"({', '.join(sorted(broadcast))}); it needs a keyed input to "
                          f"give its state keys ({key!r})")
    for spec in specs:
        model = MODELS[spec.value]
        if key not in model.model_fields:
            raise ConfigError(
                f"engine {name} keys its state by {key!r}, but topic {spec.name} carries "
                f"{spec.value}, which has no field {key!r}; if every instance needs all "
                f"of it, declare it @handles({spec.name!r}, broadcast=True)"
            )
    direct = [s for s in specs if s.key == key]
    if len({s.partitions for s in direct}) > 1:
        counts = ", ".join(f"{s.name} has {s.partitions}" for s in direct)
        raise ConfigError(
            f"engine {name} keys its state by {key!r}, but its inputs keyed by {key!r} are "
            f"not co-partitioned ({counts} partitions); give them one partition count in "
            "topics.yaml"
        )
    partitions = direct[0].partitions if direct else max(s.partitions for s in specs)
    routes = tuple(
        InputRoute(s.name, s.name if s.key == key else repartition_topic(app_id, name, s.name))
        for s in specs
    ) + tuple(InputRoute(t, t, broadcast=True) for t in engine_cls.inputs if t in broadcast)
    return StatePlan(name, key, partitions, routes)


def ensure_repartition_topics(plan: StatePlan, catalog: Catalog, brokers: str) -> None:
    """Create `plan`'s missing repartition topics (delete cleanup, the source's retention);
    a ConfigError if one exists with another partition count than the state's."""
    if not plan.repartitioned:
        return
    client = kafka.admin(brokers)
    existing = kafka.topic_partitions(client)
    for route in plan.repartitioned:
        have = existing.get(route.consumed)
        if have is not None and have != plan.partitions:
            raise ConfigError(
                f"engine {plan.engine}: repartition topic {route.consumed} (input "
                f"{route.topic} re-keyed by {plan.key_field!r}) has {have} partitions on the "
                f"broker, its state needs {plan.partitions}; let the workers drain it, then "
                "delete it"
            )
    new = [
        NewTopic(r.consumed, plan.partitions, catalog[r.topic].replication,
                 config={"cleanup.policy": "delete",
                         "retention.ms": str(catalog[r.topic].retention_ms)})
        for r in plan.repartitioned if r.consumed not in existing
    ]
    if new:
        for topic, fut in client.create_topics(new, request_timeout=kafka.TIMEOUT_S).items():
            try:
                fut.result()
            except KafkaException as exc:  # a worker starting beside this one was first
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise BrokerError(f"create repartition topic {topic} failed: "
                                      f"{exc.args[0]}") from exc
