"""The engine contract shared by the Faust runtime, the replay driver and the tests.

An engine takes a columnar batch of one input topic (numpy arrays, one row per event, in
arrival order) and returns the events it concludes. It holds its state per key and can
`snapshot` / `restore` the state of one key as a JSON-able dict. Results must not depend on
how the stream was cut into batches.

An input is keyed (the default) or broadcast. A keyed input's records each belong to one
key, and the runtime delivers them to the instance that holds that key. A broadcast input's
records belong to no key (bars, for an engine keyed by account): every instance reads the
whole topic, from its earliest record on every start, and applies each record to the keys it
holds. So a broadcast handler must be idempotent per key: a record a key's state already
includes changes nothing and emits nothing. State derived from a broadcast topic alone (the
newest close per symbol) is the same in every instance and is not a key's: it is rebuilt by
the re-read, never snapshotted.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np
from pydantic import BaseModel

from streams.clock import Clock
from streams.schema import Event

if TYPE_CHECKING:  # torch is imported by the engines that keep tensors, not by the CLI
    import torch

State = dict[str, Any]
Columns = Mapping[str, np.ndarray]
Handler = TypeVar("Handler", bound=Callable[..., list["Emit"]])


def handles(
    topic: str, *, broadcast: bool = False, joined: bool = False
) -> Callable[[Handler], Handler]:
    """Declare a method as the engine's handler of `topic`'s batches.

    `Engine.inputs` is the list of topics its handlers name, in definition order; `process`
    hands each batch to its topic's handler, `handler(self, columns) -> list[Emit]`.
    `broadcast`: every instance reads the whole topic (see the module docstring); the topic
    is in `Engine.broadcast_inputs`.

    `joined=True` says the topic's events are readings the engine joins into what it
    concludes from its other inputs (the latest at or before an event's time): a replay
    delivers them before the engine's other inputs of the same ts_event (`Engine.joined`).
    """

    def declare(method: Handler) -> Handler:
        method.__handles__ = topic  # type: ignore[attr-defined]
        method.__broadcast__ = broadcast  # type: ignore[attr-defined]
        method.__joined__ = joined  # type: ignore[attr-defined]
        return method

    return declare


@runtime_checkable
class FeedTuning(Protocol):
    """A parameter model that sizes itself to a feed whose symbols' flow is known in advance
    (`up`'s simulated feed): `volume_per_s` is each symbol's expected traded volume per
    second. It returns the parameters to run with; `up` sets the ones that changed."""

    def tuned_for_feed(self, volume_per_s: Mapping[str, float]) -> BaseModel: ...


@dataclass(frozen=True, slots=True)
class Emit:
    """One output event and where it goes: the record's `key`, and the partition of
    `partition_key` when the record's key is finer than the topic's partitioning (a
    compacted topic keeps the newest record per key: logic.positions is keyed
    account/symbol and partitioned by account); None: the key's own partition."""

    topic: str
    key: str
    value: Event
    partition_key: str | None = None


class Engine(ABC):
    """A pure, stateful stream engine.

    A subclass declares everything the runtime needs to know about it in one place: its name,
    one `@handles(topic)` method per input topic (they make `inputs`), its output topics, the
    field its state is keyed by, and its parameter model (defaults live in settings; `--set`
    overrides them). `joined` lists the inputs declared `@handles(topic, joined=True)`.
    """

    name: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]] = ()
    broadcast_inputs: ClassVar[frozenset[str]] = frozenset()
    joined: ClassVar[frozenset[str]] = frozenset()
    outputs: ClassVar[tuple[str, ...]]
    key_field: ClassVar[str] = "symbol"
    params_model: ClassVar[type[BaseModel]]
    _handlers: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers: dict[str, str] = {}
        broadcast: set[str] = set()
        joined: set[str] = set()
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                topic = getattr(value, "__handles__", None)
                if topic is None:
                    continue
                if handlers.get(topic, attr) != attr and klass is cls:
                    raise TypeError(f"{cls.__name__}: two handlers of {topic}: "
                                    f"{handlers[topic]} and {attr}")
                handlers[topic] = attr
                if getattr(value, "__broadcast__", False):
                    broadcast.add(topic)
                else:
                    broadcast.discard(topic)
                if getattr(value, "__joined__", False):
                    joined.add(topic)
                else:  # a subclass's handler of the topic decides
                    joined.discard(topic)
        cls._handlers = handlers
        cls.inputs = tuple(handlers)
        cls.broadcast_inputs = frozenset(broadcast)
        cls.joined = frozenset(joined)

    def __init__(self, params: BaseModel, clock: Clock, device: torch.device) -> None:
        if not isinstance(params, self.params_model):
            raise TypeError(f"{self.name} takes {self.params_model.__name__}")
        self.params = params
        self.clock = clock
        self.device = device
        self._dirty: set[str] = set()

    def mark_dirty(self, key: str) -> None:
        """Record that the state of `key` changed; the runtime persists it once per batch."""
        self._dirty.add(key)

    def take_dirty(self) -> set[str]:
        """Keys whose state changed since the last call (the runtime snapshots exactly these)."""
        dirty, self._dirty = self._dirty, set()
        return dirty

    def process(self, topic: str, columns: Columns) -> list[Emit]:
        """Apply one batch of `topic` (columns of equal length) and return what it concludes:
        the batch goes to the handler declared for `topic`."""
        try:
            handler = self._handlers[topic]
        except KeyError:
            raise ValueError(f"{self.name} reads {', '.join(self.inputs)}, not {topic}") from None
        emits: list[Emit] = getattr(self, handler)(columns)
        return emits

    def quiet_rows(self, topic: str, columns: Columns) -> np.ndarray:
        """Which rows of a batch of `topic` the engine, in its present state, concludes
        nothing from: a bool per row. Processing quiet rows (any number, in one batch or one
        at a time) emits nothing, leaves the rows that follow them exactly as quiet as before,
        and does not read the clock. A replay hands a cycle's quiet rows over in one batch
        instead of instant by instant (streams/graph.py), so a wrong True changes results.
        Default: no row is quiet."""
        return np.zeros(len(columns["ts_event"]), dtype=bool)

    def on_time(self, now_ns: int) -> list[Emit]:
        """Let time pass: every event dated at or before `now_ns` has been delivered (in a
        replay exactly; a worker's clock is the wall clock, and events of its last moments
        may still arrive), so close whatever is due by then. Default: nothing is
        time-driven."""
        return []

    def flush(self) -> list[Emit]:
        """End of input (replay): emit everything still open."""
        return []

    @abstractmethod
    def keys(self) -> list[str]:
        """Keys this engine holds state for."""

    @abstractmethod
    def snapshot(self, key: str) -> State:
        """The state of one key as JSON-able data."""

    @abstractmethod
    def restore(self, key: str, state: State) -> None:
        """Replace the state of one key with a snapshot taken earlier."""

    @abstractmethod
    def forget(self, key: str) -> None:
        """Drop the state of one key (its partition moved to another worker)."""
