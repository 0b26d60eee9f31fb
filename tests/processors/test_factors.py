"""The factors engine against a plain pandas evaluation of each factor's formula
(tests/processors/factor_reference.py) over whole series of bars.

Every factor of the shipped catalog (factors.yaml), and every operator, is compared at every
bar of three symbols: a liquid one, a currency pair (prices near 1, five decimals) and a
coarse-tick one whose closes often repeat (ties, flat windows: Rank, IdxMax), this one
starting 40 bars late and some of its bars without a VWAP. A quiet stretch brings windows
whose std is under 2e-5 but not 0 (the flat guard of Corr and Rsquare). The bars reach the
engine interleaved, in batches of irregular sizes (one holds several bars of each symbol).
A value is absent exactly where pandas gives none.
"""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path

import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.factors.catalog import load_catalog
from processors.factors.engine import FactorsEngine
from processors.factors.params import SHIPPED_CATALOG, FactorParams
from streams.clock import TestClock
from streams.codec import event_columns
from streams.schema import Bar
from tests.factories import MINUTE_NS, T0
from tests.processors.factor_reference import evaluate

TOPIC = "market.bars.1m"
BARS = 160
CATALOG = load_catalog(SHIPPED_CATALOG)
# symbol: (first price, tick, relative move per bar, first bar, every n-th bar without a vwap)
SYMBOLS = {"AAPL": (190.0, 0.01, 0.002, 0, 0), "EURUSD": (1.1, 0.00001, 0.0004, 0, 0),
           "COARSE": (50.0, 0.05, 0.001, 40, 9)}
QUIET, QUIET_MOVE = range(100, 116), 0.02  # a stretch of small moves: the currency pair's
# closes then vary by a tick or so, a positive std under Corr's and Rsquare's 2e-5
BATCH_SIZES = (1, 5, 2, 30, 7, 1, 64, 3)
OPERATORS = {  # expressions of the operators Alpha158 does not use, as a user may write them
    "DELTA3": "Delta($close, 3)/$close",
    "VAR5": "Var($close/Ref($close, 1), 5)",
    "MED7": "Med($volume, 7)/($volume+1e-12)",
    "MAD6": "Mad($high-$low, 6)",
    "COV8": "Cov($close, $volume, 8)",
    "SIGN": "Sign($close-$open)*Power($volume, 0.5)",
    "IF": "If($close>=$open, $high-$close, -($close-$low))/$close",
    "CMP": "($close<=Ref($close, 2))+($volume==Ref($volume, 1))+($high!=$close)",
    "NEST": "Corr(Mean($close, 3), Ref(Std($volume, 4), 2), 5)",
    "RANKNEG": "Rank(-$low, 6)",
    "QUANT0": "Quantile($low, 4, 0)+Quantile($high, 4, 1)-2*Quantile($close, 5, 0.5)",
}


def make_engine(catalog: Path = SHIPPED_CATALOG) -> FactorsEngine:
    return FactorsEngine(FactorParams(catalog=catalog), TestClock(0), torch.device("cpu"))


def _series(symbol: str, seed: int) -> list[Bar]:
    price, tick, move, first, no_vwap_every = SYMBOLS[symbol]
    rng = random.Random(seed)
    bars = []
    for i in range(first, BARS):
        open_ = round(price / tick) * tick
        price *= 1 + rng.gauss(0, move * (QUIET_MOVE if i in QUIET else 1))
        close = round(price / tick) * tick
        high = max(open_, close) + tick * rng.randrange(3)
        low = min(open_, close) - tick * rng.randrange(3)
        vwap = None if no_vwap_every and i % no_vwap_every == 0 else (
            f"{low + (high - low) * rng.random():.9f}")
        start = T0 + i * MINUTE_NS
        bars.append(Bar(ts_event=start + MINUTE_NS, ts_init=start + MINUTE_NS,
                        bar_id=f"{symbol}@1m@{start}", symbol=symbol, start_ns=start,
                        open=f"{open_:.5f}", high=f"{high:.5f}", low=f"{low:.5f}",
                        close=f"{close:.5f}", volume=rng.choice((100, 200, 300, 1_000))
                        + rng.randrange(2) * rng.randrange(5_000), vwap=vwap))
    return bars


@pytest.fixture(scope="module")
def tape() -> dict[str, list[Bar]]:
    return {symbol: _series(symbol, seed) for seed, symbol in enumerate(SYMBOLS)}


def _run(engine: FactorsEngine, tape: dict[str, list[Bar]]) -> dict[str, list[dict]]:
    """The engine's values per symbol, bar by bar, the tape in time order in batches."""
    arrivals = sorted((bar for bars in tape.values() for bar in bars),
                      key=lambda b: (b.ts_event, b.symbol))
    values: dict[str, list[dict]] = {symbol: [] for symbol in tape}
    at = 0
    for size in itertools.cycle(BATCH_SIZES):
        if at >= len(arrivals):
            break
        for emit in engine.process(TOPIC, event_columns("Bar", arrivals[at:at + size])):
            values[emit.key].append(emit.value.values)
        at += size
    return values


def _frame(bars: list[Bar]) -> pd.DataFrame:
    return pd.DataFrame({
        "open": [float(b.open) for b in bars], "high": [float(b.high) for b in bars],
        "low": [float(b.low) for b in bars], "close": [float(b.close) for b in bars],
        "volume": [float(b.volume) for b in bars],
        "vwap": [math.nan if b.vwap is None else float(b.vwap) for b in bars]})


def _compare(name: str, expression: str, tape: dict[str, list[Bar]],
             published: dict[str, list[dict]]) -> int:
    """Assert the engine's values of one factor equal pandas' at every bar; how many there
    were."""
    compared = 0
    for symbol, bars in tape.items():
        reference = evaluate(expression, _frame(bars)).tolist()
        engine = [values.get(name) for values in published[symbol]]
        assert len(engine) == len(bars)
        for i, (got, want) in enumerate(zip(engine, reference, strict=True)):
            if not math.isfinite(want):
                assert got is None, f"{name} {symbol} bar {i}: {got} where pandas has none"
                continue
            assert got is not None, f"{name} {symbol} bar {i}: absent, pandas {want}"
            assert got == pytest.approx(want, rel=1e-9, abs=1e-12), f"{symbol} bar {i}"
            compared += 1
    return compared


@pytest.fixture(scope="module")
def published(tape: dict[str, list[Bar]]) -> dict[str, list[dict]]:
    return _run(make_engine(), tape)


@pytest.mark.parametrize("factor", CATALOG.factors, ids=CATALOG.names)
def test_every_shipped_factor_equals_its_pandas_evaluation(factor, tape, published) -> None:
    compared = _compare(factor.name, factor.expression, tape, published)

    # values from each symbol's `history`-th bar on, but where the formula gives none
    assert compared >= 0.9 * sum(len(bars) - factor.history + 1 for bars in tape.values())


def test_the_shipped_catalog_has_alpha158() -> None:
    assert len(CATALOG.factors) == 158
    assert {"KMID", "VWAP0", "ROC5", "CORD60", "VSUMD30"} <= set(CATALOG.names)
    assert make_engine().history == 61  # CORD60: 60 changes of the close


@pytest.fixture(scope="module")
def operator_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("factors") / "operators.yaml"
    path.write_text("factors:\n" + "".join(
        f"  - name: {name}\n    expression: '{expression}'\n    description: {name}\n"
        for name, expression in OPERATORS.items()))
    return path


@pytest.fixture(scope="module")
def published_by_operators(operator_catalog: Path, tape: dict[str, list[Bar]]
                           ) -> dict[str, list[dict]]:
    return _run(make_engine(operator_catalog), tape)


@pytest.mark.parametrize("name", OPERATORS)
def test_every_operator_equals_its_pandas_evaluation(name, tape, published_by_operators
                                                     ) -> None:
    assert _compare(name, OPERATORS[name], tape, published_by_operators) > 300


def _walk(symbol: str, steps: list[tuple[int, int, int]], first_minute: int) -> list[Bar]:
    """Bars of a walk in cents: each step the close's move, the wicks, the volume."""
    bars, price = [], 10_000
    for i, (move, wick, volume) in enumerate(steps):
        open_, price = price, max(price + move, 100)
        start = T0 + (first_minute + i) * MINUTE_NS
        bars.append(Bar(ts_event=start + MINUTE_NS, ts_init=start + MINUTE_NS,
                        bar_id=f"{symbol}@1m@{start}", symbol=symbol, start_ns=start,
                        open=f"{open_ / 100:.2f}", high=f"{(max(open_, price) + wick) / 100:.2f}",
                        low=f"{(min(open_, price) - wick) / 100:.2f}",
                        close=f"{price / 100:.2f}", volume=volume))
    return bars


_STEPS = st.lists(st.tuples(st.integers(-40, 40), st.integers(0, 9), st.integers(1, 900)),
                  min_size=1, max_size=8)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=_STEPS, other=_STEPS, steps=st.lists(
    st.tuples(st.integers(-40, 40), st.integers(0, 9), st.integers(1, 900)),
    min_size=62, max_size=66))
def test_a_value_depends_on_its_window_alone(prefix, other, steps) -> None:
    # Arrange: the same bars alone, and after other bars of the symbol, next to another symbol
    history = make_engine().history
    alone = _walk("AAA", steps, len(prefix))
    crowded = {"AAA": _walk("AAA", prefix, 0)[:len(prefix)] + alone,
               "BBB": _walk("BBB", other + steps, 0)}

    # Act
    by_itself = _run(make_engine(), {"AAA": alone})["AAA"]
    in_company = _run(make_engine(), crowded)["AAA"][len(prefix):]

    # Assert: from the first full window of the longest factor on, the very same values
    assert len(by_itself) == len(in_company) == len(steps)
    assert by_itself[history - 1:] == in_company[history - 1:]
