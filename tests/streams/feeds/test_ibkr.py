"""The Interactive Brokers feed: pure mapping and parsing with known values, then ib_async
talking to a fake TWS over a real socket (tests/streams/feeds/fake_tws.py), publishing to the
session's real broker. Each test uses its own symbols and client id, so tests sharing the
broker's market.* and logic.* topics read back only their own records."""

from __future__ import annotations

import asyncio
import logging
import random
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from streams import kafka
from streams.exceptions import ConfigError
from streams.feeds.ibkr import IbkrConfig, IbkrFeed, KafkaPublisher, collect, load_instruments
from streams.feeds.ibkr.book import ASK, BID, INSERT, DepthBook
from streams.feeds.ibkr.config import backoff_s
from streams.feeds.ibkr.instruments import Instrument, future, fx, stock, topic_symbol
from streams.feeds.ibkr.mapping import (
    outage_alert_id,
    outage_alerts,
    quote_from_top,
    trade_from_last,
)
from streams.schema import Alert, DepthSnapshot, EngineHealth, EngineMetrics, Event, Quote, Trade
from streams.settings import REPO_ROOT
from tests.streams.feeds.fake_tws import FakeTws
from tests.streams.feeds.ibkr_helpers import (
    ALL_DATA,
    T_NS,
    T_S,
    ListPublisher,
    fake_tws,
    make_feed,
    running,
    unique,
    unique_currency,
)

TS_INIT = T_NS + 123_456_789
E = TypeVar("E", bound=Event)


# ---- mapping: known values ---------------------------------------------------------------


def test_all_last_tick_maps_to_trade_with_venue_time_in_ns() -> None:
    trade = trade_from_last("ESZ5", T_S, 5012.25, 3.0, "CME", TS_INIT)

    assert trade == Trade(ts_event=T_NS, ts_init=TS_INIT, symbol="ESZ5",
                          price=Decimal("5012.25"), size=3, venue="CME")
    assert trade is not None and str(trade.price) == "5012.25"


@pytest.mark.parametrize(("price", "text"), [(1.08505, "1.08505"), (0.1, "0.1"),
                                             (190.12, "190.12"), (17500.0, "17500.0")])
def test_prices_are_the_shortest_decimal_of_ibs_float(price: float, text: str) -> None:
    trade = trade_from_last("X", T_S, price, 1.0, "", TS_INIT)

    assert trade is not None and str(trade.price) == text and trade.venue is None


@pytest.mark.parametrize(("price", "size"), [(-1.0, 0.0), (0.0, 100.0), (101.0, 0.0),
                                             (101.0, 0.5), (float("nan"), 1.0)])
def test_trade_without_price_or_whole_size_is_skipped(price: float, size: float) -> None:
    assert trade_from_last("X", T_S, price, size, "", TS_INIT) is None


def test_bid_ask_tick_maps_to_quote() -> None:
    quote = quote_from_top("AAPL", T_NS, 190.11, 190.12, 300.0, 200.0, "SMART", TS_INIT)

    assert quote == Quote(ts_event=T_NS, ts_init=TS_INIT, symbol="AAPL",
                          bid_price=Decimal("190.11"), bid_size=300,
                          ask_price=Decimal("190.12"), ask_size=200, venue="SMART")


def test_locked_quote_is_kept_crossed_or_empty_ones_are_skipped() -> None:
    assert quote_from_top("X", T_NS, 10.0, 10.0, 1.0, 1.0, "", 0) is not None
    assert quote_from_top("X", T_NS, 10.01, 10.0, 1.0, 1.0, "", 0) is None
    assert quote_from_top("X", T_NS, -1.0, 10.0, 0.0, 1.0, "", 0) is None


def test_smart_depth_rows_are_summed_per_price_sorted_and_cut_to_rows() -> None:
    # Smart depth: 190.10 is quoted on two exchanges; a zero row is an empty level.
    book = DepthBook(smart=True)
    for row, (price, size, exchange) in enumerate([
            (190.10, 100.0, "NSDQ"), (190.09, 50.0, "ARCA"), (190.10, 200.0, "ARCA"),
            (190.08, 0.0, "BATS"), (190.07, 10.0, "NSDQ")]):
        book.apply(row, INSERT, BID, price, size, exchange)
    for row, (price, size) in enumerate([(190.13, 70.0), (190.12, 30.0)]):
        book.apply(row, INSERT, ASK, price, size, "NSDQ")

    snap = book.snapshot("AAPL", 2, "SMART", T_NS, TS_INIT)

    assert snap == DepthSnapshot(
        ts_event=T_NS, ts_init=TS_INIT, symbol="AAPL",
        bid_prices=[Decimal("190.10"), Decimal("190.09")], bid_sizes=[300, 50],
        ask_prices=[Decimal("190.12"), Decimal("190.13")], ask_sizes=[30, 70], venue="SMART",
    )


def test_depth_keeps_at_most_ten_levels_and_skips_crossed_or_empty_books() -> None:
    deep, crossed, empty = DepthBook(), DepthBook(), DepthBook()
    for row in range(15):
        deep.apply(row, INSERT, BID, 100.0 - row / 100, 1.0)
    crossed.apply(0, INSERT, BID, 10.0, 1.0)
    crossed.apply(0, INSERT, ASK, 9.99, 1.0)
    empty.apply(0, INSERT, ASK, 10.0, 0.0)

    snap = deep.snapshot("X", 10, "", 0, 0)

    assert snap is not None and len(snap.bid_prices) == 10  # one side is a book
    assert crossed.snapshot("X", 10, "", 0, 0) is None
    assert empty.snapshot("X", 10, "", 0, 0) is None


def test_outage_alerts_raise_and_clear_under_one_deterministic_id() -> None:
    start, end = T_NS, T_NS + 2_500_000_000

    raised = outage_alerts("ibkr:h:4002:7", ["AAPL", "ESZ5"], start, "connection lost", start)
    cleared = outage_alerts("ibkr:h:4002:7", ["AAPL", "ESZ5"], start, "connection lost", end,
                            end_ns=end)

    assert [a.alert_id for a in raised] == [a.alert_id for a in cleared] == [
        f"feed_outage:ibkr:h:4002:7:{start}:AAPL", f"feed_outage:ibkr:h:4002:7:{start}:ESZ5"]
    assert [(a.state, a.severity, a.ts_event, a.symbol) for a in raised] == [
        ("raised", "critical", start, "AAPL"), ("raised", "critical", start, "ESZ5")]
    assert [(a.state, a.ts_event) for a in cleared] == [("cleared", end), ("cleared", end)]
    assert cleared[0].values == {"symbols_affected": 2.0, "duration_ms": pytest.approx(2500.0)}
    assert "AAPL,ESZ5" in raised[0].message and "after 2.5 s" in cleared[0].message
    assert outage_alert_id("f", 1, "A") == outage_alert_id("f", 1, "A") != outage_alert_id(
        "f", 2, "A")


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    rng = random.Random(3)

    delays = [backoff_s(n, 1.0, 60.0, rng) for n in range(10)]

    caps = [min(60.0, 2.0**n) for n in range(10)]
    assert all(cap / 2 <= d <= cap for d, cap in zip(delays, caps, strict=True))
    assert len(set(delays[6:])) == 4  # capped at 60 s, but clients do not retry in step
    again = random.Random(3)
    assert [backoff_s(n, 1.0, 60.0, again) for n in range(10)] == delays  # seeded: repeatable


# ---- instruments -------------------------------------------------------------------------


def test_instrument_flags() -> None:
    assert stock("aapl") == Instrument("stock", "AAPL", "SMART", "USD")
    assert stock("SAP:IBIS:EUR") == Instrument("stock", "SAP", "IBIS", "EUR")
    assert future("ES:202703:CME") == Instrument("future", "ES", "CME", "", expiry="202703")
    assert fx("eur.usd") == Instrument("fx", "EUR", "IDEALPRO", "USD")


@pytest.mark.parametrize(("make", "text"), [(future, "ES:202703"), (future, "ES:Mar27:CME"),
                                            (fx, "EURUS"), (stock, "A:B:C:D"),
                                            (stock, "SAP:IBIS:EURO")])
def test_bad_instrument_flags_are_config_errors(
    make: Callable[[str], Instrument], text: str
) -> None:
    with pytest.raises(ConfigError):
        make(text)


def test_instruments_file_yaml_and_csv(tmp_path: Path) -> None:
    yaml_file = tmp_path / "instruments.yaml"
    yaml_file.write_text(
        "instruments:\n"
        "  - {type: stock, symbol: AAPL}\n"
        "  - {type: future, symbol: ES, expiry: '202703', exchange: CME, name: ES-MAR}\n"
        "  - {type: fx, symbol: EURUSD}\n"
    )
    csv_file = tmp_path / "instruments.csv"
    csv_file.write_text("type,symbol,exchange,currency,expiry,local_symbol\n"
                        "stock,SAP,IBIS,EUR,,\n"
                        "future,NQ,CME,,,NQZ5\n")

    assert load_instruments(yaml_file) == [
        Instrument("stock", "AAPL", "SMART", "USD"),
        Instrument("future", "ES", "CME", "", expiry="202703", name="ES-MAR"),
        Instrument("fx", "EUR", "IDEALPRO", "USD"),
    ]
    assert load_instruments(csv_file) == [
        Instrument("stock", "SAP", "IBIS", "EUR"),
        Instrument("future", "NQ", "CME", "", local_symbol="NQZ5"),
    ]


def test_instruments_file_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("type,symbol,expiry\nstock,AAPL,\nfuture,ES,\n")
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("- {type: stock, symbol: AAPL, strike: 5}\n")

    with pytest.raises(ConfigError, match="line 3: .*needs an expiry"):
        load_instruments(bad)
    with pytest.raises(ConfigError, match="entry 1: unknown field"):
        load_instruments(unknown)
    with pytest.raises(ConfigError, match="given twice"):
        collect(["AAPL"], stocks=["AAPL:SMART:USD"])


def test_topic_symbols_from_qualified_contracts() -> None:
    assert topic_symbol(stock("BRK B"), "BRK B", "BRK B") == "BRK.B"
    assert topic_symbol(future("ES:202703:CME"), "ES", "ESH7") == "ESH7"
    assert topic_symbol(fx("EURUSD"), "EUR", "EUR.USD") == "EURUSD"
    named = Instrument("future", "ES", "CME", expiry="202703", name="ES-FRONT")
    assert topic_symbol(named, "ES", "ESH7") == "ES-FRONT"
    with pytest.raises(ConfigError, match="give it a name"):
        topic_symbol(stock("X"), "X#1", "X#1")


def test_config_rejects_a_stall_timeout_shorter_than_the_heartbeat() -> None:
    with pytest.raises(ConfigError, match="stall timeout"):
        IbkrConfig(heartbeat_s=5.0, stall_timeout_s=5.0)
    with pytest.raises(ConfigError, match="depth rows"):
        IbkrConfig(depth_rows=11)


# ---- against the fake TWS ------------------------------------------------------------------


async def test_gateway_losing_ib_1100_raises_an_outage_and_1102_clears_it() -> None:
    async with fake_tws() as tws:
        contract = tws.add_stock(unique())
        publisher = ListPublisher()
        async with running(make_feed(tws, [stock(contract.symbol)], publisher)) as feed:
            await tws.wait_until(lambda: tws.subscribed(contract) == ALL_DATA)
            tws.lose_connectivity()
            await tws.wait_until(lambda: feed.outage is not None)
            assert feed.status == "degraded"
            tws.restore_connectivity()
            await tws.wait_until(lambda: feed.outage is None)
            assert feed.status == "running"

    assert [a.state for a in publisher.alerts()] == ["raised", "cleared"]
    assert "(1100)" in publisher.alerts()[0].message
    assert len(tws.sessions) == 1  # data maintained: no reconnect


async def test_a_silent_connection_is_detected_by_heartbeat_and_replaced() -> None:
    async with fake_tws() as tws:
        contract = tws.add_stock(unique())
        publisher = ListPublisher()
        async with running(make_feed(tws, [stock(contract.symbol)], publisher)) as feed:
            await tws.wait_until(lambda: tws.subscribed(contract) == ALL_DATA)
            tws.stall()
            await tws.wait_until(lambda: len(tws.sessions) == 2 and feed.outage is None
                                 and tws.subscribed(contract) == ALL_DATA)
            pings = [r for r in tws.requests if r[0] == "49"]

    assert pings, "a heartbeat (reqCurrentTime) went out before giving up"
    raised, cleared = publisher.alerts()
    assert "stalled: no data and no heartbeat reply" in raised.message
    assert (raised.alert_id, cleared.state) == (cleared.alert_id, "cleared")


# ---- on the real broker ------------------------------------------------------------------


@asynccontextmanager
async def on_broker(brokers: str, tws: FakeTws, instruments: list[Instrument],
                    **config: Any) -> AsyncIterator[IbkrFeed]:
    """A feed publishing to the session's broker; every record delivered when it ends."""
    publisher = KafkaPublisher(brokers).start()
    try:
        async with running(make_feed(tws, instruments, publisher, **config)) as feed:
            yield feed
    finally:
        stats = publisher.close()
    assert stats is not None and stats.delivery_errors == 0 and publisher.control_errors == 0


def read_topic(brokers: str, topic: str, model: type[E], keys: set[str]) -> list[E]:
    """Records of `topic` keyed by one of `keys`, validated, in each partition's order."""
    return [model.model_validate_json(value) for _, _, key, value in
            kafka.read_all(brokers, topic) if key is not None and key.decode() in keys]


def health_of(brokers: str, feed: IbkrFeed) -> list[EngineHealth]:
    records = read_topic(brokers, "logic.engine.health", EngineHealth, {"feed.ibkr"})
    return [h for h in records if h.worker == feed.worker]


def squeeze(items: list[str]) -> list[str]:
    return [x for i, x in enumerate(items) if i == 0 or items[i - 1] != x]


@pytest.mark.slow
async def test_trades_quotes_and_depth_land_on_market_topics_keyed_by_symbol(
    kafka_brokers: str,
) -> None:
    async with fake_tws(max_tick_by_tick=5) as tws:
        share = tws.add_stock(unique())
        es = tws.add_future("ES", "20270319", unique("ES"))
        pair = unique_currency()
        eur = tws.add_fx(pair, "USD")
        instruments = [stock(share.symbol), Instrument("future", "ES", "CME", expiry="202703",
                                                       local_symbol=es.local_symbol),
                       Instrument("fx", pair, "IDEALPRO", "USD")]
        async with on_broker(kafka_brokers, tws, instruments, tick_by_tick_lines=5) as feed:
            await tws.wait_until(lambda: tws.subscribed(share) == tws.subscribed(es) == ALL_DATA
                                 and tws.subscribed(eur) == {"BidAsk", "depth"})
            tws.send_last(share, T_S, "190.12", "100", "NASDAQ")
            tws.send_last(es, T_S + 1, "5012.25", "3", "CME")
            tws.send_bid_ask(share, T_S + 2, "190.11", "190.13", "300", "200")
            tws.send_bid_ask(eur, T_S + 3, "1.08505", "1.0851", "1000000", "2000000")
            tws.send_depth(share, 0, 0, 1, "190.11", "300", "NSDQ")  # smart depth: L2
            tws.send_depth(share, 1, 0, 1, "190.11", "100", "ARCA")
            tws.send_depth(share, 0, 0, 0, "190.13", "200", "NSDQ")
            tws.send_depth(es, 0, 0, 1, "5012.00", "40")  # exchange depth: L1 rows
            tws.send_depth(es, 0, 0, 0, "5012.50", "35")
            await tws.wait_until(lambda: feed.counters.events_out >= 6
                                 and feed.counters.depth >= 2)

    keys = {share.symbol, es.local_symbol, pair + "USD"}
    trades = read_topic(kafka_brokers, "market.trades", Trade, keys)
    quotes = read_topic(kafka_brokers, "market.quotes", Quote, keys)
    books = read_topic(kafka_brokers, "market.depth", DepthSnapshot, keys)
    assert sorted((t.symbol, str(t.price), t.size, t.ts_event, t.venue) for t in trades) == sorted([
        (share.symbol, "190.12", 100, T_NS, "NASDAQ"),
        (es.local_symbol, "5012.25", 3, T_NS + 1_000_000_000, "CME"),
    ])
    assert sorted((q.symbol, str(q.bid_price), q.bid_size, str(q.ask_price), q.ask_size,
                   q.ts_event, q.venue) for q in quotes) == sorted([
        (share.symbol, "190.11", 300, "190.13", 200, T_NS + 2_000_000_000, "SMART"),
        (pair + "USD", "1.08505", 1_000_000, "1.0851", 2_000_000, T_NS + 3_000_000_000,
         "IDEALPRO"),
    ])
    last_book = {b.symbol: b for b in books}
    assert last_book[share.symbol].bid_prices == [Decimal("190.11")]
    assert last_book[share.symbol].bid_sizes == [400]  # two exchanges at one price
    assert last_book[share.symbol].ask_sizes == [200]
    assert (last_book[es.local_symbol].bid_prices, last_book[es.local_symbol].ask_prices) == (
        [Decimal("5012.00")], [Decimal("5012.50")])
    assert all(e.ts_init >= T_NS for e in trades + quotes + books)


@pytest.mark.slow
async def test_abrupt_disconnect_reconnects_resubscribes_and_alerts_the_outage(
    kafka_brokers: str,
) -> None:
    async with fake_tws() as tws:
        contract = tws.add_stock(unique())
        async with on_broker(kafka_brokers, tws, [stock(contract.symbol)]) as feed:
            await tws.wait_until(lambda: tws.subscribed(contract) == ALL_DATA)
            tws.send_last(contract, T_S, "10.00", "1")
            await tws.wait_until(lambda: feed.counters.trades == 1)

            await tws.drop(down_s=0.7)
            await tws.wait_until(lambda: feed.outage is not None)
            await tws.wait_until(lambda: len(tws.live()) == 1 and feed.outage is None
                                 and tws.subscribed(contract) == ALL_DATA)
            tws.send_last(contract, T_S + 60, "10.50", "2")
            await tws.wait_until(lambda: feed.counters.trades == 2)

    trades = read_topic(kafka_brokers, "market.trades", Trade, {contract.symbol})
    alerts = read_topic(kafka_brokers, "logic.risk.alerts", Alert, {contract.symbol})
    assert [(str(t.price), t.ts_event) for t in trades] == [
        ("10.0", T_NS), ("10.5", T_NS + 60_000_000_000)]  # IB's 10.00 reads back as 10.0
    assert len(tws.sessions) == 2  # attempts while it was down were refused
    details = [r for r in tws.requests if r[0] == "9" and r[4] == contract.symbol]
    assert len(details) == 2  # qualified again on the new connection
    assert [(a.state, a.kind) for a in alerts] == [("raised", "feed_outage"),
                                                   ("cleared", "feed_outage")]
    raised, cleared = alerts
    assert raised.alert_id == cleared.alert_id == outage_alert_id(feed.feed_id,
                                                                  raised.ts_event,
                                                                  contract.symbol)
    assert cleared.ts_event > raised.ts_event
    assert "connection to TWS / IB Gateway lost" in raised.message
    statuses = squeeze([h.status for h in health_of(kafka_brokers, feed)])
    assert statuses == ["starting", "running", "degraded", "running", "stopped"]


@pytest.mark.slow
async def test_depth_limit_309_is_reported_by_name_and_does_not_reconnect(
    kafka_brokers: str, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="streams.feeds.ibkr")
    async with fake_tws(max_depth=1, max_tick_by_tick=4) as tws:
        first, second = tws.add_stock(unique()), tws.add_stock(unique())
        instruments = [stock(first.symbol), stock(second.symbol)]
        async with on_broker(kafka_brokers, tws, instruments) as feed:
            await tws.wait_until(lambda: feed.refused())
            await asyncio.sleep(1.5)  # longer than the stall timeout and several backoffs
            tws.send_last(second, T_S, "20.00", "5")
            await tws.wait_until(lambda: feed.counters.trades == 1)
            assert feed.status == "degraded"

    assert len(tws.sessions) == 1  # no reconnect
    assert feed.refused() == [
        f"IB refused {second.symbol} depth: max number of market depth subscriptions reached "
        "(IB allows 3 at a time on many accounts) (IB error 309: Max number (1) of market "
        "depth requests has been reached)"
    ]
    warnings = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(warnings) == 1 and "code=309 limit=market_depth" in warnings[0]
    assert read_topic(kafka_brokers, "market.trades", Trade, {second.symbol})
    health = health_of(kafka_brokers, feed)
    assert "degraded" in [h.status for h in health]
    metrics = read_topic(kafka_brokers, "logic.metrics", EngineMetrics, {"feed.ibkr"})
    assert any(m.worker == feed.worker and m.counters.get("refused_market_depth") == 1
               and m.counters.get("lacking_depth") == 1 for m in metrics)


@pytest.mark.slow
async def test_cli_feed_ibkr_publishes_until_sigint(
    kafka_brokers: str, base_env: dict[str, str],
) -> None:
    async with fake_tws() as tws:
        contract = tws.add_stock(unique())
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "streams", "feed", "ibkr", "--port", str(tws.port),
            "--client-id", "7", "--symbols", contract.symbol, "--depth-rows", "0",
            cwd=REPO_ROOT, env={**base_env, "KAFKA_BROKERS": kafka_brokers},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            await tws.wait_until(lambda: tws.subscribed(contract) == {"AllLast", "BidAsk"}, 30)
            tws.send_last(contract, T_S, "42.10", "7", "ARCA")
            for _ in range(100):
                found = await asyncio.to_thread(read_topic, kafka_brokers, "market.trades",
                                                Trade, {contract.symbol})
                if found:
                    break
                await asyncio.sleep(0.1)
            proc.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    assert proc.returncode == 0, err.decode()
    assert [(str(t.price), t.size, t.venue) for t in found] == [("42.1", 7, "ARCA")]
    assert f"client 7 -> {kafka_brokers}; 1 instrument(s): {contract.symbol}" in err.decode()
    assert "SIGINT, stopping" in err.decode()
    assert "1 session(s), 0 outage(s)" in out.decode()
    assert "published 1 events" in out.decode()
