"""The features engine against TA-Lib, the published reference (processors/features.py).

Every value is talib's (SMA, EMA, RSI, MACD, BBANDS, ATR, ROCR - 1 for ret_1) or, for rv_n,
pandas' rolling sample std of log returns, over a 200-bar random walk with highs and lows; a
value is absent until the reference gives one.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
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


def bars(symbol: str, closes: list[float], highs: list[float] | None = None,
         lows: list[float] | None = None) -> list[Bar]:
    """One bar per minute from T0 with these closes (and highs, lows; else the close), written
    with 4 decimals."""
    out = []
    for i, close in enumerate(closes):
        start = T0 + i * MINUTE_NS
        price = f"{close:.4f}"
        high = f"{highs[i]:.4f}" if highs else price
        low = f"{lows[i]:.4f}" if lows else price
        out.append(Bar(ts_event=start + MINUTE_NS, ts_init=start + MINUTE_NS,
                       bar_id=f"{symbol}@1m@{start}", symbol=symbol, start_ns=start,
                       open=price, high=high, low=low, close=price, volume=1,
                       trade_count=1, vwap=price))
    return out


def random_bars(symbol: str, count: int, seed: int) -> list[Bar]:
    """A random walk of closes, each bar's high and low a random distance above and below its
    close (often less than the gap from the previous close, so every true-range term counts)."""
    rng = random.Random(seed)
    closes, highs, lows, price = [], [], [], 100.0
    for _ in range(count):
        price *= 1 + rng.gauss(0, 0.002)
        closes.append(round(price, 4))
        highs.append(round(price + abs(rng.gauss(0, 0.1)), 4))
        lows.append(round(price - abs(rng.gauss(0, 0.1)), 4))
    return bars(symbol, closes, highs, lows)


def run(engine: FeaturesEngine, tape: list[Bar], cuts: list[int] | None = None) -> list[Emit]:
    bounds = [0, *(cuts or []), len(tape)]
    emits: list[Emit] = []
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        emits += engine.process(TOPIC, event_columns("Bar", tape[lo:hi]))
    return emits


def test_values_are_absent_until_talib_gives_one() -> None:
    tape = random_bars("AAPL", 60, seed=7)

    emits = run(make_engine(), tape)

    assert [e.value.ts_event for e in emits] == [b.ts_event for b in tape]
    names = [set(e.value.values) for e in emits]
    assert names[0] == set()
    assert names[1] == {"ret_1"}
    assert names[14] == {"ret_1", "sma_10", "ema_12", "rsi_14", "atr_14"}
    assert names[19] - names[18] == {"sma_20", "bb_upper", "bb_middle", "bb_lower"}
    assert names[20] - names[19] == {"rv_20"}
    assert names[33] - names[32] == {"macd", "macd_signal", "macd_hist"}
    assert names[49] - names[48] == {"sma_50"}


BARS = random_bars("AAPL", 200, seed=11)
HIGH, LOW, CLOSE = (np.array([float(getattr(b, f)) for b in BARS])
                    for f in ("high", "low", "close"))


def _talib_reference() -> dict[str, np.ndarray]:
    macd, signal, hist = talib.MACD(CLOSE, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(CLOSE, 20, 2.0, 2.0, talib.MA_Type.SMA)
    return {
        "sma_10": talib.SMA(CLOSE, 10), "sma_20": talib.SMA(CLOSE, 20),
        "sma_50": talib.SMA(CLOSE, 50), "ema_12": talib.EMA(CLOSE, 12),
        "ema_26": talib.EMA(CLOSE, 26), "rsi_14": talib.RSI(CLOSE, 14),
        "macd": macd, "macd_signal": signal, "macd_hist": hist,
        "bb_upper": upper, "bb_middle": middle, "bb_lower": lower,
        "atr_14": talib.ATR(HIGH, LOW, CLOSE, 14), "ret_1": talib.ROCR(CLOSE, 1) - 1,
        # no TA-Lib function: the definition is pandas' rolling sample std of log returns
        "rv_20": pd.Series(np.log(CLOSE)).diff().rolling(20).std().to_numpy(),
    }


REFERENCE = _talib_reference()
# Where TA-Lib's arithmetic is repeated operation for operation the values are its own bits;
# RSI, ATR, the MACD signal and the outer bands differ from this talib build in the last bits
# (measured within 1e-12 relative), rv_20 from pandas' online rolling variance.
EXACT = {"sma_10", "sma_20", "sma_50", "ema_12", "ema_26", "macd", "bb_middle", "ret_1"}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_each_indicator_equals_talib_from_the_bar_talib_gives_it(name: str) -> None:
    # Arrange: 200 bars of a random walk with highs and lows around it
    reference = REFERENCE[name]
    first = int(np.flatnonzero(~np.isnan(reference))[0])

    # Act
    emits = run(make_engine(), BARS)

    # Assert: absent before TA-Lib's first value, equal to it at every bar after
    got = [e.value.values.get(name) for e in emits]
    assert got[:first] == [None] * first
    expected = reference[first:].tolist()
    if name in EXACT:
        assert got[first:] == expected
    else:
        assert got[first:] == pytest.approx(expected, rel=1e-9, abs=0)


def test_first_values_appear_where_talib_documents_them() -> None:
    first = {name: int(np.flatnonzero(~np.isnan(ref))[0]) for name, ref in REFERENCE.items()}

    assert first == {"sma_10": 9, "sma_20": 19, "sma_50": 49, "ema_12": 11, "ema_26": 25,
                     "rsi_14": 14, "macd": 33, "macd_signal": 33, "macd_hist": 33,
                     "bb_upper": 19, "bb_middle": 19, "bb_lower": 19, "atr_14": 14,
                     "ret_1": 1, "rv_20": 20}


def test_periods_are_configurable_and_names_follow() -> None:
    tape = random_bars("X", 80, seed=3)
    high, low, close = (np.array([float(getattr(b, f)) for b in tape])
                        for f in ("high", "low", "close"))

    emits = run(make_engine(sma="5,60", ema=[30], rsi="7", macd="5,35,5", bbands="10",
                            bbands_dev="1.5", atr="3,20", rv="5"), tape)

    last = emits[-1].value.values
    macd, signal, hist = talib.MACD(close, 5, 35, 5)
    upper, middle, lower = talib.BBANDS(close, 10, 1.5, 1.5, talib.MA_Type.SMA)
    log_returns = np.diff(np.log(close))
    assert last == pytest.approx({
        "sma_5": talib.SMA(close, 5)[-1], "sma_60": talib.SMA(close, 60)[-1],
        "ema_30": talib.EMA(close, 30)[-1], "rsi_7": talib.RSI(close, 7)[-1],
        "macd": macd[-1], "macd_signal": signal[-1], "macd_hist": hist[-1],
        "bb_upper": upper[-1], "bb_middle": middle[-1], "bb_lower": lower[-1],
        "atr_3": talib.ATR(high, low, close, 3)[-1], "atr_20": talib.ATR(high, low, close, 20)[-1],
        "ret_1": close[-1] / close[-2] - 1, "rv_5": np.std(log_returns[-5:], ddof=1),
    }, rel=1e-9, abs=0)
    assert "macd" not in emits[37].value.values and "macd" in emits[38].value.values


@pytest.mark.parametrize("bad", [
    {"sma": "0"}, {"ema": "12,12"}, {"rsi": "1"}, {"rv": "1"}, {"bbands": "1"},
    {"macd": "26,12,9"}, {"macd": "12,26"}, {"bbands_dev": "0"},
])
def test_bad_periods_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        FeatureParams(**bad)


def interleaved(count: int) -> list[Bar]:
    """Two symbols' bars in ts_event order."""
    a, b = random_bars("AAA", count, 1), random_bars("BBB", count, 2)
    return [bar for pair in zip(a, b, strict=True) for bar in pair]


def per_symbol(emits: list[Emit]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for e in emits:
        out.setdefault(e.key, []).append(e.value.model_dump(exclude={"ts_init"}))
    return out


def test_results_do_not_depend_on_batching() -> None:
    tape = interleaved(60)

    whole = run(make_engine(), tape)
    one_by_one = run(make_engine(), tape, cuts=list(range(1, len(tape))))
    sevens = run(make_engine(), tape, cuts=list(range(7, len(tape), 7)))

    assert per_symbol(whole) == per_symbol(one_by_one) == per_symbol(sevens)


def test_snapshot_restore_at_any_point_continues_exactly() -> None:
    tape = interleaved(60)
    expected = per_symbol(run(make_engine(), tape))
    for cut in (1, 9, 25, 57, 67, 99):
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
