"""Clocks: a TestClock moves only when told to and never backwards; LiveClock is wall time."""

from __future__ import annotations

import time

import pytest

from streams.clock import LiveClock, TestClock
from streams.exceptions import NautilusError


def test_test_clock_starts_where_told_and_only_moves_when_told() -> None:
    clock = TestClock(start_ns=1_000)

    assert clock.timestamp_ns() == 1_000
    clock.advance_to(5_000)
    assert clock.timestamp_ns() == 5_000


def test_advance_to_backwards_raises() -> None:
    clock = TestClock(100)

    with pytest.raises(NautilusError, match="cannot go back"):
        clock.advance_to(99)
    assert clock.timestamp_ns() == 100


def test_live_clock_reads_wall_time_in_ns() -> None:
    clock = LiveClock()

    before = time.time_ns()
    now = clock.timestamp_ns()
    after = time.time_ns()

    assert before <= now <= after
