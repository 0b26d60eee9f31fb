"""The features engine against TA-Lib, the published reference (processors/features.py).

sma_n = talib.SMA(close, n), ema_n = talib.EMA(close, n) (first EMA = SMA of the first n),
ret_1 = close / previous close - 1; a value is absent until TA-Lib gives one.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import talib
import torch
from pydantic import ValidationError

from processors.base import Emit
from processors.features import FeatureParams, FeaturesEngine
from streams.clock import TestClock
from streams.codec import event_columns
from streams.schema import Bar
from tests.factories import MINUTE_NS, T0

TOPIC = "market.bars.1m"


def make_engine(**params: object) -> FeaturesEngine:
    return FeaturesEngine(FeatureParams(**params), TestClock(0), torch.device("cpu"))


def bars(symbol: str, closes: list[float]) -> list[Bar]:
    """One bar per minute from T0 with these closes (written with 4 decimals)."""
    out = []
    for i, close in enumerate(closes):
        start = T0 + i * MINUTE_NS
        price = f"{close:.4f}"
        out.append(Bar(ts_event=start + MINUTE_NS, ts_init=start + MINUTE_NS,
                       bar_id=f"{symbol}@1m@{start}", symbol=symbol, start_ns=start,
                       open=price, high=price, low=price, close=price, volume=1,
                       trade_count=1, vwap=price))
    return out


def random_closes(count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    closes, price = [], 100.0
    for _ in range(count):
        price *= 1 + rng.gauss(0, 0.002)
        closes.append(round(price, 4))
    return closes


def run(engine: FeaturesEngine, tape: list[Bar], cuts: list[int] | None = None) -> list[Emit]:
    bounds = [0, *(cuts or []), len(tape)]
    emits: list[Emit] = []
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        emits += engine.process(TOPIC, event_columns("Bar", tape[lo:hi]))
    return emits


def test_values_equal_talib_and_are_absent_until_talib_gives_one() -> None:
    # Arrange: 120 bars of a random walk, as the bars engine writes them
    closes = random_closes(120, seed=7)
    tape = bars("AAPL", closes)
    series = np.array([float(b.close) for b in tape])
    reference = {
        "sma_10": talib.SMA(series, 10), "sma_20": talib.SMA(series, 20),
        "ema_12": talib.EMA(series, 12), "ret_1": talib.ROCR(series, 1) - 1,
    }

    # Act
    emits = run(make_engine(), tape)

    # Assert: one vector per bar, dated at the bar's end, every value TA-Lib's
    assert [e.value.ts_event for e in emits] == [b.ts_event for b in tape]
    for i, emit in enumerate(emits):
        expected = {name: float(ref[i]) for name, ref in reference.items()
                    if not np.isnan(ref[i])}
        assert emit.value.values == pytest.approx(expected, rel=1e-12, abs=0), i
    assert set(emits[0].value.values) == set()
    assert set(emits[1].value.values) == {"ret_1"}
    assert set(emits[11].value.values) == {"ret_1", "sma_10", "ema_12"}
    assert set(emits[19].value.values) == {"ret_1", "sma_10", "ema_12", "sma_20"}


def test_periods_are_configurable_and_names_follow() -> None:
    closes = random_closes(60, seed=3)
    series = np.array(closes)

    emits = run(make_engine(sma="5,50", ema=[26]), bars("X", closes))

    last = emits[-1].value.values
    assert set(last) == {"sma_5", "sma_50", "ema_26", "ret_1"}
    assert last["sma_50"] == pytest.approx(talib.SMA(series, 50)[-1], rel=1e-12)
    assert last["ema_26"] == pytest.approx(talib.EMA(series, 26)[-1], rel=1e-12)


@pytest.mark.parametrize("bad", [{"sma": "0"}, {"ema": "12,12"}])
def test_bad_periods_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        FeatureParams(**bad)


def interleaved(count: int) -> list[Bar]:
    """Two symbols' bars in ts_event order."""
    a, b = bars("AAA", random_closes(count, 1)), bars("BBB", random_closes(count, 2))
    return [bar for pair in zip(a, b, strict=True) for bar in pair]


def per_symbol(emits: list[Emit]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for e in emits:
        out.setdefault(e.key, []).append(e.value.model_dump(exclude={"ts_init"}))
    return out


def test_results_do_not_depend_on_batching() -> None:
    tape = interleaved(40)

    whole = run(make_engine(), tape)
    one_by_one = run(make_engine(), tape, cuts=list(range(1, len(tape))))
    sevens = run(make_engine(), tape, cuts=list(range(7, len(tape), 7)))

    assert per_symbol(whole) == per_symbol(one_by_one) == per_symbol(sevens)


def test_snapshot_restore_at_any_point_continues_exactly() -> None:
    tape = interleaved(40)
    expected = per_symbol(run(make_engine(), tape))
    for cut in (1, 9, 25, 57):
        first = make_engine()
        emits = run(first, tape[:cut])
        keys = first.keys()
        state = json.loads(json.dumps({k: first.snapshot(k) for k in keys}))
        second = make_engine()
        for key, snap in state.items():
            second.restore(key, snap)

        emits += run(second, tape[cut:])

        assert per_symbol(emits) == expected, cut


def test_dirty_keys_and_forget() -> None:
    engine = make_engine()
    run(engine, bars("AAA", [10.0, 11.0]))
    assert engine.take_dirty() == {"AAA"}
    assert engine.take_dirty() == set()

    engine.forget("AAA")

    assert engine.keys() == []
    first_again = run(engine, bars("AAA", [12.0]))
    assert first_again[0].value.values == {}
