"""The VPIN engine (BVC) against its definition (processors/vpin/__init__.py docstring).

Expected values are computed by hand from the definition, in the comments next to them;
Φ is the standard normal CDF, written out with math.erf.
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch

from processors.base import Emit
from processors.vpin import VpinEngine, VpinParams
from streams.clock import TestClock
from streams.schema import Alert, Quote, Trade, VpinReading
from tests.factories import MINUTE_NS, T0, quote, tape, trade, trade_columns

SEC = 1_000_000_000
TRADES, QUOTES = "market.trades", "market.quotes"


# ---- helpers (also used by the other test_vpin_* modules) ----------------------------------


def phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def make_engine(clock: TestClock | None = None, **overrides: Any) -> VpinEngine:
    """V = 10, n = 2, sigma over 3 ΔP, CDF over 4 values, alerts from the first VPIN value
    (the definition without warm-up), unless overridden."""
    fields = {"bucket_volume": 10, "window": 2, "sigma_bars": 3, "cdf_window": 4,
              "alert_min_history": 1, **overrides}
    return VpinEngine(VpinParams(**fields), clock or TestClock(0), torch.device("cpu"))


def at(minute: int, seconds: float = 0) -> int:
    return T0 + minute * MINUTE_NS + round(seconds * SEC)


def quote_columns(quotes: Sequence[Quote]) -> dict[str, np.ndarray]:
    """Quotes as `decode_columns("Quote", ...)` produces them."""
    return {
        "ts_event": np.array([q.ts_event for q in quotes], dtype=np.int64),
        "ts_init": np.array([q.ts_init for q in quotes], dtype=np.int64),
        "symbol": np.array([q.symbol for q in quotes], dtype=object),
        "bid_price": np.array([float(q.bid_price) for q in quotes], dtype=np.float64),
        "bid_size": np.array([q.bid_size for q in quotes], dtype=np.int64),
        "ask_price": np.array([float(q.ask_price) for q in quotes], dtype=np.float64),
        "ask_size": np.array([q.ask_size for q in quotes], dtype=np.int64),
    }


def quotes(*rows: tuple[int, str, str, str]) -> list[Quote]:
    """Quotes from `(ts_event, symbol, bid, ask)`."""
    return [quote(ts_event=ts, ts_init=ts, symbol=s, bid_price=b, ask_price=a)
            for ts, s, b, a in rows]


def feed(engine: VpinEngine, events: Sequence[Trade | Quote]) -> list[Emit]:
    """Process events in order, each run of one kind as one batch (as replay does)."""
    emits: list[Emit] = []
    i = 0
    while i < len(events):
        kind = type(events[i])
        j = i
        while j < len(events) and type(events[j]) is kind:
            j += 1
        run = events[i:j]
        if kind is Trade:
            emits += engine.process(TRADES, trade_columns(run))  # type: ignore[arg-type]
        else:
            emits += engine.process(QUOTES, quote_columns(run))  # type: ignore[arg-type]
        i = j
    return emits


def run(engine: VpinEngine, events: Sequence[Trade | Quote],
        cuts: Sequence[int] = ()) -> list[Emit]:
    """Process `events` in batches split at `cuts`, then flush."""
    bounds = [0, *cuts, len(events)]
    emits: list[Emit] = []
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        emits += feed(engine, events[lo:hi])
    return emits + engine.flush()


def readings(emits: Sequence[Emit]) -> list[VpinReading]:
    assert all(e.key == e.value.symbol for e in emits)  # type: ignore[attr-defined]
    return [e.value for e in emits if e.topic == "logic.vpin"]  # type: ignore[misc]


def alerts(emits: Sequence[Emit]) -> list[Alert]:
    return [e.value for e in emits if e.topic == "logic.risk.alerts"]  # type: ignore[misc]


def by_symbol(emits: Sequence[Emit]) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    # Each symbol's outputs in emission order, without ts_init (processing time). Order
    # across symbols is not a promise: the topics are keyed by symbol.
    out: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for e in emits:
        out[e.key].append((e.topic, e.value.model_dump(exclude={"ts_init"})))
    return dict(out)


def restored(engine: VpinEngine, **overrides: Any) -> VpinEngine:
    """A fresh engine holding `engine`'s state, through JSON as a changelog carries it."""
    after = make_engine(**overrides)
    keys = engine.keys()
    states = json.loads(json.dumps({key: engine.snapshot(key) for key in keys}))
    for key, state in states.items():
        after.restore(key, state)
    return after


def buckets_of(emits: Sequence[Emit]) -> list[tuple]:
    return [(r.symbol, r.bucket, r.ts_event, r.buy_volume, r.sell_volume, r.vpin, r.vpin_cdf)
            for r in readings(emits)]


def assert_buckets(got: list[tuple], expected: list[tuple]) -> None:
    # Buy volume is kept in units of 2**-20 share: within 1e-6 of f x volume per piece.
    assert [g[:3] for g in got] == [e[:3] for e in expected]
    for g, e in zip(got, expected, strict=True):
        assert g[3:] == pytest.approx(e[3:], abs=1e-5), g[:3]


# ---- the known tape: one symbol, every bucket by hand -------------------------------------

AAA = tape(
    (at(0, 0), "AAA", "99.00", 1), (at(0, 30), "AAA", "100.00", 3),    # bar 0: v 4, close 100
    (at(1, 10), "AAA", "102.00", 2), (at(1, 50), "AAA", "101.00", 3),  # bar 1: v 5, close 101
    (at(2, 5), "AAA", "101.00", 6),                                    # bar 2: v 6, close 101
    (at(3, 1), "AAA", "103.00", 8),                                    # bar 3: v 8, close 103
    (at(5, 1), "AAA", "103.00", 20), (at(5, 2), "AAA", "103.00", 5),   # bar 5: v 25, close 103
    (at(6, 1), "AAA", "102.00", 1),                                    # bar 6: v 1, close 102
)
# ΔP: bar 1: +1 (one ΔP: not classified), bar 2: 0, bar 3: +2, bar 5: 0, bar 6: -1.
# σ (last 3 ΔP, ddof 1): bar 2 [1, 0] -> √0.5; bar 3 [1, 0, 2] -> 1; bar 5 [0, 2, 0] -> √(4/3);
#   bar 6 [2, 0, -1] -> mean 1/3, Σ dev² = 25/9 + 1/9 + 16/9 = 42/9, σ = √(7/3).
# f: bar 2 Φ(0) = 0.5; bar 3 Φ(2); bar 5 Φ(0) = 0.5; bar 6 Φ(-1/√(7/3)).
F3, F6 = phi(2.0), phi(-1.0 / math.sqrt(7 / 3))
# Buckets of V = 10: bar 2 pours 6 (buy 3); bar 3 pours 4 more -> bucket 1 = 3 + 4·F3, then
# 4 into bucket 2; bar 5 (25) pours 6 -> bucket 2 = 4·F3 + 3, fills bucket 3 with 10 at
# 0.5, leaves 9 (buy 4.5); bar 6 pours 1 -> bucket 4 = 4.5 + F6.
B1 = B2 = 3 + 4 * F3
B3, B4 = 5.0, 4.5 + F6
# |sell - buy| = |10 - 2·buy|; VPIN (n = 2) = (I[τ-1] + I[τ]) / 20.
I1, I2, I3, I4 = (abs(10 - 2 * b) for b in (B1, B2, B3, B4))
V2, V3, V4 = (I1 + I2) / 20, (I2 + I3) / 20, (I3 + I4) / 20
# CDF (last 4 values): V2 alone -> 1; V3 < V2 -> 1/2; V4 < V3 < V2 -> 1/3.
AAA_BUCKETS = [
    ("AAA", 1, at(3, 1), B1, 10 - B1, None, None),
    ("AAA", 2, at(5, 2), B2, 10 - B2, V2, 1.0),
    ("AAA", 3, at(5, 2), B3, 10 - B3, V3, 0.5),
    ("AAA", 4, at(6, 1), B4, 10 - B4, V4, 1 / 3),
]


def test_known_tape_gives_hand_computed_buckets() -> None:
    # Arrange
    engine = make_engine(clock=TestClock(at(9)))

    # Act
    emits = run(engine, AAA)

    # Assert
    assert_buckets(buckets_of(emits), AAA_BUCKETS)
    assert all(r.bucket_volume == 10 and r.ts_init == at(9) for r in readings(emits))
    assert engine.late_trades == 0


def test_unreported_prints_are_left_out_by_default_and_counted_when_asked() -> None:
    # An average-price print far above the market inside bar 1 and an odd lot opening bar 4:
    # IB's AllLast sends both, flagged unreported; neither is part of the tape VPIN reads.
    extra = [trade(ts_event=at(1, 20), ts_init=at(1, 20), symbol="AAA", price="110.00",
                   size=9, unreported=True),
             trade(ts_event=at(4, 0), ts_init=at(4, 0), symbol="AAA", price="90.00", size=3,
                   unreported=True)]
    with_extra = sorted([*AAA, *extra], key=lambda t: t.ts_event)

    default = buckets_of(run(make_engine(), with_extra))
    included = buckets_of(run(make_engine(include_unreported=True), with_extra))

    assert_buckets(default, AAA_BUCKETS)
    assert included != default  # bar 4 exists, so every later ΔP and σ differs


def test_known_tape_emits_each_bucket_when_its_bar_closes() -> None:
    # Arrange
    engine = make_engine()

    # Act: one trade at a time; a bar's buckets appear when the next bar's first trade arrives.
    per_trade = [[r.bucket for r in readings(engine.process(TRADES, trade_columns([t])))]
                 for t in AAA]
    flushed = [r.bucket for r in readings(engine.flush())]

    # Assert
    assert per_trade == [[], [], [], [], [], [], [1], [], [2, 3]]
    assert flushed == [4]


def test_known_tape_alerts_on_the_first_high_cdf_and_clears_below_clear_cdf() -> None:
    # CDFs 1, 1/2, 1/3 with alert 0.9 / clear 0.8: raised at bucket 2, cleared at bucket 3.
    got = alerts(run(make_engine(), AAA))

    assert [(a.alert_id, a.state, a.severity, a.ts_event) for a in got] == [
        (f"vpin:AAA:{at(5, 2)}:2", "raised", "warning", at(5, 2)),
        (f"vpin:AAA:{at(5, 2)}:2", "cleared", "info", at(5, 2)),
    ]
    assert got[0].values == pytest.approx({"vpin": V2, "vpin_cdf": 1.0, "bucket": 2.0})
    assert got[1].values == pytest.approx({"vpin": V3, "vpin_cdf": 0.5, "bucket": 3.0})
    assert all(a.kind == "vpin" and a.symbol == "AAA" for a in got)


# ---- several symbols, per-symbol V, σ = 0, bars that fill several buckets ----------------

BBB = tape(
    (at(0, 3), "BBB", "50.00", 3),               # bar 0: sets the previous close
    (at(1, 3), "BBB", "51.00", 2),               # ΔP +1: one ΔP, not bucketed
    (at(2, 3), "BBB", "52.00", 9),               # ΔP [1, 1]: σ = 0, f = 0.5
    (at(3, 3), "BBB", "53.00", 3),               # ΔP [1, 1, 1]: σ = 0, f = 0.5
)
# V = 4 for BBB: bar 2 (9) fills buckets 1 and 2 (2 buy each) and leaves 1 (0.5 buy); bar 3
# (3) completes bucket 3 (0.5 + 1.5 = 2 buy). Every |sell - buy| is 0: VPIN 0.
BBB_BUCKETS = [
    ("BBB", 1, at(2, 3), 2.0, 2.0, None, None),
    ("BBB", 2, at(2, 3), 2.0, 2.0, 0.0, 1.0),
    ("BBB", 3, at(3, 3), 2.0, 2.0, 0.0, 1.0),   # 0 <= 0: both values count
]


def test_interleaved_symbols_with_their_own_bucket_volume() -> None:
    # Arrange
    interleaved = sorted(AAA + BBB, key=lambda t: t.ts_event)
    engine = make_engine(bucket_volume={"default": 10, "BBB": 4})

    # Act
    emits = run(engine, interleaved)

    # Assert
    got = buckets_of(emits)
    assert_buckets([b for b in got if b[0] == "AAA"], AAA_BUCKETS)
    assert_buckets([b for b in got if b[0] == "BBB"], BBB_BUCKETS)
    assert {r.symbol: r.bucket_volume for r in readings(emits)} == {"AAA": 10, "BBB": 4}


def test_equal_decimal_price_moves_are_sigma_zero() -> None:
    # Closes 10.0, 10.1, 10.2, 10.3: every ΔP is 0.1, σ = 0, f = 0.5 (binary floats would
    # see 10.2 - 10.1 != 10.3 - 10.2). Bars 2 and 3 pour 5 + 5 = one bucket, buy 5.
    trades = tape((at(0), "AAA", "10.0", 1), (at(1), "AAA", "10.1", 1),
                  (at(2), "AAA", "10.2", 5), (at(3), "AAA", "10.3", 5))

    got = buckets_of(run(make_engine(), trades))

    assert [b[1:5] for b in got] == [(1, at(3), 5.0, 5.0)]


def test_one_bar_can_fill_many_buckets() -> None:
    # Closes 10, 11, 12 (σ = 0, f = 0.5); the third bar of 95 fills nine buckets of 10 at
    # 5 / 5 and leaves 5 in the tenth; the flush of nothing adds no bucket.
    trades = tape((at(0), "AAA", "10", 1), (at(1), "AAA", "11", 1), (at(2), "AAA", "12", 95))

    got = buckets_of(run(make_engine(), trades))

    assert [(b[1], b[2], b[3], b[4]) for b in got] == [(k, at(2), 5.0, 5.0) for k in range(1, 10)]
    assert [b[5] for b in got] == [None] + [0.0] * 8


def test_first_two_bars_of_a_symbol_are_not_bucketed() -> None:
    # Bar 0 sets the close, bar 1 has the first ΔP: 15 shares, no bucket of 10 yet.
    trades = tape((at(0), "AAA", "10", 15), (at(1), "AAA", "11", 15))

    engine = make_engine()
    emits = run(engine, trades)

    assert emits == []
    state = engine.snapshot("AAA")
    assert (state["fill"], state["buckets"], state["dp_count"]) == (0, 0, 1)


def test_equal_timestamps_keep_arrival_order_for_the_close() -> None:
    # Bar 2's trades share one ns; its close is the last one, 9: ΔP -2 after +1.
    # σ of [1, -2] = √4.5, f = Φ(-2/√4.5); bar 2 holds 10 = one bucket. (Were the close 14,
    # ΔP would be +3 and f = Φ(3/√2).)
    trades = tape((at(0), "AAA", "10", 1), (at(1), "AAA", "11", 1),
                  (at(2, 1), "AAA", "14", 4), (at(2, 1), "AAA", "9", 6))

    (bucket,) = buckets_of(run(make_engine(), trades))

    assert bucket[1:3] == (1, at(2, 1))
    assert bucket[3] == pytest.approx(10 * phi(-2 / math.sqrt(4.5)), abs=1e-5)


# ---- closing by time, flush and late trades ----------------------------------------------


def test_on_time_closes_the_last_bar_once_end_plus_grace_has_passed() -> None:
    # Arrange
    engine = make_engine(grace_ms=1_500)
    engine.process(TRADES, trade_columns(AAA))
    due = at(7) + 1_500_000_000  # bar 6 ends at minute 7

    # Act
    early = engine.on_time(due - 1)
    on_due = engine.on_time(due)

    # Assert
    assert early == []
    assert_buckets(buckets_of(on_due), AAA_BUCKETS[3:])
    assert engine.on_time(due + MINUTE_NS) == [] and engine.flush() == []


def test_on_time_flush_and_a_later_trade_close_a_bar_alike() -> None:
    # Arrange: AAA's bar 6 closed by the clock, by flush, or by a trade in minute 8.
    later = tape((at(8), "AAA", "102.00", 1))
    by_clock, by_flush, by_trade = make_engine(), make_engine(), make_engine()

    # Act
    clock_emits = by_clock.process(TRADES, trade_columns(AAA)) + by_clock.on_time(at(8))
    flush_emits = by_flush.process(TRADES, trade_columns(AAA)) + by_flush.flush()
    trade_emits = by_trade.process(TRADES, trade_columns(AAA + later))

    # Assert
    assert by_symbol(clock_emits) == by_symbol(flush_emits) == by_symbol(trade_emits)
    assert len(readings(clock_emits)) == 4


def test_trades_of_a_closed_bar_are_late_counted_and_dropped() -> None:
    # Arrange: bar 6 closed by the clock; then a trade in bar 6 and one in bar 5.
    engine = make_engine(grace_ms=0)
    engine.process(TRADES, trade_columns(AAA))
    engine.on_time(at(7))

    # Act
    emits = engine.process(TRADES, trade_columns(
        tape((at(6, 30), "AAA", "1", 50), (at(5, 30), "AAA", "1", 50))))

    # Assert
    assert emits == [] and engine.flush() == []
    assert engine.late_trades == 2


def test_nothing_in_nothing_out() -> None:
    engine = make_engine()

    assert engine.process(TRADES, trade_columns([])) == []
    assert engine.on_time(at(100)) == [] and engine.flush() == []
    assert engine.keys() == []


def test_quotes_are_ignored_without_lee_ready() -> None:
    engine = make_engine()

    emits = engine.process(QUOTES, quote_columns(quotes((at(0), "AAA", "9.99", "10.01"))))

    assert emits == [] and engine.keys() == [] and engine.take_dirty() == set()


def test_an_unknown_topic_is_an_error() -> None:
    with pytest.raises(ValueError, match="market.depth"):
        make_engine().process("market.depth", trade_columns(AAA))


# ---- batch invariance, snapshot / restore --------------------------------------------------

BOTH = sorted(AAA + BBB, key=lambda t: t.ts_event)


def test_batching_does_not_change_any_output() -> None:
    # Arrange
    expected = by_symbol(run(make_engine(bucket_volume={"default": 10, "BBB": 4}), BOTH))

    # Act
    singles = by_symbol(run(make_engine(bucket_volume={"default": 10, "BBB": 4}), BOTH,
                            range(1, len(BOTH))))
    random_cuts = []
    for seed in range(20):
        rng = random.Random(seed)
        cuts = sorted(rng.sample(range(1, len(BOTH)), rng.randint(1, len(BOTH) - 1)))
        engine = make_engine(bucket_volume={"default": 10, "BBB": 4})
        random_cuts.append(by_symbol(run(engine, BOTH, cuts)))

    # Assert: exact equality, floats included
    assert singles == expected
    assert all(result == expected for result in random_cuts)


@pytest.mark.parametrize("split", range(len(BOTH) + 1))
def test_snapshot_restore_mid_tape_continues_identically(split: int) -> None:
    # Arrange
    volumes = {"bucket_volume": {"default": 10, "BBB": 4}}
    expected = by_symbol(run(make_engine(**volumes), BOTH))
    before = make_engine(**volumes)
    first = feed(before, BOTH[:split])

    # Act
    after = restored(before, **volumes)
    rest = run(after, BOTH[split:])

    # Assert
    assert by_symbol(first + rest) == expected


def test_restore_under_a_new_bucket_volume_starts_a_new_series() -> None:
    # Arrange: AAA has buckets 1..3 (V 10) and 9 shares in bucket 4 after bar 5 closes.
    before = make_engine()
    before.process(TRADES, trade_columns(AAA))

    # Act: restored with V = 2; bar 6 (1 share) and bar 7 (3 shares, ΔP 0) follow.
    after = restored(before, bucket_volume=2)
    got = readings(run(after, tape((at(7), "AAA", "102.00", 3))))

    # Assert: the 9 old shares are dropped; bar 6 + 1 of bar 7 make bucket 4 of 2, the rest
    # of bar 7 bucket 5; VPIN waits for n = 2 buckets of the new series.
    assert [(r.bucket, r.bucket_volume, r.vpin is None) for r in got] == [
        (4, 2, True), (5, 2, False)]


def test_forget_drops_a_symbol() -> None:
    engine = make_engine()
    engine.process(TRADES, trade_columns(BOTH))

    engine.forget("AAA")

    assert engine.keys() == ["BBB"]
    assert {r.symbol for r in readings(engine.flush())} <= {"BBB"}
