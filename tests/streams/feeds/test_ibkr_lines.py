"""Subscription lines: trades take tick-by-tick lines first, quotes what is left and then
reqMktData, depth its own lines; what a symbol lacks is reported; a refused subscription is
asked for again on a timer, and no tick-by-tick request for an instrument and tick type is
repeated within IB's 15 s."""

from __future__ import annotations

from decimal import Decimal

from streams.clock import TestClock
from streams.feeds.ibkr.instruments import stock
from streams.feeds.ibkr.lines import plan_lines
from tests.streams.feeds.ibkr_helpers import (
    ALL_DATA,
    T_NS,
    T_S,
    ListPublisher,
    fake_tws,
    make_feed,
    running,
    unique,
)

S = 1_000_000_000


def wants(plan: object) -> list[tuple[str, str, str]]:
    return [(w.symbol, w.kind, w.source) for w in plan.wants]  # type: ignore[attr-defined]


# ---- the plan, pure ------------------------------------------------------------------------


def test_trades_take_tick_by_tick_lines_first_and_quotes_fall_back_to_market_data() -> None:
    plan = plan_lines([("A", True), ("B", True), ("EURUSD", False)], tick_by_tick=3, depth=2,
                      quotes="auto", depth_rows=10)

    assert wants(plan) == [
        ("A", "trades", "tick-by-tick"), ("B", "trades", "tick-by-tick"),
        ("A", "quotes", "tick-by-tick"), ("B", "quotes", "market-data"),
        ("EURUSD", "quotes", "market-data"),
        ("A", "depth", "depth"), ("B", "depth", "depth"),
    ]
    assert plan.lacking == {"EURUSD": {"depth": "no depth line left (2 in use)"}}


def test_without_the_fallback_symbols_past_the_lines_lack_quotes() -> None:
    plan = plan_lines([("A", True), ("B", True), ("C", True), ("D", True)], tick_by_tick=3,
                      depth=3, quotes="tick-by-tick", depth_rows=10)

    assert [w for w in wants(plan) if w[1] != "depth"] == [
        ("A", "trades", "tick-by-tick"), ("B", "trades", "tick-by-tick"),
        ("C", "trades", "tick-by-tick")]
    assert plan.lacking["D"] == {"trades": "no tick-by-tick line left (3 in use)",
                                 "quotes": "no tick-by-tick line left (3 in use)",
                                 "depth": "no depth line left (3 in use)"}
    assert plan.lacking["A"] == {"quotes": "no tick-by-tick line left (3 in use)"}


def test_market_data_quotes_leave_every_tick_by_tick_line_to_trades() -> None:
    plan = plan_lines([("A", True), ("B", True)], tick_by_tick=3, depth=0,
                      quotes="market-data", depth_rows=10)

    assert wants(plan) == [("A", "trades", "tick-by-tick"), ("B", "trades", "tick-by-tick"),
                           ("A", "quotes", "market-data"), ("B", "quotes", "market-data")]
    assert plan.lacking == {"A": {"depth": "no depth line left (0 in use)"},
                            "B": {"depth": "no depth line left (0 in use)"}}


# ---- through the fake TWS ------------------------------------------------------------------


async def test_a_second_stock_takes_its_quotes_from_market_data_when_lines_run_out() -> None:
    async with fake_tws() as tws:  # 3 tick-by-tick lines, 3 depth lines, as IB's default
        first, second = tws.add_stock(unique()), tws.add_stock(unique())
        publisher = ListPublisher()
        instruments = [stock(first.symbol), stock(second.symbol)]
        async with running(make_feed(tws, instruments, publisher)) as feed:
            await tws.wait_until(lambda: tws.subscribed(first) == ALL_DATA
                                 and tws.subscribed(second) == {"AllLast", "mktdata", "depth"})
            with tws.one_packet():
                tws.send_tick_price(second, 1, "20.01", "300")  # bid, with its size
                tws.send_tick_price(second, 2, "20.03", "200")  # ask
            await tws.wait_until(lambda: len(publisher.quotes()) == 1)
            tws.send_tick_size(second, 0, "500")  # the bid's size changed
            await tws.wait_until(lambda: len(publisher.quotes()) == 2)
            tws.send_tick_price(second, 1, "-1", "0")  # no bid: no quote
            tws.send_tick_price(second, 1, "20.02", "100")
            await tws.wait_until(lambda: len(publisher.quotes()) == 3)
            assert (feed.status, feed.refused(), feed.lacking()) == ("running", [], {})

    assert [(str(q.bid_price), q.bid_size, str(q.ask_price), q.ask_size, q.venue)
            for q in publisher.quotes()] == [("20.01", 300, "20.03", 200, "SMART"),
                                        ("20.01", 500, "20.03", 200, "SMART"),
                                        ("20.02", 100, "20.03", 200, "SMART")]
    assert all(q.ts_event == q.ts_init for q in publisher.quotes())  # no venue time: arrival


async def test_refused_tick_by_tick_quotes_fall_back_to_market_data() -> None:
    async with fake_tws(max_tick_by_tick=1) as tws:  # other clients hold the account's lines
        share = tws.add_stock(unique())
        publisher = ListPublisher()
        async with running(make_feed(tws, [stock(share.symbol)], publisher)) as feed:
            await tws.wait_until(lambda: tws.subscribed(share) == {"AllLast", "mktdata", "depth"})
            assert feed.status == "running" and feed.lacking() == {}

    assert feed.counters.refused == {"tick_by_tick": 1}


async def test_a_refused_subscription_is_asked_for_again_on_a_timer() -> None:
    clock = TestClock(T_NS)
    async with fake_tws(max_depth=1) as tws:
        first, second = tws.add_stock(unique()), tws.add_stock(unique())
        publisher = ListPublisher()
        instruments = [stock(first.symbol), stock(second.symbol)]
        async with running(make_feed(tws, instruments, publisher, clock, retry_s=60.0)) as feed:
            await tws.wait_until(lambda: feed.refused())
            assert feed.status == "degraded"
            assert "depth" in feed.lacking()[second.symbol]
            tws.max_depth = 2  # another application gave a depth line back

            clock.advance_to(T_NS + 60 * S)
            await tws.wait_until(lambda: "depth" in tws.subscribed(second))
            tws.send_depth(second, 0, 0, 1, "20.00", "5", "NSDQ")
            await tws.wait_until(lambda: feed.status == "running")
            assert feed.refused() == [] and feed.lacking() == {}

    assert tws.requested(second, "depth") == 2
    assert len(tws.sessions) == 1  # retried on the same connection
    assert [str(b.bid_prices[0]) for b in publisher.books()] == ["20.0"]


async def test_tick_by_tick_is_not_requested_again_within_15_s() -> None:
    clock = TestClock(T_NS)
    async with fake_tws() as tws:
        share = tws.add_stock(unique())
        publisher = ListPublisher()
        feed = make_feed(tws, [stock(share.symbol)], publisher, clock, tick_by_tick_gap_s=15.0)
        async with running(feed):
            await tws.wait_until(lambda: tws.subscribed(share) == ALL_DATA)
            await tws.drop(down_s=0.1)
            # Reconnected within a second: depth again at once, tick-by-tick not yet.
            await tws.wait_until(lambda: len(tws.live()) == 1
                                 and tws.subscribed(share) == {"depth"})
            assert feed.outage is not None  # not all subscribed again
            assert set(feed.lacking()[share.symbol]) == {"trades", "quotes"}
            assert "15 s" in feed.lacking()[share.symbol]["trades"]

            clock.advance_to(T_NS + 15 * S)
            await tws.wait_until(lambda: tws.subscribed(share) == ALL_DATA)
            await tws.wait_until(lambda: feed.outage is None)
            tws.send_last(share, T_S + 20, "10.00", "1")
            await tws.wait_until(lambda: publisher.trades())

    assert (tws.requested(share, "AllLast"), tws.requested(share, "BidAsk")) == (2, 2)
    assert publisher.trades()[0].price == Decimal("10.0")
