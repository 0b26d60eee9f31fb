"""The microstructure engine against its published definition (processors/microstructure.py).

The book is the newest depth snapshot with the newest quote laid on top when the quote
arrived after it (ts_init). Per symbol, one record per event-time interval that had an event,
stamped with the interval's end, published by the next interval's first event, by the clock
past end + grace, or by flush. Batches below are built with the real codec (`decode_columns`).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from itertools import accumulate, groupby
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors import ENGINES
from processors.base import Emit
from processors.microstructure import MicrostructureEngine, MicrostructureParams
from streams.clock import TestClock
from streams.codec import decode, decode_columns, encode
from streams.params import apply_overrides
from streams.replay import Source, run_replay
from streams.schema import DepthSnapshot, MicrostructureFeatures, Quote
from streams.settings import EngineParams, Settings
from tests.factories import T0

MS = 1_000_000
SEC = 1_000 * MS
DEPTH, QUOTES = "market.depth", "market.quotes"
BookEvent = DepthSnapshot | Quote
Level = tuple[str, int]

# ---- helpers ---------------------------------------------------------------------------


def make_engine(interval_ms: int = 1_000, grace_ms: int = 0, clock: TestClock | None = None,
                ) -> MicrostructureEngine:
    params = MicrostructureParams(interval_ms=interval_ms, grace_ms=grace_ms)
    return MicrostructureEngine(params, clock or TestClock(0), torch.device("cpu"))


def depth(ts: int, bids: Sequence[Level] = (), asks: Sequence[Level] = (),
          symbol: str = "AAA") -> DepthSnapshot:
    return DepthSnapshot(
        ts_event=ts, ts_init=ts, symbol=symbol,
        bid_prices=[p for p, _ in bids], bid_sizes=[s for _, s in bids],
        ask_prices=[p for p, _ in asks], ask_sizes=[s for _, s in asks],
    )


def quote(ts: int, bid: Level, ask: Level, symbol: str = "AAA") -> Quote:
    return Quote(ts_event=ts, ts_init=ts, symbol=symbol, bid_price=bid[0], bid_size=bid[1],
                 ask_price=ask[0], ask_size=ask[1])


def topic_of(event: BookEvent) -> str:
    return DEPTH if isinstance(event, DepthSnapshot) else QUOTES


def columns(events: Sequence[BookEvent]) -> dict[str, Any]:
    """One topic's events as the runtime hands them to the engine (the real codec)."""
    cols, rejected = decode_columns(type(events[0]).__name__, [encode(e) for e in events])
    assert rejected == []
    return cols


def feed(engine: MicrostructureEngine, events: Sequence[BookEvent],
         cuts: Sequence[int] = ()) -> list[Emit]:
    """Process `events` in arrival order: runs of one topic, also cut at `cuts` (indices)."""
    emits: list[Emit] = []
    bounds = [0, *sorted(set(cuts) - {0, len(events)}), len(events)]
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        for _, run in groupby(events[lo:hi], key=topic_of):
            batch = list(run)
            emits += engine.process(topic_of(batch[0]), columns(batch))
    return emits


def records(emits: list[Emit]) -> list[MicrostructureFeatures]:
    assert all(e.topic == "logic.microstructure" and e.key == e.value.symbol for e in emits)
    return [e.value for e in emits]  # type: ignore[misc]


def by_symbol(emits: list[Emit]) -> dict[str, list[dict[str, Any]]]:
    # Per-key order is what the log promises; ts_init is processing time, not compared.
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records(emits):
        out[r.symbol].append(r.model_dump(exclude={"ts_init"}))
    return dict(out)


def at(seconds: float) -> int:
    return T0 + round(seconds * SEC)


def padded(*sums: int) -> list[int]:
    return [*sums, *[sums[-1] if sums else 0] * (10 - len(sums))]


# ---- known answers ---------------------------------------------------------------------

# Bids 10.0 x30, 9.9 x20, 9.8 x10; asks 10.2 x10, 10.3 x40.
BOOK = depth(at(0.1), bids=[("10.0", 30), ("9.9", 20), ("9.8", 10)],
             asks=[("10.2", 10), ("10.3", 40)])


def test_known_book_gives_hand_computed_features() -> None:
    # Arrange
    engine = make_engine(clock=TestClock(at(5)))

    # Act
    (r,) = records(feed(engine, [BOOK]) + engine.flush())

    # Assert
    assert (r.symbol, r.ts_event, r.ts_init) == ("AAA", at(1), at(5))
    assert r.spread == Decimal("0.2")  # 10.2 - 10.0, exactly
    assert r.mid == Decimal("10.1")  # (10.0 + 10.2) / 2
    assert r.microprice == Decimal("10.15")  # (10.0*10 + 10.2*30) / 40 = 406 / 40
    assert r.imbalance_1 == pytest.approx(0.5)  # (30 - 10) / 40
    assert r.imbalance_5 == pytest.approx(1 / 11)  # (60 - 50) / 110
    assert r.imbalance_10 == pytest.approx(1 / 11)
    assert r.bid_depth == padded(30, 50, 60)
    assert r.ask_depth == padded(10, 50)
    # (20/1 - 20/2 + 10/3) / (40/1 + 60/2 + 10/3) = (40/3) / (220/3) = 2/11
    assert r.pressure == pytest.approx(2 / 11)


def test_levels_beyond_five_count_in_imbalance_10_and_pressure_only() -> None:
    # Arrange: ten levels a side; bids 10 each; asks 10 each at levels 1-5, 30 at 6-10.
    bids = [(f"{100 - i}", 10) for i in range(10)]
    asks = [(f"{101 + i}", 10 if i < 5 else 30) for i in range(10)]
    h5 = sum(1 / i for i in range(1, 6))  # 1 + 1/2 + ... + 1/5
    t = sum(1 / i for i in range(6, 11))  # 1/6 + ... + 1/10
    engine = make_engine()

    # Act
    (r,) = records(feed(engine, [depth(at(0), bids, asks)]) + engine.flush())

    # Assert
    assert r.imbalance_1 == 0 and r.imbalance_5 == 0
    assert r.imbalance_10 == pytest.approx(-1 / 3)  # (100 - 200) / 300
    # sum w_i (b_i - a_i) = -20 t; sum w_i (b_i + a_i) = 20 h5 + 40 t
    assert r.pressure == pytest.approx(-20 * t / (20 * h5 + 40 * t))
    assert r.ask_depth == [10, 20, 30, 40, 50, 80, 110, 140, 170, 200]


def test_one_sided_book_has_no_prices_and_full_imbalance() -> None:
    engine = make_engine()

    (r,) = records(feed(engine, [depth(at(0), bids=[("10", 5), ("9", 3)])]) + engine.flush())

    assert (r.spread, r.mid, r.microprice) == (None, None, None)
    assert (r.imbalance_1, r.imbalance_5, r.imbalance_10, r.pressure) == (1, 1, 1, 1)
    assert (r.bid_depth, r.ask_depth) == (padded(5, 8), padded(0))


def test_empty_book_is_all_zero_and_survives_the_wire() -> None:
    engine = make_engine()

    (emit,) = feed(engine, [depth(at(0))]) + engine.flush()

    r = emit.value
    assert (r.spread, r.mid, r.microprice) == (None, None, None)
    assert (r.imbalance_1, r.imbalance_10, r.pressure) == (0, 0, 0)
    assert decode("MicrostructureFeatures", encode(r)) == r


def test_a_one_cent_spread_is_exactly_one_cent_on_the_wire() -> None:
    engine = make_engine()

    (r,) = records(feed(engine, [quote(at(0), ("5012.25", 3), ("5012.26", 1))]) + engine.flush())

    assert (r.spread, r.mid, r.microprice) == (
        Decimal("0.01"), Decimal("5012.255"), Decimal("5012.2575"))  # 5012.25 + 0.01 * 3/4
    assert json.loads(encode(r))["spread"] == "0.01"


def test_zero_sizes_at_the_touch_make_microprice_the_mid() -> None:
    engine = make_engine()

    (r,) = records(feed(engine, [quote(at(0), ("99.5", 0), ("100.5", 0))]) + engine.flush())

    assert r.microprice == r.mid == Decimal("100")
    assert (r.imbalance_1, r.bid_depth, r.ask_depth) == (0, padded(0), padded(0))


# ---- quotes on top of snapshots ----------------------------------------------------------


@pytest.mark.parametrize(("bid", "ask", "bid_depth", "ask_depth", "microprice"), [
    # Better bid inserted ahead of 10.0; ask 10.2 resized: bids 5,30,20,10 / asks 15,40.
    # microprice = (10.1*15 + 10.2*5) / 20 = 10.125
    (("10.1", 5), ("10.2", 15), padded(5, 35, 55, 65), padded(15, 55), "10.125"),
    # Bid fell to 9.9: 10.0 and the old 9.9 level are gone; ask lifted to 10.3: 10.2 gone.
    # microprice = (9.9*40 + 10.3*7) / 47 = 468.1 / 47 = 9.95957446808..., to 9 decimals
    (("9.9", 7), ("10.3", 40), padded(7, 17), padded(40), "9.959574468"),
])
def test_newer_quote_replaces_the_top_and_drops_levels_it_passed(
    bid: Level, ask: Level, bid_depth: list[int], ask_depth: list[int], microprice: str,
) -> None:
    engine = make_engine()

    (r,) = records(feed(engine, [BOOK, quote(at(0.2), bid, ask)]) + engine.flush())

    assert (r.bid_depth, r.ask_depth) == (bid_depth, ask_depth)
    assert r.spread == Decimal(ask[0]) - Decimal(bid[0])
    assert str(r.microprice) == microprice


@pytest.mark.parametrize("quote_s", [0.05, 0.1], ids=["older", "same-time"])
def test_snapshot_wins_over_an_older_or_simultaneous_quote(quote_s: float) -> None:
    # Arrange: both arrival orders.
    q = quote(at(quote_s), ("10.1", 99), ("10.15", 99))

    # Act
    results = []
    for events in ([BOOK, q], [q, BOOK]):
        engine = make_engine()
        results.append(by_symbol(feed(engine, events) + engine.flush()))

    # Assert
    assert results[0] == results[1]
    (r,) = results[0]["AAA"]
    assert (r["bid_depth"], r["ask_depth"]) == (padded(30, 50, 60), padded(10, 50))


def test_a_quote_that_arrived_after_the_snapshot_is_laid_on_top_whatever_its_venue_second() -> None:
    # IB stamps quotes with the venue time in whole seconds and depth with its arrival: this
    # quote's ts_event (second 0) is before the book's (0.1 s), yet it arrived after it.
    book = BOOK.model_copy(update={"ts_init": at(0.1)})
    late_second = Quote(ts_event=at(0), ts_init=at(0.3), symbol="AAA", bid_price="10.1",
                        bid_size=5, ask_price="10.2", ask_size=15)

    results = []
    for events in ([book, late_second], [late_second, book]):  # either processing order
        engine = make_engine()
        results.append(by_symbol(feed(engine, events) + engine.flush()))

    assert results[0] == results[1]
    (r,) = results[0]["AAA"]
    assert (r["bid_depth"], r["ask_depth"]) == (padded(5, 35, 55, 65), padded(15, 55))


def test_held_arrival_times_survive_snapshot_and_restore() -> None:
    engine = make_engine()
    feed(engine, [BOOK.model_copy(update={"ts_init": at(0.1)})])
    after = make_engine()
    for key in engine.keys():  # noqa: SIM118 - an engine is not a dict
        after.restore(key, json.loads(json.dumps(engine.snapshot(key))))

    late_second = Quote(ts_event=at(0), ts_init=at(0.3), symbol="AAA", bid_price="10.1",
                        bid_size=5, ask_price="10.2", ask_size=15)
    (r,) = records(feed(after, [late_second]) + after.flush())

    assert (r.bid_depth, r.ask_depth) == (padded(5, 35, 55, 65), padded(15, 55))


def test_newer_snapshot_replaces_the_quote() -> None:
    engine = make_engine()
    events = [BOOK, quote(at(0.2), ("10.1", 5), ("10.2", 15)), depth(at(0.3), [("9.0", 1)])]

    (r,) = records(feed(engine, events) + engine.flush())

    assert (r.bid_depth, r.ask_depth, r.spread) == (padded(1), padded(0), None)


def test_quote_without_a_snapshot_is_a_one_level_book() -> None:
    engine = make_engine()

    (r,) = records(feed(engine, [quote(at(0), ("10.0", 3), ("10.1", 1))]) + engine.flush())

    assert (r.bid_depth, r.ask_depth) == (padded(3), padded(1))
    assert r.microprice == Decimal("10.075")  # (10.0*1 + 10.1*3) / 4


def test_event_older_than_the_held_one_of_its_topic_is_stale() -> None:
    # Arrange
    engine = make_engine()
    feed(engine, [BOOK, quote(at(0.5), ("10.0", 1), ("10.2", 1))])

    # Act: an older snapshot and an older quote, then a same-time quote (kept: newer arrival).
    feed(engine, [depth(at(0.05), [("1", 1)]), quote(at(0.4), ("1", 1), ("2", 1)),
                  quote(at(0.5), ("10.0", 4), ("10.2", 1))])
    (r,) = records(engine.flush())

    # Assert
    assert engine.stale_events == 2
    assert (r.bid_depth, r.ask_depth) == (padded(4, 24, 34), padded(1, 41))


# ---- cadence ---------------------------------------------------------------------------


def test_one_record_per_interval_with_events_stamped_with_its_end() -> None:
    # Arrange: events at 0.1, 0.5 | 1.0 (a boundary opens interval 1) | 3.7, 3.9.
    stream = [
        depth(at(0.1), [("10", 1)], [("11", 1)]), quote(at(0.5), ("10", 2), ("11", 1)),
        quote(at(1.0), ("10", 3), ("11", 1)),
        quote(at(3.7), ("10", 4), ("11", 1)), quote(at(3.9), ("10", 5), ("11", 1)),
    ]
    engine = make_engine()

    # Act: one event at a time, noting what each publishes.
    published = [[(r.ts_event, r.bid_depth[0]) for r in records(feed(engine, [e]))]
                 for e in stream]
    flushed = [(r.ts_event, r.bid_depth[0]) for r in records(engine.flush())]

    # Assert: the book just before each end; interval 2 had no event, so nothing at 3.
    assert published == [[], [], [(at(1), 2)], [(at(2), 3)], []]
    assert flushed == [(at(4), 5)]
    assert engine.flush() == []


def test_on_time_publishes_once_end_plus_grace_has_passed() -> None:
    # Arrange
    clock = TestClock(at(0))
    engine = make_engine(grace_ms=300, clock=clock)
    feed(engine, [BOOK])
    due = at(1.3)

    # Act
    at_end = engine.on_time(at(1))
    just_before = engine.on_time(due - 1)
    clock.advance_to(due)
    on_due = engine.on_time(due)
    again = engine.on_time(at(100))

    # Assert
    assert at_end == just_before == again == []
    (r,) = records(on_due)
    assert (r.ts_event, r.ts_init) == (at(1), due)
    assert engine.flush() == []


def test_event_in_an_interval_already_published_updates_the_book_only() -> None:
    # Arrange
    engine = make_engine()
    feed(engine, [BOOK])
    engine.on_time(at(1))

    # Act: a quote of the published interval (as a live worker may see it, after the clock).
    late = feed(engine, [quote(at(0.9), ("10.0", 7), ("10.2", 1))])
    flushed = engine.flush()

    # Assert
    assert late == flushed == []
    assert engine.snapshot("AAA")["held"][QUOTES]["bid_sizes"] == [7]
    (r,) = records(feed(engine, [quote(at(2.5), ("10.0", 8), ("10.2", 1))]) + engine.flush())
    assert (r.ts_event, r.bid_depth[0]) == (at(3), 8)


def test_symbols_interleaved_in_one_batch_are_independent() -> None:
    # Arrange
    a = [quote(at(s), ("10", n), ("11", 1), "AAA") for n, s in enumerate((0.1, 1.1, 2.1), 1)]
    b = [quote(at(s), ("20", n), ("21", 1), "BBB") for n, s in enumerate((0.2, 0.3, 5.0), 1)]
    mixed = sorted(a + b, key=lambda e: e.ts_event)

    # Act
    together_engine = make_engine()
    together = by_symbol(feed(together_engine, mixed) + together_engine.flush())
    alone = {}
    for events in (a, b):
        engine = make_engine()
        alone |= by_symbol(feed(engine, events) + engine.flush())

    # Assert
    assert together == alone
    assert [(r["ts_event"], r["bid_depth"][0]) for r in together["AAA"]] == [
        (at(1), 1), (at(2), 2), (at(3), 3)]
    assert [(r["ts_event"], r["bid_depth"][0]) for r in together["BBB"]] == [
        (at(1), 2), (at(6), 3)]


# ---- batch invariance and state ------------------------------------------------------------


def random_stream(seed: int, n: int = 300) -> list[BookEvent]:
    """Depth and quotes of three symbols in event-time order, some at equal times."""
    rng = random.Random(seed)
    ts, events = at(0), []
    for _ in range(n):
        ts += rng.choice([0, 1, 7 * MS, 150 * MS, 900 * MS, 3 * SEC])
        symbol = rng.choice(["AAA", "BBB", "CCC"])
        best = rng.randint(1_000, 1_100)
        bids = [(f"{(best - i) / 100}", rng.randint(0, 50)) for i in range(rng.randint(0, 10))]
        asks = [(f"{(best + 1 + i) / 100}", rng.randint(0, 50))
                for i in range(rng.randint(0, 10))]
        if rng.random() < 0.5:
            events.append(depth(ts, bids, asks, symbol))
        else:
            spread = rng.randint(1, 3)
            events.append(quote(ts, (f"{best / 100}", rng.randint(0, 50)),
                                (f"{(best + spread) / 100}", rng.randint(0, 50)), symbol))
    return events


STREAM = random_stream(7)


def run_all(events: Sequence[BookEvent], cuts: Sequence[int] = ()) -> dict[str, list]:
    engine = make_engine(interval_ms=500)
    return by_symbol(feed(engine, events, cuts) + engine.flush())


def test_stream_publishes_one_record_per_symbol_interval_with_events() -> None:
    intervals = {(e.symbol, e.ts_event // (500 * MS)) for e in STREAM}

    out = run_all(STREAM)

    assert sum(len(v) for v in out.values()) == len(intervals)
    assert all([r["ts_event"] for r in v] == sorted({r["ts_event"] for r in v})
               for v in out.values())


@pytest.mark.parametrize("seed", range(3))
def test_any_batching_gives_identical_records(seed: int) -> None:
    # Arrange
    rng = random.Random(seed)
    cuts = rng.sample(range(1, len(STREAM)), 40)

    # Act
    whole = run_all(STREAM)
    cut = run_all(STREAM, cuts)
    single = run_all(STREAM, range(len(STREAM)))

    # Assert: exact equality, floats included.
    assert whole == cut == single


@pytest.mark.parametrize("split", [1, 50, 151, 299])
def test_snapshot_restore_mid_stream_continues_identically(split: int) -> None:
    # Arrange
    uninterrupted = run_all(STREAM)
    before = make_engine(interval_ms=500)
    first = feed(before, STREAM[:split])

    # Act: every key through JSON, as the changelog carries it, into a fresh engine.
    after = make_engine(interval_ms=500)
    keys = before.keys()
    for key in keys:
        after.restore(key, json.loads(json.dumps(before.snapshot(key))))
    rest = feed(after, STREAM[split:]) + after.flush()

    # Assert
    assert by_symbol(first + rest) == uninterrupted
    assert after.stale_events == before.stale_events


def test_dirty_keys_are_the_symbols_a_batch_or_flush_touched() -> None:
    engine = make_engine()
    feed(engine, [BOOK, quote(at(0.2), ("1", 1), ("2", 1), "BBB")])
    engine.take_dirty()

    feed(engine, [quote(at(0.3), ("1", 1), ("2", 1), "BBB")])
    touched = engine.take_dirty()
    engine.flush()

    assert touched == {"BBB"}
    assert engine.take_dirty() == {"AAA", "BBB"}


def test_forget_drops_a_key_and_its_slot_is_reused_clean() -> None:
    # Arrange
    engine = make_engine()
    feed(engine, [BOOK, quote(at(0.2), ("1", 1), ("2", 1), "BBB")])

    # Act
    engine.forget("AAA")
    feed(engine, [quote(at(0.3), ("5", 1), ("6", 2), "CCC")])
    out = by_symbol(engine.flush())

    # Assert
    assert sorted(engine.keys()) == ["BBB", "CCC"]
    assert out["CCC"][0]["bid_depth"] == padded(1) and "AAA" not in out


# ---- properties ----------------------------------------------------------------------------


@st.composite
def books(draw: st.DrawFn) -> tuple[DepthSnapshot, Quote | None]:
    best = draw(st.integers(2_000, 100_000))  # cents
    steps = st.lists(st.integers(1, 100), max_size=10)
    sizes = st.integers(0, 10**6)
    best_ask = best + draw(st.integers(1, 50))
    bid_prices = [best - s for s in offsets(draw(steps))]
    ask_prices = [best_ask + s for s in offsets(draw(steps))]
    bids = [(str(Decimal(p) / 100), draw(sizes)) for p in bid_prices]
    asks = [(str(Decimal(p) / 100), draw(sizes)) for p in ask_prices]
    book = depth(at(0), bids, asks)
    if not draw(st.booleans()):
        return book, None
    q_bid = best + draw(st.integers(-300, 300))
    q_ask = q_bid + draw(st.integers(0, 300))
    return book, quote(at(0.5), (str(Decimal(q_bid) / 100), draw(sizes)),
                       (str(Decimal(q_ask) / 100), draw(sizes)))


def offsets(steps: list[int]) -> list[int]:
    """Distances of len(steps) levels from the best: 0, then growing by the later steps."""
    return list(accumulate(steps[1:], initial=0))[: len(steps)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books())
def test_features_stay_within_their_bounds(book: tuple[DepthSnapshot, Quote | None]) -> None:
    # Arrange
    snapshot, q = book
    engine = make_engine()

    # Act
    (r,) = records(feed(engine, [snapshot] + ([q] if q else [])) + engine.flush())

    # Assert
    for value in (r.imbalance_1, r.imbalance_5, r.imbalance_10, r.pressure):
        assert -1 <= value <= 1
    for cumulative in (r.bid_depth, r.ask_depth):
        assert len(cumulative) == 10 and cumulative == sorted(cumulative)
    top_bid = q.bid_price if q else (snapshot.bid_prices or [None])[0]
    top_ask = q.ask_price if q else (snapshot.ask_prices or [None])[0]
    if top_bid is None or top_ask is None:
        assert r.microprice is None
    else:
        assert top_bid <= r.microprice <= top_ask
        assert r.spread == top_ask - top_bid >= 0 and r.mid == (top_bid + top_ask) / 2


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.lists(st.integers(1, 299), max_size=20))
def test_batch_invariance_property(seed: int, cuts: list[int]) -> None:
    stream = random_stream(seed, n=60)

    assert run_all(stream, [c % 60 for c in cuts]) == run_all(stream)


# ---- replay and settings ---------------------------------------------------------------


def sources(events: Sequence[BookEvent], order: Sequence[str] = (DEPTH, QUOTES)) -> list[Source]:
    by_topic = {t: [e for e in events if topic_of(e) == t] for t in order}
    return [Source(t, columns(evs)) for t, evs in by_topic.items() if evs]


def canonical(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (r["ts_event"], r["symbol"]))


def test_replay_merges_depth_and_quotes_into_the_hand_computed_records() -> None:
    # Arrange: BOOK at 0.1; BBB quoted at 0.5 and 1.5; AAA's top requoted at 1.0 (= BOOK's
    # level 1 at 10.0 resized to 50, ask unchanged) and a same-time quote ignored at 0.1.
    events = [
        BOOK, quote(at(0.1), ("1", 1), ("2", 1)),
        quote(at(0.5), ("50", 1), ("51", 3), "BBB"),
        quote(at(1.0), ("10.0", 50), ("10.2", 10)),
        quote(at(1.5), ("50", 2), ("51", 2), "BBB"),
    ]

    # Act
    result = run_replay(sources(events), [ENGINES["microstructure"]], EngineParams())
    flipped = run_replay(sources(events, (QUOTES, DEPTH)), [MicrostructureEngine],
                         EngineParams())

    # Assert: the same records whichever topic comes first at equal times (canonical order).
    rows = canonical(result.rows("logic.microstructure"))
    assert rows == canonical(flipped.rows("logic.microstructure"))
    got = sorted((r["symbol"], r["ts_event"], r["bid_depth"][:3], r["imbalance_1"]) for r in rows)
    assert got == [
        ("AAA", at(1), [30, 50, 60], 0.5),  # (30 - 10) / 40
        ("AAA", at(2), [50, 70, 80], pytest.approx(2 / 3)),  # (50 - 10) / 60
        ("BBB", at(1), [1, 1, 1], -0.5),  # (1 - 3) / 4
        ("BBB", at(2), [2, 2, 2], 0.0),
    ]
    assert result.events_in == len(events)


def test_interval_is_set_from_the_environment_and_overrides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NAUTILUS_MICROSTRUCTURE__INTERVAL_MS", "250")

    params = Settings().engine_params()
    overridden = apply_overrides(params, ["microstructure.grace_ms=5"])

    assert params.microstructure.interval_ms == 250
    assert overridden.microstructure == MicrostructureParams(interval_ms=250, grace_ms=5)


def test_unknown_topic_is_refused() -> None:
    with pytest.raises(ValueError, match="market.trades"):
        make_engine().process("market.trades", columns([BOOK]))
