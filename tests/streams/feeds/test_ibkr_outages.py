"""Silent outages: IB's notices that data farms or TWS's server connection broke, a competing
live session, and subscriptions without data for too long in market hours raise the
feed-outage alert for the symbols affected and make the feed `degraded`; the matching "OK"
notice or fresh data clears them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from streams.clock import TestClock
from streams.feeds.ibkr.hours import LiquidHours
from streams.feeds.ibkr.instruments import stock
from tests.streams.feeds.ibkr_helpers import (
    T_S,
    ListPublisher,
    fake_tws,
    make_feed,
    running,
    unique,
)

S = 1_000_000_000
NEW_YORK = ZoneInfo("America/New_York")


def ns(text: str) -> int:
    """A New York wall-clock time as ns since the epoch."""
    return int(datetime.fromisoformat(text).replace(tzinfo=NEW_YORK).timestamp()) * S


@pytest.mark.parametrize(("broken", "fixed"), [
    ((2103, "Market data farm connection is broken:usfarm"),
     (2104, "Market data farm connection is OK:usfarm")),
    ((2157, "Sec-def data farm connection is broken:secdefil"),
     (2158, "Sec-def data farm connection is OK:secdefil")),
    ((2110, "Connectivity between Trader Workstation and server is broken. It will be "
            "restored automatically."),
     (2106, "HMDS data farm connection is OK:ushmds")),
])
async def test_a_broken_connection_notice_raises_an_outage_until_its_ok_notice(
    broken: tuple[int, str], fixed: tuple[int, str],
) -> None:
    async with fake_tws(max_tick_by_tick=4) as tws:
        first, second = tws.add_stock(unique()), tws.add_stock(unique())
        publisher = ListPublisher()
        instruments = [stock(first.symbol), stock(second.symbol)]
        async with running(make_feed(tws, instruments, publisher, depth_rows=0,
                                           tick_by_tick_lines=4)) as feed:
            await tws.wait_until(lambda: tws.subscribed(second) == {"AllLast", "BidAsk"})
            tws.send_system(*broken)
            await tws.wait_until(lambda: feed.status == "degraded")
            tws.send_system(*fixed)
            await tws.wait_until(lambda: feed.status == "running")

    raised = [a for a in publisher.alerts() if a.state == "raised"]
    cleared = [a for a in publisher.alerts() if a.state == "cleared"]
    assert sorted(a.symbol for a in raised) == sorted([first.symbol, second.symbol])
    assert {a.alert_id for a in raised} == {a.alert_id for a in cleared}
    assert all(a.kind == "feed_outage" and f"({broken[0]})" in a.message for a in raised)
    assert len(tws.sessions) == 1  # TWS recovers by itself: no reconnect


async def test_fresh_data_clears_a_farm_outage_for_its_symbol_only() -> None:
    async with fake_tws(max_tick_by_tick=4) as tws:
        first, second = tws.add_stock(unique()), tws.add_stock(unique())
        publisher = ListPublisher()
        instruments = [stock(first.symbol), stock(second.symbol)]
        async with running(make_feed(tws, instruments, publisher, depth_rows=0,
                                           tick_by_tick_lines=4)) as feed:
            await tws.wait_until(lambda: tws.subscribed(second) == {"AllLast", "BidAsk"})
            tws.send_system(2103, "Market data farm connection is broken:usfarm")
            await tws.wait_until(lambda: len(publisher.alerts()) == 2)
            tws.send_last(first, T_S, "10.00", "1")
            await tws.wait_until(lambda: len(publisher.alerts()) == 3)
            assert feed.status == "degraded"  # the second symbol has had no data yet
            tws.send_bid_ask(second, T_S, "9.99", "10.01", "1", "1")
            await tws.wait_until(lambda: feed.status == "running")

    assert [(a.symbol, a.state) for a in publisher.alerts()] == [
        (first.symbol, "raised"), (second.symbol, "raised"),
        (first.symbol, "cleared"), (second.symbol, "cleared")]


async def test_a_competing_live_session_degrades_the_feed_until_data_flows() -> None:
    async with fake_tws() as tws:
        share = tws.add_stock(unique())
        publisher = ListPublisher()
        async with running(make_feed(tws, [stock(share.symbol)], publisher, depth_rows=0)) as feed:
            await tws.wait_until(lambda: tws.subscribed(share) == {"AllLast", "BidAsk"})
            tws.send_error(share, "AllLast", 10197, "No market data during competing live "
                           "session")
            await tws.wait_until(lambda: feed.status == "degraded")
            tws.send_last(share, T_S, "10.00", "1")
            await tws.wait_until(lambda: feed.status == "running")

    raised, cleared = publisher.alerts()
    assert "competing live session" in raised.message and "(10197)" in raised.message
    assert (cleared.alert_id, cleared.state) == (raised.alert_id, "cleared")


async def test_subscriptions_without_data_in_market_hours_raise_an_outage() -> None:
    monday = "20261207:0930-20261207:1600;20261208:0930-20261208:1600"
    clock = TestClock(ns("2026-12-07T10:00:00"))
    async with fake_tws() as tws:
        share = tws.add_stock(unique(), liquid_hours=monday)
        publisher = ListPublisher()
        feed = make_feed(tws, [stock(share.symbol)], publisher, clock, depth_rows=0,
                         stale_after_s=60.0)
        async with running(feed):
            await tws.wait_until(lambda: tws.subscribed(share) == {"AllLast", "BidAsk"})
            clock.advance_to(ns("2026-12-07T10:00:59"))
            await tws.wait_until(lambda: feed.checked_ns == clock.timestamp_ns())
            assert feed.status == "running"  # not yet 60 s

            clock.advance_to(ns("2026-12-07T10:01:00"))
            await tws.wait_until(lambda: len(publisher.alerts()) == 2)
            assert feed.status == "degraded"
            tws.send_bid_ask(share, T_S, "9.99", "10.01", "1", "1")
            await tws.wait_until(lambda: len(publisher.alerts()) == 3)
            tws.send_last(share, T_S, "10.00", "1")
            await tws.wait_until(lambda: feed.status == "running")

            clock.advance_to(ns("2026-12-07T20:00:00"))  # closed: silence is normal
            await tws.wait_until(lambda: feed.checked_ns == clock.timestamp_ns())
            clock.advance_to(ns("2026-12-08T09:30:59"))  # opened 59 s ago
            await tws.wait_until(lambda: feed.checked_ns == clock.timestamp_ns())
            assert feed.status == "running" and len(publisher.alerts()) == 4

    messages = [(a.state, a.message) for a in publisher.alerts()]
    assert [state for state, _ in messages] == ["raised", "raised", "cleared", "cleared"]
    assert "no trades for 60 s in market hours" in messages[0][1]
    assert "no quotes for 60 s in market hours" in messages[1][1]


def test_liquid_hours_in_both_of_ibs_formats() -> None:
    new = LiquidHours.parse("20261207:0930-20261207:1600;20261208:CLOSED", "US/Eastern")
    old = LiquidHours.parse("20261207:0930-1600,1700-1800;20261208:CLOSED", "US/Eastern")
    overnight = LiquidHours.parse("20261206:1700-20261207:1600", "US/Central")

    assert new is not None and old is not None and overnight is not None
    assert new.open_since(ns("2026-12-07T12:00:00")) == ns("2026-12-07T09:30:00")
    assert new.open_since(ns("2026-12-07T16:00:00")) is None
    assert new.open_since(ns("2026-12-08T12:00:00")) is None
    assert old.open_since(ns("2026-12-07T17:30:00")) == ns("2026-12-07T17:00:00")
    assert overnight.open_since(ns("2026-12-07T01:00:00")) == ns("2026-12-06T18:00:00")
    assert LiquidHours.parse("", "US/Eastern") is None
    assert LiquidHours.parse("20261207:0930-20261207:1600", "Mars/Olympus") is None
