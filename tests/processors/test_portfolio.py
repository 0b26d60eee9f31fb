"""The portfolio engine against the issue's accounting definitions (processors/portfolio.py).

Known answers are worked by hand from the definitions: netting, average cost excluding fees,
realized (fill - average) * closed quantity on a reduce (reversed for a short, the
NautilusTrader convention), fees charged to realized P&L and cash at the fill, marks from the
newest bar close or fill. Batches are built with the real codec (`decode_columns`).
"""

from __future__ import annotations

import random
from decimal import Decimal

import torch

from processors.base import Emit
from processors.portfolio import PortfolioEngine, PortfolioParams
from streams.clock import TestClock
from streams.codec import decode_columns, encode
from streams.replay import Source, run_replay
from streams.schema import Bar, Execution
from streams.settings import EngineParams
from tests.factories import T0, columns

START = Decimal(1_000_000)
MIN = 60_000_000_000
EXECUTIONS, BARS = "market.executions", "market.bars.1m"


def fill(n: int, side: str, quantity: int, price: str, fee: str = "0", *, account: str = "ACC",
         symbol: str = "AAPL", ts: int | None = None) -> Execution:
    ts = T0 + n * MIN if ts is None else ts
    return Execution(ts_event=ts, ts_init=ts, exec_id=f"x{n}-{account}-{symbol}",
                     order_id=f"o{n}", account=account, symbol=symbol, side=side,
                     price=Decimal(price), quantity=quantity, commission=Decimal(fee))


def bar(ts: int, close: str, symbol: str = "AAPL") -> Bar:
    price = Decimal(close)
    return Bar(ts_event=ts, ts_init=ts, bar_id=f"{symbol}@1m@{ts - MIN}", symbol=symbol,
               start_ns=ts - MIN, open=price, high=price, low=price, close=price, volume=1,
               trade_count=1, vwap=price)


def engine(**params: object) -> PortfolioEngine:
    return PortfolioEngine(PortfolioParams(**params), TestClock(0), torch.device("cpu"))


def feed(portfolio: PortfolioEngine, *events: Execution | Bar) -> list[Emit]:
    out: list[Emit] = []
    for ev in events:
        topic = EXECUTIONS if isinstance(ev, Execution) else BARS
        out += portfolio.process(topic, columns(type(ev).__name__, [ev]))
    return out


def values(emits: list[Emit], topic: str, *fields: str) -> list[tuple]:
    """The fields of `topic`'s outputs; decimals compare by value (`"1.0" == "1"`), the
    scale of a price read from a float64 column being its shortest form."""
    return [tuple(getattr(e.value, f) for f in fields) for e in emits if e.topic == topic]


def D(*rows: tuple) -> list[tuple]:  # noqa: N802 (reads like Decimal)
    """Rows with every text turned into a Decimal."""
    return [tuple(Decimal(v) if isinstance(v, str) else v for v in row) for row in rows]


def test_open_add_mark_reduce_flip_close_with_fees_by_hand() -> None:
    portfolio = engine()

    emits = feed(
        portfolio,
        fill(1, "buy", 100, "10.00", "1.00"),    # open: avg 10, cash 1e6 - 1000 - 1
        fill(2, "buy", 50, "13.00", "0.50"),     # add: cost 1650, avg 11, mark 13
        bar(T0 + 3 * MIN, "12"),                 # mark 12: unrealized 150 * 12 - 1650 = 150
        fill(4, "sell", 60, "12.50", "0.75"),    # reduce: +(12.5 - 11) * 60 = 90
        fill(5, "sell", 150, "11.00", "1.50"),   # flip: close 90 at 11 (0), open -60 at 11
        bar(T0 + 6 * MIN, "10"),                 # short gains (11 - 10) * 60
        fill(7, "buy", 60, "9.50", "0.25"),      # close: +(11 - 9.5) * 60 = 90
    )

    assert values(emits, "logic.positions", "quantity", "avg_price", "realized_pnl", "mark",
                  "unrealized_pnl") == D(
        (100, "10", "-1.00", "10.00", "0.00"),
        (150, "11", "-1.50", "13.00", "300.00"),
        (150, "11", "-1.50", "12", "150.00"),
        (90, "11", "87.75", "12.50", "135.000"),
        (-60, "11", "86.25", "11.00", "0.00"),
        (-60, "11", "86.25", "10", "60.00"),
        (0, "0", "176.00", "9.50", "0.00"),
    )
    snapshots = values(emits, "logic.portfolio", "cash", "equity", "realized_pnl",
                       "unrealized_pnl", "gross_exposure", "net_exposure")
    assert snapshots == D(
        ("998999", "999999", "-1", "0", "1000", "1000"),
        ("998348.5", "1000298.5", "-1.5", "300", "1950", "1950"),
        ("998348.5", "1000148.5", "-1.5", "150", "1800", "1800"),
        ("999097.75", "1000222.75", "87.75", "135", "1125", "1125"),
        ("1000746.25", "1000086.25", "86.25", "0", "660", "-660"),
        ("1000746.25", "1000146.25", "86.25", "60", "600", "-600"),
        ("1000176", "1000176", "176", "0", "0", "0"),
    )
    # snapshots keyed by account; positions by account/symbol, partitioned by account
    assert {(e.topic, e.key, e.partition_key) for e in emits} == {
        ("logic.portfolio", "ACC", None), ("logic.positions", "ACC/AAPL", "ACC")}
    assert {e.value.currency for e in emits if e.topic == "logic.portfolio"} == {"USD"}


def test_an_average_that_does_not_terminate_realizes_exactly_the_total_on_the_close() -> None:
    portfolio = engine()

    emits = feed(portfolio, fill(1, "buy", 1, "10"), fill(2, "buy", 2, "11"),
                 fill(3, "sell", 1, "12"), fill(4, "sell", 2, "12"))

    # avg 32/3 shown half-even to 9 decimals; the partial reduce gives up 10.666666667 of
    # the cost basis (leaving 21.333333333, avg 10.6666666665 -> 10.666666666 half-even);
    # the close gives up the rest, so the two realize 36 - 32 = 4 exactly
    assert values(emits, "logic.positions", "avg_price", "realized_pnl") == D(
        ("10", "0"), ("10.666666667", "0"), ("10.666666666", "1.333333333"), ("0", "4"))


def test_marks_come_from_the_newest_close_or_fill_and_a_bar_wins_a_tie() -> None:
    portfolio = engine()
    at = T0 + 5 * MIN

    emits = feed(
        portfolio,
        bar(at, "101"),                                  # nobody holds AAPL yet: no output
        fill(1, "buy", 10, "100", ts=at),                # same ts as the bar: the close marks
        bar(at, "101"),                                  # re-delivered: nothing
        bar(at - MIN, "99"),                             # older than the mark: nothing
        bar(at + MIN, "102", symbol="MSFT"),             # not held: nothing
        bar(at + MIN, "103"),
    )

    assert values(emits, "logic.positions", "ts_event", "mark", "unrealized_pnl") == D(
        (at, "101", "10"), (at + MIN, "103", "30"))


def test_a_flat_position_publishes_nothing_on_a_bar() -> None:
    portfolio = engine()

    emits = feed(portfolio, fill(1, "buy", 5, "10"), fill(2, "sell", 5, "11"),
                 bar(T0 + 3 * MIN, "12"))

    assert len(values(emits, "logic.portfolio", "equity")) == 2


def test_starting_cash_and_currency_are_parameters() -> None:
    portfolio = engine(cash="25000.50", currency="EUR")

    (_, snapshot) = feed(portfolio, fill(1, "buy", 1, "0.5"))

    assert (snapshot.value.cash, snapshot.value.currency) == (Decimal("25000.00"), "EUR")


def _random_stream(seed: int, n: int) -> list[Execution | Bar]:
    rng = random.Random(seed)
    events: list[Execution | Bar] = []
    for i in range(n):
        ts = T0 + i * 1_000_000_000
        symbol = rng.choice(["AAPL", "MSFT", "ESZ6"])
        price = f"{rng.randint(1, 50_000) / 10 ** rng.randint(0, 4)}"
        if rng.random() < 0.3:
            events.append(bar(ts, price, symbol))
        else:
            events.append(fill(i, rng.choice(["buy", "sell"]), rng.randint(1, 700), price,
                               f"{rng.randint(0, 999) / 1000}", account=rng.choice(["A", "B"]),
                               symbol=symbol, ts=ts))
    return events


def test_equity_less_starting_cash_is_realized_plus_unrealized_exactly_after_every_event() -> None:
    portfolio = engine()
    events = _random_stream(seed=7, n=3_000)
    fills = [e for e in events if isinstance(e, Execution)]

    emits = feed(portfolio, *events)

    snapshots = [e.value for e in emits if e.topic == "logic.portfolio"]
    assert len(snapshots) > len(fills)  # fills and the bars of held symbols
    for s in snapshots:
        assert s.equity - START == s.realized_pnl + s.unrealized_pnl
        assert s.equity == s.cash + s.net_exposure
    # cash and quantities from the fills alone, independently of the engine's bookkeeping
    for account in ("A", "B"):
        mine = [f for f in fills if f.account == account]
        cash = START - sum((f.price * f.quantity * (1 if f.side == "buy" else -1)
                            + f.commission for f in mine), Decimal(0))
        last = [s for s in snapshots if s.account == account][-1]
        assert last.cash == cash
        for symbol in ("AAPL", "MSFT", "ESZ6"):
            held = sum(f.quantity * (1 if f.side == "buy" else -1) for f in mine
                       if f.symbol == symbol)
            positions = [e.value for e in emits if e.topic == "logic.positions"
                         and e.value.account == account and e.value.symbol == symbol]
            assert positions[-1].quantity == held


def test_the_replay_graph_gives_what_the_engine_gives_in_event_time_order() -> None:
    events = _random_stream(seed=3, n=400)
    direct = feed(engine(), *events)
    sources = [Source(topic, columns(model, [e for e in events if type(e).__name__ == model]))
               for topic, model in ((BARS, "Bar"), (EXECUTIONS, "Execution"))]

    result = run_replay(sources, [PortfolioEngine], EngineParams(), batch_rows=17)

    for topic in ("logic.positions", "logic.portfolio"):
        expected = sorted((e.value.ts_event, e.key, encode(e.value.model_copy(
            update={"ts_init": e.value.ts_event}))) for e in direct if e.topic == topic)
        got = sorted((e.value.ts_event, e.key, encode(e.value)) for e in result.outputs[topic])
        assert got == expected


def test_decoded_prices_are_the_exact_decimals_that_were_sent() -> None:
    sent = fill(1, "buy", 3, "12345.678912345", "0.000000123")
    batch, rejected = decode_columns("Execution", [encode(sent)])
    assert not rejected

    (position, snapshot) = engine().process(EXECUTIONS, batch)

    assert position.value.avg_price == Decimal("12345.678912345")
    assert snapshot.value.cash == START - 3 * Decimal("12345.678912345") - Decimal("1.23E-7")


def test_records_are_dated_at_the_newest_event_applied_so_the_newest_is_the_latest() -> None:
    # live, an account's fills of two symbols come from two partitions: a later one first
    portfolio = engine()

    emits = feed(portfolio, fill(10, "buy", 1, "10", symbol="AAPL"),
                 fill(5, "buy", 1, "20", symbol="MSFT"))

    assert values(emits, "logic.portfolio", "ts_event", "cash") == D(
        (T0 + 10 * MIN, "999990"), (T0 + 10 * MIN, "999970"))
    assert values(emits, "logic.positions", "symbol", "ts_event") == [
        ("AAPL", T0 + 10 * MIN), ("MSFT", T0 + 5 * MIN)]
