"""The session around the data: no account subscriptions for a market-data client, contracts
qualified exactly (ambiguity lists the candidates; futures by trading class and multiplier;
stocks by primary exchange), expired futures and a client id in use stop the feed with the
reason, refused subscriptions are reported, trade flags carried, the publish queue bounded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from streams.clock import TestClock
from streams.exceptions import ConfigError
from streams.feeds.ibkr import KafkaPublisher
from streams.feeds.ibkr.instruments import Instrument, future, stock
from tests.factories import trade
from tests.streams.feeds.fake_tws import NO_DEFINITION
from tests.streams.feeds.ibkr_helpers import (
    ALL_DATA,
    T_S,
    ListPublisher,
    fake_tws,
    make_feed,
    running,
    unique,
)

S = 1_000_000_000


async def test_restored_connectivity_sends_no_account_summary_request() -> None:
    async with fake_tws() as tws:
        share = tws.add_stock(unique())
        publisher = ListPublisher()
        async with running(make_feed(tws, [stock(share.symbol)], publisher)) as feed:
            await tws.wait_until(lambda: tws.subscribed(share) == ALL_DATA)
            tws.lose_connectivity()
            await tws.wait_until(lambda: feed.outage is not None)
            tws.restore_connectivity()
            await tws.wait_until(lambda: feed.outage is None)
            seen = len(tws.requests)
            # Heartbeats go out after 0.2 s of silence: one arriving after 1102 shows that
            # anything the client sent in reaction to 1102 has arrived too.
            await tws.wait_until(lambda: any(r[0] == "49" for r in tws.requests[seen:]))

    assert not [r for r in tws.requests if r[0] == "62"], "reqAccountSummary was sent"


async def test_an_ambiguous_stock_stops_the_feed_listing_the_candidates() -> None:
    async with fake_tws() as tws:
        symbol = unique()
        tws.add_stock(symbol, primary_exchange="NASDAQ")
        tws.add_stock(symbol, primary_exchange="NYSE")
        feed = make_feed(tws, [stock(symbol)], ListPublisher())
        with pytest.raises(ConfigError) as raised:
            await asyncio.wait_for(feed.run(asyncio.Event()), 15)

    message = str(raised.value)
    assert f"stock {symbol} is ambiguous at IB" in message
    assert "primary exchange NASDAQ" in message and "primary exchange NYSE" in message
    assert "primary_exchange" in message  # says how to choose
    assert len(tws.sessions) == 1  # a configuration error: no reconnect loop


async def test_a_stock_with_its_primary_exchange_qualifies_among_listings() -> None:
    async with fake_tws() as tws:
        symbol = unique()
        tws.add_stock(symbol, primary_exchange="NASDAQ")
        nyse = tws.add_stock(symbol, primary_exchange="NYSE")
        publisher = ListPublisher()
        async with running(make_feed(tws, [stock(f"{symbol}:SMART:USD:NYSE")], publisher)) as feed:
            await tws.wait_until(lambda: tws.subscribed(nyse) == ALL_DATA)

    assert feed.symbols == [symbol]


def test_stock_and_future_flags_take_primary_exchange_trading_class_and_multiplier() -> None:
    assert stock("SAP:SMART:EUR:IBIS") == Instrument("stock", "SAP", "SMART", "EUR",
                                                     primary_exchange="IBIS")
    assert future("ES:202703:CME:USD:EW1:50") == Instrument(
        "future", "ES", "CME", "USD", expiry="202703", trading_class="EW1", multiplier="50")
    assert future("ES:202703:CME") == Instrument("future", "ES", "CME", "", expiry="202703")


async def test_a_weekly_future_is_chosen_by_trading_class_or_multiplier() -> None:
    async with fake_tws() as tws:
        symbol = unique("F")
        tws.add_future(symbol, "20270319", symbol + "H7", trading_class=symbol, multiplier="50")
        weekly = tws.add_future(symbol, "20270319", "EW1H7" + symbol[-2:], trading_class="EW1",
                                multiplier="5")
        plain = Instrument("future", symbol, "CME", expiry="202703")
        with pytest.raises(ConfigError, match="ambiguous at IB.*trading class EW1"):
            feed = make_feed(tws, [plain], ListPublisher())
            await asyncio.wait_for(feed.run(asyncio.Event()), 15)
        for n, chosen in enumerate((
                Instrument("future", symbol, "CME", expiry="202703", trading_class="EW1"),
                Instrument("future", symbol, "CME", expiry="202703", multiplier="5")), 1):
            async with running(make_feed(tws, [chosen], ListPublisher())) as feed:
                await tws.wait_until(lambda: tws.requested(weekly, "AllLast") == n)  # noqa: B023
            assert feed.symbols == [weekly.local_symbol]


async def test_an_expired_future_stops_the_feed_at_start() -> None:
    async with fake_tws() as tws:  # IB has no definition of an expired contract
        feed = make_feed(tws, [future("ES:202512:CME")], ListPublisher())
        with pytest.raises(ConfigError, match=r"future ES 202512 .*expired"):
            await asyncio.wait_for(feed.run(asyncio.Event()), 15)

    assert len(tws.sessions) == 1


async def test_a_future_that_expires_while_running_stops_the_feed() -> None:
    expires = int(datetime(2027, 3, 19, 13, 30, tzinfo=UTC).timestamp()) * S  # 08:30 CDT
    clock = TestClock(expires - 60 * S)
    async with fake_tws() as tws:
        es = tws.add_future("ES", "20270319", unique("ES"), last_trade_time="08:30")
        publisher = ListPublisher()
        instrument = Instrument("future", "ES", "CME", local_symbol=es.local_symbol)
        feed = make_feed(tws, [instrument], publisher, clock)
        task = asyncio.create_task(feed.run(asyncio.Event()))
        await tws.wait_until(lambda: tws.subscribed(es) == ALL_DATA)
        clock.advance_to(expires)
        with pytest.raises(ConfigError, match=f"future {es.local_symbol} expired at "
                           "2027-03-19T13:30:00"):
            await asyncio.wait_for(task, 15)

    assert feed.status == "stopped" and len(tws.sessions) == 1


async def test_a_client_id_in_use_stops_after_three_tries() -> None:
    async with fake_tws() as tws:
        share = tws.add_stock(unique())
        async with running(make_feed(tws, [stock(share.symbol)], ListPublisher(), client_id=4242)):
            await tws.wait_until(lambda: tws.subscribed(share) == ALL_DATA)
            second = make_feed(tws, [stock(share.symbol)], ListPublisher(), client_id=4242)
            with pytest.raises(ConfigError, match="client id 4242 is in use"):
                await asyncio.wait_for(second.run(asyncio.Event()), 15)

    assert len(tws.sessions) == 1 + 3


async def test_no_security_definition_for_a_subscription_is_reported() -> None:
    async with fake_tws() as tws:
        share = tws.add_stock(unique())
        tws.refuse(share, "depth", 200, NO_DEFINITION)
        publisher = ListPublisher()
        async with running(make_feed(tws, [stock(share.symbol)], publisher)) as feed:
            await tws.wait_until(lambda: feed.refused())
            assert feed.status == "degraded"

    assert feed.refused() == [
        f"IB refused {share.symbol} depth: IB has no security definition for this request "
        f"(IB error 200: {NO_DEFINITION})"]


async def test_unreported_prints_carry_their_flags() -> None:
    async with fake_tws() as tws:
        share = tws.add_stock(unique())
        publisher = ListPublisher()
        async with running(make_feed(tws, [stock(share.symbol)], publisher)):
            await tws.wait_until(lambda: tws.subscribed(share) == ALL_DATA)
            tws.send_last(share, T_S, "10.00", "100", "NYSE")
            tws.send_last(share, T_S, "10.20", "7", "FINRA", "I", unreported=True)
            await tws.wait_until(lambda: len(publisher.trades()) == 2)

    regular, odd_lot = publisher.trades()
    assert (regular.unreported, regular.conditions) == (False, None)
    assert (odd_lot.unreported, odd_lot.conditions, odd_lot.size) == (True, "I", 7)


def test_the_publish_queue_is_bounded_and_counts_what_it_drops() -> None:
    publisher = KafkaPublisher("127.0.0.1:9", max_queued=2)  # not started: nothing drains the queue

    for _ in range(3):
        publisher.market(trade())

    assert publisher.dropped == 1
