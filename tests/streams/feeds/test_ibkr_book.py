"""IB's depth rows kept as IB's own sample client keeps them (insert shifts the rows below
down, delete shifts them up, update changes a row in place), summed by price only for smart
depth, cleared on error 317; and each event stamped with its arrival (ts_init), so a quote
that arrives after a book in the same second is known to be newer."""

from __future__ import annotations

from decimal import Decimal

import pytest

from streams.feeds.ibkr.book import ASK, BID, DELETE, INSERT, UPDATE, DepthBook
from streams.feeds.ibkr.instruments import Instrument, stock
from streams.schema import DepthSnapshot
from tests.streams.feeds.fake_tws import FakeContract, FakeTws, wait_until
from tests.streams.feeds.ibkr_helpers import (
    T_NS,
    T_S,
    ListPublisher,
    fake_tws,
    make_feed,
    running,
    unique,
)

RESET = ("Market depth data has been RESET. Please empty deep book contents before applying "
         "any new entries.")


def rows(book: DepthBook, side: int) -> list[tuple[float, float]]:
    return [(r.price, r.size) for r in book.rows(side)]


# ---- the book, pure ------------------------------------------------------------------------


def test_insert_at_row_0_shifts_the_rows_below_down_and_delete_shifts_them_up() -> None:
    book = DepthBook()
    book.apply(0, INSERT, BID, 10.00, 20)
    book.apply(1, INSERT, BID, 9.99, 30)

    book.apply(0, INSERT, BID, 10.01, 5)  # a new best bid
    assert rows(book, BID) == [(10.01, 5), (10.00, 20), (9.99, 30)]

    book.apply(0, DELETE, BID, 10.01, 5)  # ... gone again
    assert rows(book, BID) == [(10.00, 20), (9.99, 30)]


def test_an_update_after_a_delete_changes_the_row_that_moved_up() -> None:
    book = DepthBook()
    for position, price, size in ((0, 10.00, 20), (1, 9.99, 30), (2, 9.98, 40)):
        book.apply(position, INSERT, BID, price, size)

    book.apply(0, DELETE, BID, 10.00, 20)
    book.apply(0, UPDATE, BID, 9.99, 35)

    assert rows(book, BID) == [(9.99, 35), (9.98, 40)]


def test_a_delete_in_the_middle_closes_the_gap_and_sides_are_separate() -> None:
    book = DepthBook()
    for position, price in enumerate((10.05, 10.06, 10.07)):
        book.apply(position, INSERT, ASK, price, 1)
    book.apply(0, INSERT, BID, 10.00, 1)

    book.apply(1, DELETE, ASK, 10.06, 1)

    assert rows(book, ASK) == [(10.05, 1), (10.07, 1)]
    assert rows(book, BID) == [(10.00, 1)]


def test_rows_outside_the_book_are_refused_and_change_nothing() -> None:
    book = DepthBook()
    book.apply(0, INSERT, BID, 10.00, 1)

    assert book.apply(2, INSERT, BID, 9.98, 1) is False  # would leave row 1 empty
    assert book.apply(1, UPDATE, BID, 9.99, 1) is False
    assert book.apply(1, DELETE, BID, 9.99, 1) is False
    assert rows(book, BID) == [(10.00, 1)]


def test_clear_empties_both_sides() -> None:
    book = DepthBook()
    book.apply(0, INSERT, BID, 10.00, 1)
    book.apply(0, INSERT, ASK, 10.01, 1)

    book.clear()

    assert rows(book, BID) == rows(book, ASK) == []


# ---- through the fake TWS ------------------------------------------------------------------


async def until_book(publisher: ListPublisher, bids: list[tuple[str, int]]) -> DepthSnapshot:
    """The newest published book once its bids are `bids`; AssertionError naming the last."""
    want = [(Decimal(p), s) for p, s in bids]

    def bids_of(book: DepthSnapshot) -> list[tuple[Decimal, int]]:
        return list(zip(book.bid_prices, book.bid_sizes, strict=True))

    try:
        await wait_until(lambda: publisher.books() and bids_of(publisher.books()[-1]) == want, 5)
    except TimeoutError:
        last = bids_of(publisher.books()[-1]) if publisher.books() else None
        raise AssertionError(f"expected bids {want}, last book's bids were {last}") from None
    return publisher.books()[-1]


def send_rows(tws: FakeTws, contract: FakeContract,
              changes: list[tuple[int, int, int, str, str, str]]) -> None:
    with tws.one_packet():
        for position, operation, side, price, size, maker in changes:
            tws.send_depth(contract, position, operation, side, price, size, maker)


async def test_exchange_depth_follows_ibs_row_operations() -> None:
    async with fake_tws() as tws:
        es = tws.add_future("ES", "20270319", unique("ES"))
        publisher = ListPublisher()
        future = Instrument("future", "ES", "CME", expiry="202703", local_symbol=es.local_symbol)
        async with running(make_feed(tws, [future], publisher, depth_rows=5)):
            await tws.wait_until(lambda: "depth" in tws.subscribed(es))
            send_rows(tws, es, [(0, INSERT, BID, "10.00", "20", ""),
                                (1, INSERT, BID, "9.99", "30", ""),
                                (0, INSERT, ASK, "10.02", "10", "")])
            await until_book(publisher, [("10.00", 20), ("9.99", 30)])
            send_rows(tws, es, [(0, INSERT, BID, "10.01", "5", "")])  # new best bid at row 0
            await until_book(publisher, [("10.01", 5), ("10.00", 20), ("9.99", 30)])
            send_rows(tws, es, [(0, DELETE, BID, "10.01", "5", "")])  # ... deleted again
            await until_book(publisher, [("10.00", 20), ("9.99", 30)])
            send_rows(tws, es, [(0, DELETE, BID, "10.00", "20", ""),  # delete, then update
                                (0, UPDATE, BID, "9.99", "35", "")])
            book = await until_book(publisher, [("9.99", 35)])

    assert (book.ask_prices, book.ask_sizes, book.venue) == ([Decimal("10.02")], [10], "CME")


async def test_smart_depth_sums_one_price_over_exchanges_and_keeps_row_semantics() -> None:
    async with fake_tws() as tws:
        share = tws.add_stock(unique())
        publisher = ListPublisher()
        async with running(make_feed(tws, [stock(share.symbol)], publisher)):
            await tws.wait_until(lambda: "depth" in tws.subscribed(share))
            send_rows(tws, share, [(0, INSERT, BID, "190.11", "300", "NSDQ"),
                                   (1, INSERT, BID, "190.11", "100", "ARCA"),
                                   (2, INSERT, BID, "190.10", "50", "NSDQ")])
            await until_book(publisher, [("190.11", 400), ("190.10", 50)])
            send_rows(tws, share, [(0, INSERT, BID, "190.12", "70", "ARCA"),
                                   (2, DELETE, BID, "190.11", "100", "ARCA")])
            await until_book(publisher, [("190.12", 70), ("190.11", 300), ("190.10", 50)])


async def test_reset_317_empties_the_book_before_the_new_rows() -> None:
    async with fake_tws() as tws:
        share = tws.add_stock(unique())
        publisher = ListPublisher()
        async with running(make_feed(tws, [stock(share.symbol)], publisher)) as feed:
            await tws.wait_until(lambda: "depth" in tws.subscribed(share))
            send_rows(tws, share, [(0, INSERT, BID, "20.00", "1", "NSDQ"),
                                   (1, INSERT, BID, "19.99", "2", "NSDQ")])
            await until_book(publisher, [("20.00", 1), ("19.99", 2)])
            with tws.one_packet():
                tws.send_error(share, "depth", 317, RESET)
                tws.send_depth(share, 0, INSERT, BID, "19.50", "9", "ARCA")
            await until_book(publisher, [("19.50", 9)])

    assert feed.counters.errors == 0  # a reset is IB's instruction, not an error


# ---- two clocks: venue time in ts_event, arrival in ts_init ------------------------------------


async def test_a_quote_arriving_after_a_book_in_the_same_second_is_stamped_later() -> None:
    async with fake_tws() as tws:
        share = tws.add_stock(unique())
        publisher = ListPublisher()
        async with running(make_feed(tws, [stock(share.symbol)], publisher)):
            await tws.wait_until(lambda: {"BidAsk", "depth"} <= tws.subscribed(share))
            with tws.one_packet():  # as TWS sends them: the book changes, then the quote
                tws.send_depth(share, 0, INSERT, BID, "30.00", "10", "NSDQ")
                tws.send_depth(share, 0, INSERT, ASK, "30.02", "10", "NSDQ")
                tws.send_bid_ask(share, T_S, "30.01", "30.02", "5", "10")
            await tws.wait_until(lambda: publisher.books() and publisher.quotes())

    (book,), (quote,) = publisher.books(), publisher.quotes()
    assert quote.ts_event == T_NS  # IB's venue second
    assert book.ts_event == book.ts_init  # depth has no venue time: its arrival
    assert quote.ts_init > book.ts_init, "the quote arrived after the book"


@pytest.mark.parametrize("smart", [True, False])
def test_depth_snapshot_sums_only_smart_depth(smart: bool) -> None:
    book = DepthBook(smart=smart)
    book.apply(0, INSERT, BID, 10.00, 1)
    book.apply(1, INSERT, BID, 10.00, 2)  # one price twice: two exchanges, or a broken feed
    book.apply(0, INSERT, ASK, 10.01, 3)

    snap = book.snapshot("X", 10, "SMART", T_NS, T_NS)

    if smart:
        assert snap is not None and (snap.bid_prices, snap.bid_sizes) == ([Decimal("10.0")], [3])
    else:
        assert snap is None  # exchange rows are price levels: a repeated price is no book
