"""Per-trade classification: the tick rule and Lee & Ready (1991), from their definitions.

With V = 1 and n = 1 every share is one bucket, so the buy volume of each bucket (1 or 0)
shows how the trade it came from was classified.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from processors.vpin import VpinEngine
from streams.schema import Quote, Trade
from tests.factories import T0, tape, trade_columns
from tests.processors.test_vpin import (
    TRADES,
    by_symbol,
    feed,
    make_engine,
    quotes,
    readings,
    restored,
    run,
)

SEC = 1_000_000_000


def s(seconds: float) -> int:
    return T0 + round(seconds * SEC)


def per_share(mode: str, **overrides: Any) -> VpinEngine:
    return make_engine(classification=mode, bucket_volume=1, window=1, **overrides)


def shares(*trades: tuple[float, int, float]) -> list[tuple[int, int, float]]:
    """Expected buckets from (seconds, size, buy 1/0): one bucket per share."""
    out = []
    for seconds, size, buy in trades:
        out += [(s(seconds), buy)] * size
    return [(k, ts, buy) for k, (ts, buy) in enumerate(out, start=1)]


def bucket_sides(emits: list) -> list[tuple[int, int, float]]:
    return [(r.bucket, r.ts_event, r.buy_volume) for r in readings(emits)]


# ---- tick rule ---------------------------------------------------------------------------

TICK_TAPE = tape(
    (s(1), "AAA", "10.00", 1),    # first trade: no previous price, no side
    (s(1.5), "AAA", "10.00", 2),  # zero tick, no previous side: none
    (s(2), "AAA", "10.01", 2),    # uptick: buy
    (s(3), "AAA", "10.01", 3),    # zero tick after a buy: buy
    (s(4), "AAA", "10.00", 4),    # downtick: sell
    (s(5), "AAA", "10.00", 5),    # zero tick after a sell: sell
    (s(6), "AAA", "10.02", 6),    # uptick: buy
)
TICK_SHARES = shares((2, 2, 1.0), (3, 3, 1.0), (4, 4, 0.0), (5, 5, 0.0), (6, 6, 1.0))


@pytest.mark.parametrize("cuts", [(), tuple(range(1, len(TICK_TAPE)))], ids=["one", "singles"])
def test_tick_rule_classifies_each_trade(cuts: tuple[int, ...]) -> None:
    got = bucket_sides(run(per_share("tick"), TICK_TAPE, cuts))

    assert got == TICK_SHARES


def test_tick_rule_buckets_whole_trades_across_bucket_bounds() -> None:
    # V = 4: buy 2 (uptick), buy 3 (zero tick), sell 4, sell 5, buy 6 = 20 shares, 5 buckets.
    # Buys per bucket: [2+2], [1 + 3 sells], [1 sell + 3 sells], [2 sells + 2 buys], [4 buys].
    engine = make_engine(classification="tick", bucket_volume=4, window=1)

    got = [(r.bucket, r.buy_volume, r.sell_volume) for r in readings(run(engine, TICK_TAPE))]

    assert got == [(1, 4.0, 0.0), (2, 1.0, 3.0), (3, 0.0, 4.0), (4, 2.0, 2.0), (5, 4.0, 0.0)]


# ---- Lee-Ready ---------------------------------------------------------------------------

LR_EVENTS: list[Trade | Quote] = [
    *quotes((s(1), "AAA", "10.00", "10.10")),    # mid 10.05
    *tape((s(2), "AAA", "10.08", 1),             # above mid: buy
          (s(3), "AAA", "10.02", 2),             # below mid: sell
          (s(4), "AAA", "10.05", 3)),            # at mid, uptick from 10.02: buy
    *quotes((s(5), "AAA", "10.10", "10.20")),    # mid 10.15
    *tape((s(6), "AAA", "10.12", 4),             # below mid (an uptick): sell
          (s(7), "AAA", "10.15", 5),             # at mid, uptick: buy
          (s(8), "AAA", "10.15", 6),             # at mid, zero tick after an uptick: buy
          (s(9), "AAA", "10.30", 7)),            # above mid: buy
]
LR_SHARES = shares((2, 1, 1.0), (3, 2, 0.0), (4, 3, 1.0), (6, 4, 0.0), (7, 5, 1.0),
                   (8, 6, 1.0), (9, 7, 1.0))


def test_lee_ready_compares_with_the_midpoint_and_falls_back_to_the_tick_rule() -> None:
    engine = per_share("lee_ready")

    got = bucket_sides(run(engine, LR_EVENTS))

    assert got == LR_SHARES
    assert engine.unquoted_trades == 0


def test_lee_ready_trades_wait_until_a_newer_quote_settles_theirs() -> None:
    # Arrange
    engine = per_share("lee_ready")

    # Act: one event at a time; the trades at 2-4 s wait for the quote at 5 s.
    counts = [len(readings(feed(engine, [event]))) for event in LR_EVENTS]
    flushed = len(readings(engine.flush()))

    # Assert
    assert counts == [0, 0, 0, 0, 1 + 2 + 3, 0, 0, 0, 0]
    assert flushed == 4 + 5 + 6 + 7


def test_lee_ready_uses_a_quote_that_arrives_after_the_trade() -> None:
    # The quote at 1.5 s comes after the 2 s trade (the quote stream lags); the quote at 3 s
    # settles it. Mid 10.15 > 10.08: sell.
    events = [*tape((s(2), "AAA", "10.08", 1)), *quotes((s(1.5), "AAA", "10.10", "10.20")),
              *quotes((s(3), "AAA", "9.00", "9.10"))]

    got = bucket_sides(feed(per_share("lee_ready"), events))

    assert got == [(1, s(2), 0.0)]


def test_lee_ready_waits_for_every_quote_at_the_trade_time() -> None:
    # Two quotes at 5 s, the trade between them: the latest quote at or before 5 s is the
    # second (mid 10.15 > 10.08: sell), known only once a quote after 5 s has come.
    events = [*quotes((s(5), "AAA", "10.00", "10.10")), *tape((s(5), "AAA", "10.08", 1)),
              *quotes((s(5), "AAA", "10.10", "10.20"), (s(6), "AAA", "10.10", "10.20"))]

    got = bucket_sides(feed(per_share("lee_ready"), events))

    assert got == [(1, s(5), 0.0)]


@pytest.mark.parametrize(("lag_ms", "buy"), [(0, 0.0), (500, 0.0), (1_000, 1.0)])
def test_lee_ready_quote_lag_picks_the_quote_at_or_before_trade_time_minus_lag(
    lag_ms: int, buy: float
) -> None:
    # Quotes: mid 10.05 at 1 s, mid 10.15 at 5 s; a trade at 10.08 at 5.5 s.
    # lag 0: quote at 5 s, sell. lag 500 ms: reference 5.0 s, the quote at 5 s counts (at or
    # before): sell. lag 1 s: reference 4.5 s, quote at 1 s: buy.
    events = [*quotes((s(1), "AAA", "10.00", "10.10"), (s(5), "AAA", "10.10", "10.20")),
              *tape((s(5.5), "AAA", "10.08", 1))]

    got = bucket_sides(run(per_share("lee_ready", quote_lag_ms=lag_ms), events))

    assert got == [(1, s(5.5), buy)]


def test_lee_ready_clock_settles_a_waiting_trade_after_grace() -> None:
    # Arrange
    engine = per_share("lee_ready", grace_ms=500)
    feed(engine, [*quotes((s(1), "AAA", "10.00", "10.10")), *tape((s(2), "AAA", "10.01", 1))])

    # Act
    early = engine.on_time(s(2.5) - 1)
    due = engine.on_time(s(2.5))

    # Assert: mid 10.05 > 10.01: sell
    assert early == []
    assert bucket_sides(due) == [(1, s(2), 0.0)]
    assert engine.flush() == []


def test_lee_ready_without_quotes_uses_the_tick_rule_and_counts_it() -> None:
    engine = per_share("lee_ready")

    got = bucket_sides(run(engine, TICK_TAPE))

    assert got == TICK_SHARES
    assert engine.unquoted_trades == len(TICK_TAPE)


def test_lee_ready_keeps_quotes_for_lag_plus_grace_and_the_one_before() -> None:
    # grace 2 s, lag 1 s: newest 10 s, cutoff 7 s: keep 10 s and the last quote <= 7 s (3 s).
    engine = per_share("lee_ready", grace_ms=2_000, quote_lag_ms=1_000)

    feed(engine, quotes(*[(s(t), "AAA", "10.00", "10.10") for t in (1, 2, 3, 10)]))

    assert [row[0] for row in engine.snapshot("AAA")["quotes"]] == [s(3), s(10)]


def test_lee_ready_batching_does_not_change_the_output() -> None:
    # Arrange
    expected = by_symbol(run(per_share("lee_ready"), LR_EVENTS))

    # Act
    results = []
    for seed in range(20):
        rng = random.Random(seed)
        cuts = sorted(rng.sample(range(1, len(LR_EVENTS)), rng.randint(1, len(LR_EVENTS) - 1)))
        results.append(by_symbol(run(per_share("lee_ready"), LR_EVENTS, cuts)))

    # Assert
    assert all(result == expected for result in results)


@pytest.mark.parametrize("split", range(len(LR_EVENTS) + 1))
def test_lee_ready_snapshot_restore_keeps_waiting_trades_and_quotes(split: int) -> None:
    # Arrange
    overrides = {"classification": "lee_ready", "bucket_volume": 1, "window": 1}
    expected = by_symbol(run(per_share("lee_ready"), LR_EVENTS))
    before = per_share("lee_ready")
    first = feed(before, LR_EVENTS[:split])

    # Act
    after = restored(before, **overrides)
    rest = run(after, LR_EVENTS[split:])

    # Assert
    assert by_symbol(first + rest) == expected


def test_tick_state_survives_a_restore() -> None:
    # The zero tick at 3 s keeps the buy of 2 s only if the side is restored.
    before = per_share("tick")
    first = before.process(TRADES, trade_columns(TICK_TAPE[:3]))

    after = restored(before, classification="tick", bucket_volume=1, window=1)
    rest = run(after, TICK_TAPE[3:])

    assert bucket_sides(first + rest) == TICK_SHARES
