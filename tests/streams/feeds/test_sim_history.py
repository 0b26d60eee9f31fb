"""The synthetic market's history (the backfill before going live): where it lies in time, that
it joins the live tape without gap or overlap, that it trades the live volume per second with
fewer, larger trades, and that it is as deterministic as the rest of the tape."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable
from decimal import Decimal

import pytest

from streams.codec import encode
from streams.exceptions import ConfigError
from streams.feeds import MarketEvent
from streams.feeds.sim import KNOWN_SYMBOLS, SimMarket, volume_per_s
from streams.schema import DepthSnapshot, Quote, Trade
from tests.factories import T0

NS = 1_000_000_000
SYMBOLS = list(KNOWN_SYMBOLS)
HISTORY_S = 1_800.0
RATE = 2_000.0
MERGE = 100


def _market(**overrides: object) -> SimMarket:
    params: dict = {"symbols": SYMBOLS, "seed": 7, "trades_per_s": RATE,
                    "history_s": HISTORY_S, "history_merge": MERGE} | overrides
    return SimMarket(**params)


def _until(market: SimMarket, end_ns: int, start_ns: int = T0) -> list[MarketEvent]:
    return list(itertools.takewhile(lambda e: e.ts_event < end_ns, market.events(start_ns)))


def _trades(events: Iterable[MarketEvent]) -> list[Trade]:
    return [e for e in events if isinstance(e, Trade)]


@pytest.fixture(scope="module")
def tape() -> list[MarketEvent]:
    """Half an hour of history and the first 10 s of the live tape after it."""
    market = _market()
    return _until(market, market.live_start_ns(T0) + 10 * NS)


@pytest.fixture(scope="module")
def live_ns() -> int:
    return _market().live_start_ns(T0)


def test_history_ends_where_the_live_tape_starts(live_ns: int) -> None:
    assert live_ns == T0 + round(HISTORY_S * NS)


def test_history_covers_its_span_and_the_live_tape_follows_without_gap_or_overlap(
    tape: list[MarketEvent], live_ns: int
) -> None:
    # Arrange: at 20 history trades a second, gaps between trades are tens of ms
    history = [e for e in tape if e.ts_event < live_ns]
    live = [e for e in tape if e.ts_event >= live_ns]

    # Assert: time order across the change, history from the tape's start to the live start
    assert [e.ts_event for e in tape] == sorted(e.ts_event for e in tape)
    assert T0 <= history[0].ts_event < T0 + NS
    assert live_ns - NS < history[-1].ts_event < live_ns <= live[0].ts_event < live_ns + NS
    # every symbol trades in every minute of the history: no stretch is left out
    minutes = {(t.symbol, (t.ts_event - T0) // (60 * NS)) for t in _trades(history)}
    assert minutes == {(s, m) for s in SYMBOLS for m in range(int(HISTORY_S) // 60)}


def test_trade_numbers_and_prices_carry_on_from_history_to_live(
    tape: list[MarketEvent], live_ns: int
) -> None:
    by_symbol: dict[str, list[Trade]] = defaultdict(list)
    for trade in _trades(tape):
        by_symbol[trade.symbol].append(trade)

    moved = []
    for symbol, trades in by_symbol.items():
        numbers = [int(t.trade_id) for t in trades]
        assert numbers == list(range(1, len(trades) + 1)), symbol
        last = [t for t in trades if t.ts_event < live_ns][-1]
        first = next(t for t in trades if t.ts_event >= live_ns)
        # the live walk starts where the history's ended: apart by at most the spread (up to
        # 10 ticks: a trade is at the bid or the ask) and ten sigmas of the walk between them
        spec = KNOWN_SYMBOLS[symbol]
        dt_s = (first.ts_event - last.ts_event) / NS
        ticks = Decimal(round(11 + 10 * spec.sigma_ticks * (dt_s + 1) ** 0.5))
        assert abs(first.price - last.price) <= ticks * spec.tick, symbol
        moved.append(abs(last.price - spec.price) > ticks * spec.tick)
    assert any(moved)  # the check can tell: a restart at the start price would fail it


def test_history_has_one_trade_for_every_merge_live_rate_trades(
    tape: list[MarketEvent], live_ns: int
) -> None:
    # Poisson at RATE / MERGE = 20 a second for 1800 s: 36000, sd 190
    kinds = Counter(type(e) for e in tape if e.ts_event < live_ns)
    expected = RATE / MERGE * HISTORY_S

    assert kinds[Trade] == pytest.approx(expected, rel=0.03)
    assert kinds[Quote] == kinds[Trade]  # a quote after each trade (quote_every=1)
    assert kinds[DepthSnapshot] == pytest.approx(kinds[Trade] / 10, rel=0.01)  # depth_every=10


def test_history_trades_the_live_volume_per_second() -> None:
    # Known answer: a symbol trades rate * weight / total weight trades a second of mean size
    # min_size * 1.6 / 0.6 (sizes min_size * (1 + Lomax(1.6)), floored: symbols whose
    # min_size is 10 and more keep the floor's loss under 2 %); no episodes. A history trade
    # merges 100 of them, so its volume per second is the same.
    symbols = ["AAPL", "MSFT", "EURUSD"]
    market = _market(symbols=symbols, informed_probability=0.0, history_s=3_600.0)
    expected = volume_per_s(symbols, RATE)

    history = _trades(_until(market, market.live_start_ns(T0)))

    volume = Counter[str]()
    for trade in history:
        volume[trade.symbol] += trade.size
    for symbol in symbols:
        assert volume[symbol] / 3_600.0 == pytest.approx(expected[symbol], rel=0.05), symbol
    mean_size = sum(volume.values()) / len(history)
    assert mean_size > 50 * sum(expected.values()) / RATE  # fewer, larger trades


def test_same_seed_gives_the_same_history_and_start_ns_only_shifts_it() -> None:
    first = _until(_market(history_s=120.0), T0 + 130 * NS)
    again = _until(_market(history_s=120.0), T0 + 130 * NS)
    shifted = _until(_market(history_s=120.0), T0 + 5 * NS + 130 * NS, start_ns=T0 + 5 * NS)
    other_seed = _until(_market(history_s=120.0, seed=8), T0 + 130 * NS)

    assert [encode(e) for e in first] == [encode(e) for e in again]
    assert [e.ts_event + 5 * NS for e in first] == [e.ts_event for e in shifted]
    assert [(e.symbol, getattr(e, "size", None)) for e in first] == [
        (e.symbol, getattr(e, "size", None)) for e in shifted]
    assert [encode(e) for e in first] != [encode(e) for e in other_seed]


def test_no_history_leaves_the_tape_as_it_was() -> None:
    plain = SimMarket(SYMBOLS, seed=7, trades_per_s=RATE)
    without = _market(history_s=0.0)

    assert [encode(e) for e in itertools.islice(plain.events(T0), 5_000)] == [
        encode(e) for e in itertools.islice(without.events(T0), 5_000)]
    assert without.live_start_ns(T0) == T0


@pytest.mark.parametrize(("overrides", "message"), [
    ({"history_s": -1.0}, "history_s must be >= 0"),
    ({"history_s": float("nan")}, "history_s must be >= 0"),
    ({"history_merge": 0}, "history_merge must be an int >= 1"),
    ({"history_merge": 2.5}, "history_merge must be an int >= 1"),
])
def test_constructor_rejects_bad_history(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _market(**overrides)
