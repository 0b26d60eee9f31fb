"""Properties of the VPIN engine on random tapes (hypothesis).

`reference` reads the definition one event at a time with plain floats; the engine must
agree with it, keep its invariants, and give identical output however the tape is cut into
batches, restored from snapshots, or closed by the clock.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.vpin import VpinEngine, VpinParams
from streams.clock import TestClock
from streams.schema import Quote, Trade
from tests.factories import MINUTE_NS, T0, quote, trade
from tests.processors.test_vpin import by_symbol, feed, phi, readings, restored, run

SEC = 1_000_000_000
SYMBOLS = ["AAA", "BBB", "CCC"]
Event = Trade | Quote


@dataclass(frozen=True)
class Scenario:
    params: VpinParams
    events: list[Event]

    def engine(self) -> VpinEngine:
        return VpinEngine(self.params, TestClock(0), torch.device("cpu"))


@st.composite
def scenarios(draw: st.DrawFn, mode: str, ordered: bool = True) -> Scenario:
    volume = draw(st.sampled_from([1, 3, 7, 20, 50]))
    params = VpinParams(
        bar_seconds=draw(st.sampled_from([1, 1, 60])),
        bucket_volume={"default": volume, "BBB": draw(st.sampled_from([2, 5, 30]))},
        window=draw(st.integers(1, 4)), sigma_bars=draw(st.integers(2, 4)),
        cdf_window=draw(st.integers(1, 6)), classification=mode,
        grace_ms=draw(st.sampled_from([1, 2_000])),
        quote_lag_ms=draw(st.sampled_from([0, 1_000])),
        alert_cdf=draw(st.sampled_from([0.5, 0.9, 1.0])), clear_cdf=0.3,
        include_unreported=draw(st.booleans()),
    )
    forward = st.one_of(st.just(0), st.integers(0, 3 * SEC), st.integers(0, 2 * MINUTE_NS))
    step = forward if ordered else st.one_of(forward, st.integers(-90 * SEC, 0))
    kinds = st.sampled_from(["trade", "quote"] if mode == "lee_ready" else ["trade"])
    length = draw(st.integers(0, 60))  # spread lengths out: hypothesis favours short lists
    rows = draw(st.lists(st.tuples(kinds, st.sampled_from(SYMBOLS), step, st.integers(95, 105),
                                   st.integers(1, 30), st.sampled_from([False, False, True])),
                         min_size=length, max_size=length))
    ts = T0 + draw(st.integers(0, MINUTE_NS - 1))
    events: list[Event] = []
    for kind, symbol, delta, tenths, size, unreported in rows:
        ts += delta
        price = str(Decimal(tenths).scaleb(-1))
        if kind == "trade":  # some unreported: IB's odd lots and average-price prints
            events.append(trade(ts_event=ts, ts_init=ts, symbol=symbol, price=price, size=size,
                                unreported=unreported))
        else:
            ask = str(Decimal(tenths + size % 3).scaleb(-1))
            events.append(quote(ts_event=ts, ts_init=ts, symbol=symbol, bid_price=price,
                                ask_price=ask))
    return Scenario(params, events)


def any_mode(ordered: bool = True) -> st.SearchStrategy[Scenario]:
    return st.one_of(*(scenarios(mode, ordered) for mode in ("bvc", "tick", "lee_ready")))


# ---- the definition, one event at a time ---------------------------------------------------


def sides(p: VpinParams, events: list[Event]) -> list[tuple[str, int, float, int]]:
    """Classified volume in pouring order: (symbol, volume, buy fraction, ts)."""
    trades = [e for e in events if isinstance(e, Trade)
              and (p.include_unreported or not e.unreported)]
    if p.classification == "bvc":
        return bvc_sides(p, trades)
    book: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for q in (e for e in events if isinstance(e, Quote)):
        book[q.symbol].append((q.ts_event, float(q.bid_price + q.ask_price) / 2))
    last: dict[str, tuple[float, int]] = {}
    out = []
    for t in trades:
        price = float(t.price)
        before, side = last.get(t.symbol, (None, 0))
        if before is not None and price != before:
            side = 1 if price > before else -1
        last[t.symbol] = (price, side)
        reference = t.ts_event - p.quote_lag_ms * 1_000_000
        known = [mid for ts, mid in book[t.symbol] if ts <= reference]
        if p.classification == "lee_ready" and known:
            latest = max((ts, i) for i, (ts, _) in enumerate(book[t.symbol]) if ts <= reference)
            mid = book[t.symbol][latest[1]][1]
            side = side if price == mid else (1 if price > mid else -1)
        if side:
            out.append((t.symbol, t.size, 1.0 if side > 0 else 0.0, t.ts_event))
    return out


def bvc_sides(p: VpinParams, trades: list[Trade]) -> list[tuple[str, int, float, int]]:
    bars: dict[str, list[list]] = defaultdict(list)  # [bar, close, volume, last ts]
    for t in trades:
        bar = t.ts_event // (p.bar_seconds * SEC)
        mine = bars[t.symbol]
        if mine and mine[-1][0] == bar:
            mine[-1][1:] = [t.price, mine[-1][2] + t.size, t.ts_event]
        else:
            mine.append([bar, t.price, t.size, t.ts_event])
    out = []
    for symbol, mine in bars.items():
        moves: list[Decimal] = []  # prices are decimals: ΔP is exact
        for (_, before, _, _), (_, close, volume, ts) in zip(mine, mine[1:], strict=False):
            moves.append(close - before)
            recent = moves[-p.sigma_bars:]
            if len(moves) >= 2:
                flat = max(recent) == min(recent)
                sigma = statistics.stdev(float(m) for m in recent)
                f = 0.5 if flat else phi(float(moves[-1]) / sigma)
                out.append((symbol, volume, f, ts))
    return out


def reference(p: VpinParams, events: list[Event]) -> dict[str, list[tuple[int, int, float]]]:
    """Completed buckets per symbol: (bucket, ts, buy volume)."""
    buckets: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
    fill: dict[str, tuple[int, float]] = defaultdict(lambda: (0, 0.0))
    for symbol, volume, f, ts in sides(p, events):
        size = p.bucket_volume_for(symbol)
        held, buy = fill[symbol]
        while volume:
            piece = min(volume, size - held)
            held, buy, volume = held + piece, buy + f * piece, volume - piece
            if held == size:
                buckets[symbol].append((len(buckets[symbol]) + 1, ts, buy))
                held, buy = 0, 0.0
        fill[symbol] = (held, buy)
    return dict(buckets)


# ---- properties --------------------------------------------------------------------------

PROPERTY = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(any_mode())
def test_property_engine_matches_the_definition(case: Scenario) -> None:
    # Arrange
    expected = reference(case.params, case.events)
    n = case.params.window

    # Act
    got = readings(run(case.engine(), case.events))

    # Assert
    assert {r.symbol for r in got} == set(expected)
    for symbol, want in expected.items():
        mine = [r for r in got if r.symbol == symbol]
        size = case.params.bucket_volume_for(symbol)
        assert [(r.bucket, r.ts_event) for r in mine] == [(k, ts) for k, ts, _ in want]
        assert [r.buy_volume for r in mine] == pytest.approx([b for *_, b in want], abs=1e-4)
        imbalance = [abs(size - 2 * b) for *_, b in want]
        vpins = [sum(imbalance[k - n:k]) / (n * size) if k >= n else None
                 for k in range(1, len(want) + 1)]
        assert [r.vpin for r in mine] == pytest.approx(vpins, abs=1e-5)


@PROPERTY
@given(st.one_of(any_mode(), scenarios("bvc", ordered=False), scenarios("tick", ordered=False)))
def test_property_invariants(case: Scenario) -> None:
    # Act
    got = readings(run(case.engine(), case.events))

    # Assert
    p = case.params
    for symbol in {r.symbol for r in got}:
        mine = [r for r in got if r.symbol == symbol]
        assert [r.bucket for r in mine] == list(range(1, len(mine) + 1))
        for k, r in enumerate(mine, start=1):
            assert r.bucket_volume == p.bucket_volume_for(symbol)
            assert r.buy_volume + r.sell_volume == r.bucket_volume  # exactly
            assert r.buy_volume >= 0 and r.sell_volume >= 0
            assert (r.vpin is None) == (k < p.window) == (r.vpin_cdf is None)
            if r.vpin is not None:
                assert 0.0 <= r.vpin <= 1.0
                recent = [x.vpin for x in mine[max(p.window - 1, k - p.cdf_window):k]]
                assert r.vpin_cdf == sum(v <= r.vpin for v in recent) / len(recent)
    traded = sum(e.size for e in case.events if isinstance(e, Trade))
    assert sum(r.bucket_volume for r in got) <= traded


@PROPERTY
@given(any_mode())
def test_property_bucketed_volume_never_exceeds_classified_volume(case: Scenario) -> None:
    classified: dict[str, int] = defaultdict(int)
    for symbol, volume, _, _ in sides(case.params, case.events):
        classified[symbol] += volume

    got = readings(run(case.engine(), case.events))

    for symbol, volume in classified.items():
        bucketed = sum(r.bucket_volume for r in got if r.symbol == symbol)
        assert volume - case.params.bucket_volume_for(symbol) < bucketed <= volume


@PROPERTY
@given(st.one_of(any_mode(), scenarios("bvc", ordered=False)), st.data())
def test_property_batch_invariance(case: Scenario, data: st.DataObject) -> None:
    # Arrange
    positions = list(range(1, len(case.events)))
    cuts = sorted(data.draw(st.sets(st.sampled_from(positions))) if positions else [])

    # Act
    whole = by_symbol(run(case.engine(), case.events))
    cut = by_symbol(run(case.engine(), case.events, cuts))
    singles = by_symbol(run(case.engine(), case.events, positions))

    # Assert: exact equality, floats included
    assert cut == whole
    assert singles == whole


@PROPERTY
@given(st.one_of(any_mode(), scenarios("bvc", ordered=False)), st.data())
def test_property_snapshot_restore_anywhere(case: Scenario, data: st.DataObject) -> None:
    # Arrange
    split = data.draw(st.integers(0, len(case.events)))
    expected = by_symbol(run(case.engine(), case.events))
    before = case.engine()
    first = feed(before, case.events[:split])

    # Act
    after = restored(before, **case.params.model_dump())
    rest = run(after, case.events[split:])

    # Assert
    assert by_symbol(first + rest) == expected


@PROPERTY
@given(any_mode(), st.data())
def test_property_clock_closes_like_later_events(case: Scenario, data: st.DataObject) -> None:
    # Arrange: between batches the clock reaches the newest event time so far.
    positions = list(range(1, len(case.events)))
    cuts = sorted(data.draw(st.sets(st.sampled_from(positions))) if positions else [])
    expected = by_symbol(run(case.engine(), case.events))
    engine = case.engine()

    # Act
    emits = []
    for lo, hi in zip([0, *cuts], [*cuts, len(case.events)], strict=True):
        emits += feed(engine, case.events[lo:hi])
        if hi:
            emits += engine.on_time(max(e.ts_event for e in case.events[:hi]))
    emits += engine.flush()

    # Assert
    assert by_symbol(emits) == expected


def test_reference_phi_is_the_standard_normal_cdf() -> None:
    assert phi(0.0) == 0.5
    assert phi(1.959963984540054) == pytest.approx(0.975)
    assert phi(-math.inf) == 0.0
