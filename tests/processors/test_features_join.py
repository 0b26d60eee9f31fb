"""The features engine joins the latest VPIN and order-book readings at or before each bar's
end (processors/features.py): `vpin`, `vpin_cdf` from logic.vpin, `spread`, `imbalance_5`
from logic.microstructure; never a reading stamped after the bar's end, and a field the
reading does not have (None) is absent from the record.

Expected values are the hand-built readings themselves: the join's definition picks one.
"""

from __future__ import annotations

import json

import pytest
import torch
from pydantic import ValidationError

from processors.base import Emit
from processors.features import FeatureParams, FeaturesEngine
from streams.clock import TestClock
from streams.codec import event_columns
from streams.schema import Bar, Event
from tests.factories import MINUTE_NS, T0, event

SECOND_NS = 1_000_000_000
JOINED = {"vpin", "vpin_cdf", "spread", "imbalance_5"}
# the features engine's inputs (test_features_macro feeds market.macro through `feed` too)
MODEL = {"market.bars.1m": "Bar", "logic.vpin": "VpinReading",
         "logic.microstructure": "MicrostructureFeatures", "market.macro": "MacroObservation"}


def make_engine(**params: object) -> FeaturesEngine:
    return FeaturesEngine(FeatureParams(**params), TestClock(0), torch.device("cpu"))


def bar(symbol: str, end_ns: int, close: str = "100.00") -> tuple[str, Bar]:
    start = end_ns - MINUTE_NS
    return "market.bars.1m", Bar(
        ts_event=end_ns, ts_init=end_ns, bar_id=f"{symbol}@1m@{start}", symbol=symbol,
        start_ns=start, open=close, high=close, low=close, close=close, volume=1,
        trade_count=1, vwap=close)


def vpin(symbol: str, ts: int, value: float | None, cdf: float | None) -> tuple[str, Event]:
    return "logic.vpin", event("VpinReading", ts_event=ts, ts_init=ts, symbol=symbol,
                               vpin=value, vpin_cdf=cdf)


def book(symbol: str, ts: int, spread: str | None, imbalance_5: float) -> tuple[str, Event]:
    return "logic.microstructure", event(
        "MicrostructureFeatures", ts_event=ts, ts_init=ts, symbol=symbol, spread=spread,
        imbalance_5=imbalance_5)


def feed(engine: FeaturesEngine, stream: list[tuple[str, Event]],
         one_by_one: bool = False) -> list[Emit]:
    """`stream` in arrival order, each run of one topic as one batch (or each event alone)."""
    emits: list[Emit] = []
    run: list[Event] = []
    for i, (topic, ev) in enumerate(stream):
        run.append(ev)
        if one_by_one or i + 1 == len(stream) or stream[i + 1][0] != topic:
            emits += engine.process(topic, event_columns(MODEL[topic], run))
            run = []
    return emits


def joined(emits: list[Emit]) -> list[tuple[str, int, dict[str, float]]]:
    """Each feature vector's symbol, end and joined values."""
    return [(e.key, e.value.ts_event - T0,
             {k: v for k, v in e.value.values.items() if k in JOINED}) for e in emits]


def at(seconds: int) -> int:
    return T0 + seconds * SECOND_NS


def test_each_bar_joins_the_latest_readings_at_or_before_its_end() -> None:
    # Arrange: readings before and exactly at the first bar's end, then more before the second
    stream = [
        vpin("AAPL", at(10), 0.10, 0.5), book("AAPL", at(59), "0.01", 0.25),
        vpin("AAPL", at(60), 0.20, 0.6), bar("AAPL", at(60)),
        vpin("AAPL", at(61), 0.30, 0.7), book("AAPL", at(90), "0.03", -0.5),
        book("AAPL", at(120), "0.02", 0.75), bar("AAPL", at(120)),
    ]

    # Act
    emits = feed(make_engine(), stream)

    # Assert: the reading at exactly the end is joined; the older ones are not
    assert joined(emits) == [
        ("AAPL", 60 * SECOND_NS, {"vpin": 0.20, "vpin_cdf": 0.6, "spread": 0.01,
                                  "imbalance_5": 0.25}),
        ("AAPL", 120 * SECOND_NS, {"vpin": 0.30, "vpin_cdf": 0.7, "spread": 0.02,
                                   "imbalance_5": 0.75}),
    ]


def test_a_reading_stamped_after_the_bar_end_is_not_joined_even_if_it_arrived_first() -> None:
    # Arrange: a live worker's readings run ahead of its bars: readings dated after 60 s
    # arrive before the bar ending at 60 s
    stream = [
        vpin("AAPL", at(30), 0.10, 0.5), book("AAPL", at(60), "0.01", 0.25),
        vpin("AAPL", at(60) + 1, 0.90, 0.99), book("AAPL", at(61), "0.05", -1.0),
        book("AAPL", at(75), "0.04", -0.5),
        bar("AAPL", at(60)), bar("AAPL", at(120)),
    ]

    # Act
    emits = feed(make_engine(), stream)

    # Assert: the bar at 60 s has what was known at 60 s; the later readings wait for the
    # bar at 120 s
    assert joined(emits) == [
        ("AAPL", 60 * SECOND_NS, {"vpin": 0.10, "vpin_cdf": 0.5, "spread": 0.01,
                                  "imbalance_5": 0.25}),
        ("AAPL", 120 * SECOND_NS, {"vpin": 0.90, "vpin_cdf": 0.99, "spread": 0.04,
                                   "imbalance_5": -0.5}),
    ]


def test_without_readings_at_or_before_the_end_the_names_are_absent() -> None:
    # Arrange: another symbol's readings, and readings of this one only after its first bar
    stream = [
        vpin("ESZ6", at(10), 0.10, 0.5), book("ESZ6", at(10), "0.25", 0.1),
        vpin("AAPL", at(61), 0.20, 0.6), bar("AAPL", at(60)),
        book("AAPL", at(100), "0.01", 0.3), bar("AAPL", at(120)),
    ]

    # Act
    emits = feed(make_engine(), stream)

    # Assert: absent, not NaN, not 0; each topic joined on its own
    assert joined(emits) == [
        ("AAPL", 60 * SECOND_NS, {}),
        ("AAPL", 120 * SECOND_NS, {"vpin": 0.20, "vpin_cdf": 0.6, "spread": 0.01,
                                   "imbalance_5": 0.3}),
    ]


def test_a_field_the_latest_reading_lacks_is_absent_and_not_taken_from_an_older_one() -> None:
    # Arrange: VPIN before `window` buckets has no value; a one-sided book has no spread
    stream = [
        vpin("AAPL", at(5), 0.40, 0.9), book("AAPL", at(5), "0.02", 0.5),
        vpin("AAPL", at(20), None, 0.8), book("AAPL", at(20), None, -0.2), bar("AAPL", at(60)),
        vpin("AAPL", at(70), None, None), bar("AAPL", at(120)),
    ]

    # Act
    emits = feed(make_engine(), stream)

    # Assert
    assert joined(emits) == [
        ("AAPL", 60 * SECOND_NS, {"vpin_cdf": 0.8, "imbalance_5": -0.2}),
        ("AAPL", 120 * SECOND_NS, {"imbalance_5": -0.2}),
    ]


def test_a_reading_that_arrives_after_its_bar_is_not_joined_retroactively() -> None:
    # Arrange: the reading at 55 s arrives after the bar at 60 s was emitted (a live worker
    # reads each topic on its own agent)
    stream = [
        vpin("AAPL", at(10), 0.10, 0.5), bar("AAPL", at(60)),
        vpin("AAPL", at(55), 0.20, 0.6), bar("AAPL", at(120)),
    ]

    # Act
    emits = feed(make_engine(), stream)

    # Assert: the bar already out keeps what it had; the next one joins the late reading,
    # the latest at or before its end
    assert joined(emits) == [
        ("AAPL", 60 * SECOND_NS, {"vpin": 0.10, "vpin_cdf": 0.5}),
        ("AAPL", 120 * SECOND_NS, {"vpin": 0.20, "vpin_cdf": 0.6}),
    ]


def _mixed_stream() -> list[tuple[str, Event]]:
    """Two symbols over five minutes: readings every few seconds (some ahead of their
    symbol's bars, one arriving late), bars at each minute's end."""
    stream: list[tuple[str, Event]] = []
    for minute in range(1, 6):
        for j, symbol in enumerate(("AAPL", "ESZ6")):
            for s in range(0, 60, 7 + j):
                ts = at(60 * (minute - 1) + s + 3)
                stream.append(book(symbol, ts, f"0.0{1 + s % 5}", (s % 9 - 4) / 4))
                if s % 3 == 0:
                    stream.append(vpin(symbol, ts + j, None if minute == 1 else s / 60,
                                       (s % 11) / 10))
            stream.append(bar(symbol, at(60 * minute), f"{100 + minute}.00"))
    stream[10], stream[11] = stream[11], stream[10]
    stream.insert(40, book("AAPL", at(302), "0.07", 0.5))  # ahead of the bar at 60 s
    return stream


def test_results_and_state_do_not_depend_on_batching() -> None:
    stream = _mixed_stream()
    whole, one_by_one = make_engine(), make_engine()

    by_runs = feed(whole, stream)
    by_events = feed(one_by_one, stream, one_by_one=True)

    assert [e.value for e in by_runs] == [e.value for e in by_events]
    assert {k: whole.snapshot(k) for k in whole.keys()} == {  # noqa: SIM118
        k: one_by_one.snapshot(k) for k in one_by_one.keys()}  # noqa: SIM118
    assert any(set(e.value.values) >= JOINED for e in by_runs)


def test_a_restored_engine_joins_the_readings_it_held() -> None:
    # Arrange: readings before and after the next bar's end, then snapshot through JSON
    first = make_engine()
    feed(first, [vpin("AAPL", at(50), 0.1, 0.5), book("AAPL", at(59), "0.01", 0.2),
                 vpin("AAPL", at(70), 0.3, 0.9), book("AAPL", at(80), "0.03", -0.2)])
    saved = json.loads(json.dumps({k: first.snapshot(k) for k in first.keys()}))  # noqa: SIM118

    # Act
    second = make_engine()
    for key, state in saved.items():
        second.restore(key, state)
    emits = feed(second, [bar("AAPL", at(60)), bar("AAPL", at(120))])

    # Assert
    assert joined(emits) == [
        ("AAPL", 60 * SECOND_NS, {"vpin": 0.1, "vpin_cdf": 0.5, "spread": 0.01,
                                  "imbalance_5": 0.2}),
        ("AAPL", 120 * SECOND_NS, {"vpin": 0.3, "vpin_cdf": 0.9, "spread": 0.03,
                                   "imbalance_5": -0.2}),
    ]


def test_readings_of_a_symbol_without_bars_are_held_for_the_horizon_only() -> None:
    # Arrange: a book reading every second, no bars (a symbol that does not trade)
    engine = make_engine(join_horizon_ms=60_000)
    readings = [book("XYZ", at(s), "0.01", 0.5) for s in range(1, 1201)]

    # Act
    feed(engine, readings[:600])
    after_10_minutes = json.dumps(engine.snapshot("XYZ"))
    feed(engine, readings[600:])
    after_20_minutes = json.dumps(engine.snapshot("XYZ"))

    # Assert: the state stops growing once the horizon is full
    assert len(after_20_minutes) == len(after_10_minutes)


def test_a_bar_further_behind_its_readings_than_the_horizon_never_joins_a_later_one() -> None:
    # Arrange: readings every second up to 200 s arrive before the bar at 60 s; the engine
    # keeps 30 s of them, and the latest before 170 s
    engine = make_engine(join_horizon_ms=30_000)
    stream = [book("AAPL", at(s), f"0.{s:03d}", s / 1000) for s in range(0, 201)]

    # Act
    emits = feed(engine, [*stream, bar("AAPL", at(60)), bar("AAPL", at(180))])

    # Assert: the reading at 60 s is gone, so none (never the one at 170 s); 180 s is exact
    assert joined(emits) == [
        ("AAPL", 60 * SECOND_NS, {}),
        ("AAPL", 180 * SECOND_NS, {"spread": 0.18, "imbalance_5": 0.18}),
    ]


def test_the_join_horizon_is_not_negative() -> None:
    with pytest.raises(ValidationError):
        FeatureParams(join_horizon_ms=-1)
    assert FeatureParams(join_horizon_ms="0").join_horizon_ms == 0

