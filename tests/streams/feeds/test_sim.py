"""The synthetic market: determinism, time order, tick grid, book invariants, wire validity,
arrival statistics and informed-flow episodes."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from decimal import Decimal

import numpy as np
import pytest

from streams.codec import decode, decode_columns, encode
from streams.exceptions import ConfigError
from streams.feeds import MarketEvent
from streams.feeds.sim import KNOWN_SYMBOLS, SimMarket, SymbolSpec, symbol_spec, volume_per_s
from streams.schema import DEPTH_LEVELS, DepthSnapshot, Quote, Trade
from tests.factories import T0

NS = 1_000_000_000
SYMBOLS = ["ESZ6", "NQZ6", "AAPL", "MSFT", "EURUSD"]


def _market(**overrides: object) -> SimMarket:
    params: dict = {"symbols": SYMBOLS, "seed": 7, "trades_per_s": 1_000.0} | overrides
    return SimMarket(**params)


def _take(market: SimMarket, n: int, start_ns: int = T0) -> list[MarketEvent]:
    return list(itertools.islice(market.events(start_ns), n))


def _until(market: SimMarket, end_ns: int, start_ns: int = T0) -> list[MarketEvent]:
    return list(itertools.takewhile(lambda e: e.ts_event < end_ns, market.events(start_ns)))


def _trades(events: Iterable[MarketEvent], symbol: str | None = None) -> list[Trade]:
    return [e for e in events if isinstance(e, Trade) and symbol in (None, e.symbol)]


def _buy_share(trades: list[Trade]) -> float:
    return sum(t.aggressor == "buy" for t in trades) / len(trades)


@pytest.fixture(scope="module")
def tape() -> list[MarketEvent]:
    """About 20 s of the default five-symbol market."""
    return _take(_market(), 40_000)


# ---- determinism and time ----------------------------------------------------------------


def test_same_seed_gives_identical_tape() -> None:
    first = [encode(e) for e in _take(_market(), 10_000)]
    second = [encode(e) for e in _take(_market(), 10_000)]

    assert first == second


def test_different_seed_gives_a_different_tape() -> None:
    a = [encode(e) for e in _take(_market(seed=7), 1_000)]
    b = [encode(e) for e in _take(_market(seed=8), 1_000)]

    assert a != b


def test_start_ns_only_shifts_the_tape() -> None:
    shift = 3_600 * NS
    early = _take(_market(), 5_000, start_ns=T0)
    late = _take(_market(), 5_000, start_ns=T0 + shift)

    moved = [e.model_copy(update={"ts_event": e.ts_event + shift, "ts_init": e.ts_init + shift})
             for e in early]
    assert moved == late


def test_events_are_time_ordered_with_ts_init_equal_to_ts_event(
    tape: list[MarketEvent],
) -> None:
    ts = np.array([e.ts_event for e in tape])

    assert ts[0] >= T0
    assert (np.diff(ts) >= 0).all()
    assert all(e.ts_init == e.ts_event for e in tape)


def test_every_kind_and_every_symbol_appears(tape: list[MarketEvent]) -> None:
    assert {type(e) for e in tape} == {Trade, Quote, DepthSnapshot}
    assert {e.symbol for e in tape} == set(SYMBOLS)


# ---- prices and books ----------------------------------------------------------------------


def _prices(event: MarketEvent) -> list[Decimal]:
    if isinstance(event, Trade):
        return [event.price]
    if isinstance(event, Quote):
        return [event.bid_price, event.ask_price]
    return [*event.bid_prices, *event.ask_prices]


def test_prices_are_positive_and_on_the_symbols_tick_grid(tape: list[MarketEvent]) -> None:
    for event in tape:
        tick = KNOWN_SYMBOLS[event.symbol].tick
        for price in _prices(event):
            assert price > 0
            assert price % tick == 0, (event.symbol, price, tick)


def test_quotes_are_not_crossed_and_sizes_are_positive(tape: list[MarketEvent]) -> None:
    quotes = [e for e in tape if isinstance(e, Quote)]

    assert quotes
    assert all(q.bid_price < q.ask_price for q in quotes)
    assert all(q.bid_size >= 1 and q.ask_size >= 1 for q in quotes)


def test_depth_has_ten_monotone_levels_a_side_and_is_not_crossed(
    tape: list[MarketEvent],
) -> None:
    books = [e for e in tape if isinstance(e, DepthSnapshot)]

    assert books
    for book in books:
        assert len(book.bid_prices) == len(book.ask_prices) == DEPTH_LEVELS
        assert all(a > b for a, b in itertools.pairwise(book.bid_prices))
        assert all(a < b for a, b in itertools.pairwise(book.ask_prices))
        assert book.bid_prices[0] < book.ask_prices[0]
        assert min(book.bid_sizes + book.ask_sizes) >= 0


def test_a_trade_hits_the_bid_or_lifts_the_ask_of_the_quote_that_follows_it(
    tape: list[MarketEvent],
) -> None:
    pairs = [(t, q) for t, q in itertools.pairwise(tape)
             if isinstance(t, Trade) and isinstance(q, Quote)]

    assert len(pairs) > 1_000
    for trade, quote in pairs:
        assert (trade.symbol, trade.ts_event) == (quote.symbol, quote.ts_event)
        expected = quote.ask_price if trade.aggressor == "buy" else quote.bid_price
        assert trade.price == expected


def test_depth_level_one_matches_the_quote_at_the_same_time(tape: list[MarketEvent]) -> None:
    for quote, book in itertools.pairwise(tape):
        if isinstance(quote, Quote) and isinstance(book, DepthSnapshot):
            assert (book.bid_prices[0], book.ask_prices[0]) == (quote.bid_price, quote.ask_price)
            assert (book.bid_sizes[0], book.ask_sizes[0]) == (quote.bid_size, quote.ask_size)


def test_prices_stay_positive_for_a_cheap_wild_symbol() -> None:
    # 1.00 at 0.01 a tick and 500 % daily vol: the mid hits its floor again and again.
    spec = SymbolSpec(Decimal("1.00"), Decimal("0.01"), 5.0, 1.0, 1, 10, 2.0)
    market = SimMarket(["PENNY"], seed=3, trades_per_s=20.0, depth_every=1,
                       specs={"PENNY": spec})

    events = _until(market, T0 + 600 * NS)

    lowest = min(min(_prices(e)) for e in events)
    assert Decimal(0) < lowest < Decimal("0.50")
    assert all(p % spec.tick == 0 for e in events for p in _prices(e))


# ---- the wire ------------------------------------------------------------------------------


def test_events_round_trip_through_the_codec(tape: list[MarketEvent]) -> None:
    for event in tape[:5_000]:
        raw = encode(event)

        assert decode(type(event).__name__, raw) == event


@pytest.mark.parametrize("model", [Trade, Quote, DepthSnapshot])
def test_columnar_decode_rejects_nothing(tape: list[MarketEvent], model: type) -> None:
    raws = [encode(e) for e in tape if isinstance(e, model)]

    columns, rejected = decode_columns(model.__name__, raws)

    assert rejected == []
    assert len(columns["ts_event"]) == len(raws)


# ---- arrivals and sizes --------------------------------------------------------------------


def test_trade_arrivals_are_poisson_at_the_configured_rate() -> None:
    window_s = 200
    trades = _trades(_until(_market(trades_per_s=500.0, quote_every=0, depth_every=0),
                            T0 + window_s * NS))
    gaps_s = np.diff([t.ts_event for t in trades]) / NS

    expected = 500.0 * window_s  # 100k; a Poisson count's sd is ~316
    assert len(trades) == pytest.approx(expected, rel=0.02)
    assert gaps_s.mean() == pytest.approx(1 / 500.0, rel=0.02)
    assert gaps_s.std() / gaps_s.mean() == pytest.approx(1.0, abs=0.05)  # exponential: CV 1


def test_the_rate_is_split_unevenly_by_symbol_weight(tape: list[MarketEvent]) -> None:
    trades = _trades(tape)
    weights = np.array([KNOWN_SYMBOLS[s].weight for s in SYMBOLS])

    shares = np.array([len(_trades(trades, s)) for s in SYMBOLS]) / len(trades)

    np.testing.assert_allclose(shares, weights / weights.sum(), atol=0.02)
    assert shares.max() > 2 * shares.min()


def test_trade_sizes_are_positive_integers_with_a_heavy_tail(tape: list[MarketEvent]) -> None:
    sizes = np.array([t.size for t in _trades(tape, "ESZ6")])

    assert sizes.min() >= 1
    assert sizes.max() >= 20 * np.median(sizes)


def test_aggressors_are_balanced_without_episodes() -> None:
    trades = _trades(_take(_market(informed_probability=0.0), 40_000))

    assert _buy_share(trades) == pytest.approx(0.5, abs=0.02)


# ---- informed-flow episodes ------------------------------------------------------------------


def test_forced_episode_is_one_sided_larger_and_moves_the_price() -> None:
    # Arrange: AAPL buys from second 60 to second 150; no random episodes
    market = _market(informed_probability=0.0, trades_per_s=300.0)
    market.force_episode("AAPL", start_offset_s=60, duration_s=90, side="buy")
    start, end = T0 + 60 * NS, T0 + 150 * NS

    # Act
    aapl = _trades(_until(market, T0 + 210 * NS), "AAPL")

    # Assert
    inside = [t for t in aapl if start <= t.ts_event < end]
    outside = [t for t in aapl if not start <= t.ts_event < end]
    assert _buy_share(inside) > 0.8
    assert _buy_share(outside) == pytest.approx(0.5, abs=0.05)
    assert np.median([t.size for t in inside]) > np.median([t.size for t in outside])
    assert inside[-1].price > inside[0].price
    assert market.episodes(T0, T0 + 210 * NS)[0].symbol == "AAPL"


def test_forced_sell_episode_leaves_other_symbols_balanced() -> None:
    market = _market(informed_probability=0.0)
    market.force_episode("ESZ6", start_offset_s=0, duration_s=60, side="sell", share=0.95)

    events = _until(market, T0 + 60 * NS)

    assert _buy_share(_trades(events, "ESZ6")) < 0.1
    assert _buy_share(_trades(events, "NQZ6")) == pytest.approx(0.5, abs=0.05)


def test_random_episodes_are_reported_and_never_overlap_on_a_symbol() -> None:
    market = _market(informed_probability=1.0)

    episodes = market.episodes(T0, T0 + 1_800 * NS)

    assert len(episodes) >= 10
    for a, b in itertools.combinations(episodes, 2):
        assert not a.overlaps(b)
    assert all(30 * NS <= e.end_ns - e.start_ns <= 120 * NS for e in episodes)
    assert all(0.85 <= e.share <= 0.95 for e in episodes)


def test_random_episode_shows_in_the_tape() -> None:
    market = _market(informed_probability=1.0)
    episode = market.episodes(T0, T0 + 600 * NS)[0]

    events = _until(market, episode.end_ns)
    inside = [t for t in _trades(events, episode.symbol) if t.ts_event >= episode.start_ns]

    assert _buy_share(inside) == pytest.approx(episode.buy_share, abs=0.08)


# ---- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"symbols": []}, "non-empty"),
        ({"symbols": ["AAPL", "AAPL"]}, "repeat"),
        ({"symbols": ["BAD SYMBOL"]}, "invalid symbol"),
        ({"seed": -1}, "seed"),
        ({"trades_per_s": 0.0}, "trades_per_s"),
        ({"trades_per_s": float("nan")}, "trades_per_s"),
        ({"quote_every": -1}, "quote_every"),
        ({"depth_every": 1.5}, "depth_every"),
        ({"informed_probability": 1.5}, "informed_probability"),
    ],
)
def test_constructor_rejects_bad_arguments(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _market(**overrides)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"symbol": "TSLA"}, "not a simulated symbol"),
        ({"side": "hold"}, "side"),
        ({"duration_s": 0}, "duration_s"),
        ({"share": 0.4}, "share"),
    ],
)
def test_force_episode_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    market = _market()
    params: dict = {"symbol": "AAPL", "start_offset_s": 0, "duration_s": 60, "side": "buy"}

    with pytest.raises(ConfigError, match=message):
        market.force_episode(**(params | kwargs))


def test_forced_episodes_on_one_symbol_may_not_overlap() -> None:
    market = _market()
    market.force_episode("AAPL", 0, 60, "buy")

    with pytest.raises(ConfigError, match="overlaps"):
        market.force_episode("AAPL", 30, 60, "sell")
    market.force_episode("MSFT", 30, 60, "sell")  # another symbol is fine


def test_quotes_and_depth_can_be_turned_off() -> None:
    events = _take(_market(quote_every=0, depth_every=0), 1_000)

    assert all(isinstance(e, Trade) for e in events)


@pytest.mark.parametrize(
    ("price", "tick"), [("1.005", "0.01"), ("0.50", "0.01"), ("10", "0")]
)
def test_symbol_spec_rejects_prices_off_the_grid_or_too_few_ticks(price: str, tick: str) -> None:
    with pytest.raises(ConfigError):
        SymbolSpec(Decimal(price), Decimal(tick), 0.01, 1.0, 1, 10, 0.0)


def test_unknown_symbols_get_a_stable_derived_spec() -> None:
    spec = symbol_spec("ZZTOP")

    assert spec == symbol_spec("ZZTOP")
    assert spec.price > 0 and spec.tick == Decimal("0.01")
    assert spec.price % spec.tick == 0


def test_volume_per_s_matches_the_volume_the_sim_trades() -> None:
    # 30 simulated minutes without informed episodes: each symbol's mean volume per second
    # is what volume_per_s expects from the rate, the weights and the size distribution.
    symbols, rate, minutes = ["ESZ6", "AAPL", "EURUSD"], 500.0, 30
    market = SimMarket(symbols, seed=3, trades_per_s=rate, quote_every=0, depth_every=0,
                       informed_probability=0.0)
    end = T0 + minutes * 60 * 10**9
    traded = dict.fromkeys(symbols, 0)
    for event in itertools.takewhile(lambda e: e.ts_event < end, market.events(T0)):
        traded[event.symbol] += event.size

    expected = volume_per_s(symbols, rate)

    for symbol in symbols:
        assert traded[symbol] / (minutes * 60) == pytest.approx(expected[symbol], rel=0.15)
