"""Clocks in integer nanoseconds: `LiveClock` for workers, `TestClock` for replay and tests.

Engines never read the wall clock; they take time from events or from an injected Clock.
Time-driven work is not scheduled on the clock: the runtime lets time pass on every engine
(`Engine.on_time`), the worker once per tick, the replay after each batch (to just before its
last event time, since events of that time may follow) and after each instant of a cycle,
so the same code closes the same things live and in a replay.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

from streams.exceptions import NautilusError


class Clock(ABC):
    """Time in ns since the epoch."""

    @abstractmethod
    def timestamp_ns(self) -> int:
        """Now, in ns since the epoch."""


class TestClock(Clock):
    """A clock that only moves when told to."""

    __test__ = False  # not a pytest test class

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def timestamp_ns(self) -> int:
        return self._now

    def advance_to(self, ts_ns: int) -> None:
        """Move time forward to `ts_ns`; it never moves backwards."""
        if ts_ns < self._now:
            raise NautilusError(f"TestClock cannot go back from {self._now} to {ts_ns}")
        self._now = ts_ns


class LiveClock(Clock):
    """Wall-clock time."""

    def timestamp_ns(self) -> int:
        return time.time_ns()
