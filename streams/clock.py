"""Clocks in integer nanoseconds: `LiveClock` for workers, `TestClock` for replay and tests.

Engines never read the wall clock; they take time from events or from an injected Clock.
Timers (`set_timer`, repeating) and time alerts (`set_time_alert`, once) fire in time order;
on a TestClock they fire deterministically as `advance_to` moves time forward.
"""

from __future__ import annotations

import heapq
import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from streams.exceptions import NautilusError

TimerCallback = Callable[["TimeEvent"], None]


@dataclass(frozen=True, slots=True)
class TimeEvent:
    """A timer firing: its name and the scheduled time it fired for."""

    name: str
    ts_event: int


@dataclass(order=True, slots=True)
class _Scheduled:
    fire_ns: int
    seq: int
    name: str = field(compare=False)
    interval_ns: int = field(compare=False)
    callback: TimerCallback = field(compare=False)


class Clock(ABC):
    """Time in ns since the epoch, plus named timers."""

    def __init__(self) -> None:
        self._heap: list[_Scheduled] = []
        self._seq = itertools.count()
        # name -> sequence number of its live schedule; a heap entry whose seq differs was
        # cancelled (or its name reused) and is skipped when it comes up.
        self._active: dict[str, int] = {}

    @abstractmethod
    def timestamp_ns(self) -> int:
        """Now, in ns since the epoch."""

    def set_time_alert(self, name: str, fire_ns: int, callback: TimerCallback) -> None:
        """Fire `callback` once when the clock reaches `fire_ns`."""
        self._schedule(name, fire_ns, 0, callback)

    def set_timer(
        self, name: str, interval_ns: int, callback: TimerCallback, start_ns: int | None = None
    ) -> None:
        """Fire `callback` every `interval_ns`, first at `start_ns + interval_ns`."""
        if interval_ns <= 0:
            raise NautilusError(f"timer {name}: interval_ns must be positive")
        start = self.timestamp_ns() if start_ns is None else start_ns
        self._schedule(name, start + interval_ns, interval_ns, callback)

    def cancel(self, name: str) -> None:
        self._active.pop(name, None)

    @property
    def timer_names(self) -> list[str]:
        return sorted(self._active)

    def _schedule(self, name: str, fire_ns: int, interval_ns: int, cb: TimerCallback) -> None:
        if name in self._active:
            raise NautilusError(f"a timer named {name!r} is already set")
        seq = next(self._seq)
        self._active[name] = seq
        heapq.heappush(self._heap, _Scheduled(fire_ns, seq, name, interval_ns, cb))

    def _fire_due(self, now_ns: int) -> list[TimeEvent]:
        """Run every callback due at or before `now_ns`, in time order (ties: set order)."""
        fired = []
        while self._heap and self._heap[0].fire_ns <= now_ns:
            item = heapq.heappop(self._heap)
            if self._active.get(item.name) != item.seq:
                continue
            if item.interval_ns:
                nxt = _Scheduled(
                    item.fire_ns + item.interval_ns, item.seq,
                    item.name, item.interval_ns, item.callback,
                )
                heapq.heappush(self._heap, nxt)
            else:
                del self._active[item.name]
            event = TimeEvent(item.name, item.fire_ns)
            self._before_callback(item.fire_ns)
            item.callback(event)
            fired.append(event)
        return fired

    def _before_callback(self, fire_ns: int) -> None:  # noqa: B027 - optional hook
        """Hook: a TestClock shows the firing time to the callback."""


class TestClock(Clock):
    """A clock that only moves when told to; timers fire inside `advance_to`."""

    __test__ = False  # not a pytest test class

    def __init__(self, start_ns: int = 0) -> None:
        super().__init__()
        self._now = start_ns

    def timestamp_ns(self) -> int:
        return self._now

    def advance_to(self, ts_ns: int) -> list[TimeEvent]:
        """Move time forward to `ts_ns`, firing due timers in order; never moves backwards."""
        if ts_ns < self._now:
            raise NautilusError(f"TestClock cannot go back from {self._now} to {ts_ns}")
        fired = self._fire_due(ts_ns)
        self._now = ts_ns
        return fired

    def _before_callback(self, fire_ns: int) -> None:
        self._now = max(self._now, fire_ns)


class LiveClock(Clock):
    """Wall-clock time; `poll()` fires due timers (the runtime calls it periodically)."""

    def timestamp_ns(self) -> int:
        return time.time_ns()

    def poll(self) -> list[TimeEvent]:
        return self._fire_due(self.timestamp_ns())
