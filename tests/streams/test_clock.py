"""Clocks: TestClock timers fire deterministically in time order; LiveClock is wall time."""

from __future__ import annotations

import time

import pytest

from streams.clock import LiveClock, TestClock, TimeEvent
from streams.exceptions import NautilusError


class Recorder:
    """A timer callback that records what fired and what time the clock showed."""

    def __init__(self, clock: TestClock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, int, int]] = []

    def __call__(self, event: TimeEvent) -> None:
        self.calls.append((event.name, event.ts_event, self.clock.timestamp_ns()))

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]

    @property
    def fired(self) -> list[tuple[str, int]]:
        return [(name, ts) for name, ts, _ in self.calls]


def test_test_clock_starts_where_told_and_only_moves_when_told() -> None:
    clock = TestClock(start_ns=1_000)

    assert clock.timestamp_ns() == 1_000
    assert clock.advance_to(5_000) == []
    assert clock.timestamp_ns() == 5_000


def test_alerts_fire_in_time_order_not_set_order() -> None:
    # Arrange
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_time_alert("late", 300, rec)
    clock.set_time_alert("early", 100, rec)
    clock.set_time_alert("middle", 200, rec)

    # Act
    fired = clock.advance_to(1_000)

    # Assert
    assert rec.fired == [("early", 100), ("middle", 200), ("late", 300)]
    assert fired == [TimeEvent("early", 100), TimeEvent("middle", 200), TimeEvent("late", 300)]


def test_alerts_due_at_the_same_time_fire_in_set_order() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)
    for name in ("c", "a", "b"):
        clock.set_time_alert(name, 100, rec)

    clock.advance_to(100)

    assert rec.names == ["c", "a", "b"]


def test_repeating_timer_keeps_set_order_on_ties() -> None:
    # SOURCE BUG: a repeating timer is re-pushed with a fresh sequence number, so at t=20
    # B (set second) fires before A (set first), against "ties: set order" in _fire_due.
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_timer("A", 10, rec)
    clock.set_timer("B", 20, rec)

    clock.advance_to(40)

    assert rec.fired == [("A", 10), ("A", 20), ("B", 20), ("A", 30), ("A", 40), ("B", 40)]


def test_repeating_timer_fires_at_every_interval_in_one_advance() -> None:
    # Arrange
    clock = TestClock(1_000)
    rec = Recorder(clock)
    clock.set_timer("tick", 100, rec)

    # Act
    clock.advance_to(1_450)

    # Assert
    assert rec.fired == [("tick", 1_100), ("tick", 1_200), ("tick", 1_300), ("tick", 1_400)]
    assert clock.timestamp_ns() == 1_450
    assert clock.timer_names == ["tick"]


def test_repeating_timer_with_explicit_start() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_timer("tick", 60, rec, start_ns=30)

    clock.advance_to(200)

    assert rec.fired == [("tick", 90), ("tick", 150)]


def test_repeating_timer_continues_across_advances() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_timer("tick", 10, rec)

    clock.advance_to(15)
    clock.advance_to(20)
    clock.advance_to(29)

    assert rec.fired == [("tick", 10), ("tick", 20)]


@pytest.mark.parametrize("interval", [0, -5])
def test_timer_interval_must_be_positive(interval: int) -> None:
    clock = TestClock(0)

    with pytest.raises(NautilusError, match="interval_ns must be positive"):
        clock.set_timer("tick", interval, Recorder(clock))


def test_time_alert_fires_once() -> None:
    # Arrange
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_time_alert("once", 50, rec)

    # Act
    clock.advance_to(50)
    clock.advance_to(500)

    # Assert
    assert rec.fired == [("once", 50)]
    assert clock.timer_names == []


def test_alert_in_the_past_fires_on_the_next_advance_at_its_own_time() -> None:
    clock = TestClock(1_000)
    rec = Recorder(clock)
    clock.set_time_alert("past", 10, rec)

    clock.advance_to(1_000)

    assert rec.calls == [("past", 10, 1_000)]


def test_cancel_stops_a_timer() -> None:
    # Arrange
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_timer("tick", 10, rec)
    clock.set_time_alert("alert", 25, rec)
    clock.advance_to(15)

    # Act
    clock.cancel("tick")
    clock.cancel("alert")
    clock.advance_to(100)

    # Assert
    assert rec.fired == [("tick", 10)]
    assert clock.timer_names == []


def test_cancel_unknown_name_is_a_no_op() -> None:
    clock = TestClock(0)

    clock.cancel("nothing")

    assert clock.timer_names == []


def test_cancelled_name_can_be_set_again() -> None:
    # SOURCE BUG (same as below): the cancelled alert at 10 fires once the name is set again.
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_time_alert("x", 10, rec)
    clock.cancel("x")

    clock.set_time_alert("x", 20, rec)
    clock.advance_to(30)

    assert rec.fired == [("x", 20)]


def test_cancelled_repeating_timer_set_again_fires_only_on_its_new_schedule() -> None:
    # SOURCE BUG: cancel() only marks the name; _schedule() unmarks it when the name is set
    # again, so the old heap entry comes back to life and fires (and repeats) as well.
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_timer("tick", 10, rec)
    clock.cancel("tick")

    clock.set_timer("tick", 25, rec)
    clock.advance_to(50)

    assert rec.fired == [("tick", 25), ("tick", 50)]


def test_callback_can_cancel_its_own_repeating_timer() -> None:
    clock = TestClock(0)
    fired: list[int] = []

    def once_then_stop(event: TimeEvent) -> None:
        fired.append(event.ts_event)
        clock.cancel("tick")

    clock.set_timer("tick", 10, once_then_stop)
    clock.advance_to(100)

    assert fired == [10]


def test_callback_sees_the_fire_time_on_the_clock() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_time_alert("a", 100, rec)
    clock.set_time_alert("b", 250, rec)

    clock.advance_to(1_000)

    assert rec.calls == [("a", 100, 100), ("b", 250, 250)]
    assert clock.timestamp_ns() == 1_000


def test_alert_set_inside_a_callback_fires_within_the_same_advance() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)

    def chain(event: TimeEvent) -> None:
        clock.set_time_alert("second", event.ts_event + 5, rec)

    clock.set_time_alert("first", 10, chain)
    clock.advance_to(100)

    assert rec.calls == [("second", 15, 15)]


def test_advance_to_backwards_raises() -> None:
    clock = TestClock(100)

    with pytest.raises(NautilusError, match="cannot go back"):
        clock.advance_to(99)
    assert clock.timestamp_ns() == 100


def test_duplicate_timer_name_raises() -> None:
    clock = TestClock(0)
    clock.set_timer("t", 10, Recorder(clock))

    with pytest.raises(NautilusError, match="already set"):
        clock.set_time_alert("t", 5, Recorder(clock))


def test_fired_alert_name_can_be_reused() -> None:
    clock = TestClock(0)
    rec = Recorder(clock)
    clock.set_time_alert("t", 5, rec)
    clock.advance_to(5)

    clock.set_time_alert("t", 8, rec)
    clock.advance_to(10)

    assert rec.fired == [("t", 5), ("t", 8)]


def test_live_clock_is_close_to_wall_time() -> None:
    # Arrange
    clock = LiveClock()

    # Act
    before = time.time_ns()
    now = clock.timestamp_ns()
    after = time.time_ns()

    # Assert
    assert type(now) is int
    assert before <= now <= after


def test_live_clock_poll_fires_due_alerts_only() -> None:
    clock = LiveClock()
    fired: list[str] = []
    now = clock.timestamp_ns()
    clock.set_time_alert("due", now - 1, lambda e: fired.append(e.name))
    clock.set_time_alert("future", now + 3_600 * 10**9, lambda e: fired.append(e.name))

    events = clock.poll()

    assert fired == ["due"]
    assert [e.name for e in events] == ["due"]
    assert clock.timer_names == ["future"]
