"""The trading loop of the worker tests: a market of random-walk 1-minute bars, its backtest,
a tail on the loop's output topics, and a feed paced by the loop's own progress (see
test_trading_loop_worker.py for why it is paced)."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq
from confluent_kafka import KafkaError, TopicPartition

from streams import codec, kafka
from streams.cli.main import main
from streams.schema import Bar, Event, Execution, Order, OrderEvent, PortfolioSnapshot, Position
from tests.factories import MINUTE_NS, T0
from tests.streams.runtime.workers import log_ends, produce, wait_for

BARS, SYMBOLS = 80, 3
FAST, SLOW, QUANTITY = 3, 8, 10
SLIPPAGE_BPS, FEE_BPS, CASH = 5, 2, 1_000_000
ENGINES = "sma_cross,pretrade,execution,portfolio"
ORDERS, EVENTS, FILLS = "logic.orders", "logic.order.events", "market.executions"
APPROVED, CANCELS = "logic.orders.approved", "logic.order.cancels"
POSITIONS, PORTFOLIO = "logic.positions", "logic.portfolio"
MODELS: dict[str, type[Event]] = {ORDERS: Order, EVENTS: OrderEvent, FILLS: Execution,
                                  POSITIONS: Position, PORTFOLIO: PortfolioSnapshot}
# every topic the worker's engines consume: its group starts at their ends
CONSUMED = ("market.bars.1m", "market.trades", "market.depth", "logic.features", "logic.vpin",
            ORDERS, EVENTS, FILLS, APPROVED, CANCELS, "logic.margin", "logic.risk.commands")
STEP_TIMEOUT_S = 180  # covers a worker's start, and a restarted one's wait for its group


@dataclass(frozen=True, slots=True)
class Loop:
    """One test's market: its symbols, account and bars (one list per minute)."""

    symbols: tuple[str, ...]
    account: str
    steps: list[list[Bar]]

    def settings(self) -> dict[str, str]:
        """The worker's engine parameters (NAUTILUS_<ENGINE>__<PARAM>), the backtest's."""
        return {"sma_cross__fast": str(FAST), "sma_cross__slow": str(SLOW),
                "sma_cross__quantity": str(QUANTITY), "sma_cross__account": self.account,
                "execution__fill_model": "bar", "execution__slippage_bps": str(SLIPPAGE_BPS),
                "execution__fee_bps": str(FEE_BPS), "portfolio__cash": str(CASH)}

    def worker_settings(self) -> dict[str, str]:
        """The engine parameters and a 20 ms fetch wait: a bar's orders cross four topics
        before their fills, and a fetch at the end of a quiet partition waits up to the
        fetch wait (100 ms by default) before it sees the next hop's record."""
        return {**self.settings(), "fetch_max_wait_ms": "20"}


def make_loop(seed: int, bars: int = BARS) -> Loop:
    """Random-walk 1-minute bars in cents (exact decimals) of SYMBOLS new symbols."""
    tag = uuid.uuid4().hex[:6].upper()
    symbols = tuple(f"L{tag}{i}" for i in range(SYMBOLS))
    rng = np.random.default_rng(seed)
    ends = T0 + MINUTE_NS * np.arange(1, bars + 1)
    per_symbol = []
    for symbol in symbols:
        close = 10_000 + np.cumsum(rng.integers(-40, 41, bars))
        open_ = np.r_[10_000, close[:-1]] + rng.integers(-5, 6, bars)
        high = np.maximum(open_, close) + rng.integers(0, 10, bars)
        low = np.minimum(open_, close) - rng.integers(0, 10, bars)
        per_symbol.append([
            Bar(ts_event=int(ts), ts_init=int(ts), bar_id=f"{symbol}@1m@{ts - MINUTE_NS}",
                symbol=symbol, start_ns=int(ts - MINUTE_NS), open=price(o), high=price(h),
                low=price(lo), close=price(c), volume=1_000)
            for ts, o, h, lo, c in zip(ends, open_, high, low, close, strict=True)
        ])
    return Loop(symbols, f"LOOP{tag}", [list(step) for step in zip(*per_symbol, strict=True)])


def price(cents: np.int64) -> Decimal:
    return Decimal(int(cents)) / 100


def backtest(loop: Loop, tmp: Path) -> dict[str, list[Event]]:
    """`nautilus-streams backtest` of the loop's bars as a bar file: its outputs by topic,
    in the backtest's canonical order."""
    bar_file, out = tmp / "bars.csv", tmp / "backtest"
    with bar_file.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ts_event", "symbol", "open", "high", "low", "close", "volume"])
        writer.writerows([b.ts_event, b.symbol, b.open, b.high, b.low, b.close, b.volume]
                         for step in loop.steps for b in step)
    sets = [f"{name.replace('__', '.')}={value}" for name, value in loop.settings().items()]
    assert main(["backtest", "-i", str(bar_file), "--strategy", "sma_cross",
                 *(arg for s in sets for arg in ("--set", s)), "--out", str(out)]) == 0
    return read_outputs(out, MODELS)


def read_outputs(out: Path, models: dict[str, type[Event]]) -> dict[str, list[Event]]:
    """A backtest's or replay's output files, OUT/<topic>.parquet, as records by topic (a
    dict is JSON text there: streams/outputs.py)."""
    def record(model: type[Event], row: dict) -> Event:
        return model.model_validate({
            k: orjson.loads(v) if isinstance(v, str) and "dict" in str(
                model.model_fields[k].annotation) else v
            for k, v in row.items()})

    return {topic: [record(model, row)
                    for row in pq.read_table(out / f"{topic}.parquet").to_pylist()]
            for topic, model in models.items()}


class Tail:
    """The loop's records on `topics` (the output topics), from their ends when made, read
    as they arrive, each partition in log order: those of its symbols or its account."""

    def __init__(self, brokers: str, loop: Loop, topics: tuple[str, ...] = tuple(MODELS)) -> None:
        self._consumer = kafka.reader(brokers)
        self._consumer.assign([TopicPartition(topic, p, end)
                               for (topic, p), end in log_ends(brokers, topics).items()])
        self._symbols, self._account = set(loop.symbols), loop.account
        self.rows: dict[str, list[dict]] = {topic: [] for topic in topics}

    def read(self) -> dict[str, list[dict]]:
        while messages := self._consumer.consume(10_000, timeout=0.05):
            for msg in messages:
                error = msg.error()
                if error is not None:
                    assert error.code() == KafkaError._PARTITION_EOF, error
                    continue
                topic, value = msg.topic(), msg.value()
                assert topic is not None and value is not None
                row = orjson.loads(value)
                if row.get("symbol") in self._symbols or row.get("account") == self._account:
                    self.rows[topic].append(row)
        return self.rows

    def ids(self, topic: str, field: str) -> set[str]:
        return {row[field] for row in self.read()[topic]}

    def close(self) -> None:
        self._consumer.close()


def run_paced(
    brokers: str, loop: Loop, expected: dict[str, list[Event]], tail: Tail,
    steps: range, after_step: Callable[[int], None] = lambda k: None,
) -> None:
    """Produce the loop's bars minute by minute, each minute once the loop has published
    every order event and execution the backtest dates at or before the previous one."""
    for k in steps:
        bars = loop.steps[k]
        produce(brokers, [(b.symbol, codec.encode(b)) for b in bars], "market.bars.1m")
        ts = bars[0].ts_event
        events = ids(expected[EVENTS], "event_id", until_ns=ts)
        fills = ids(expected[FILLS], "exec_id", until_ns=ts)
        wait_for(published(tail, events, fills), STEP_TIMEOUT_S,
                 f"bar {k}'s {len(events)} order events and {len(fills)} executions",
                 interval_s=0.05)  # a tail's read is cheap; a step waits well under 1 s
        after_step(k)


def published(tail: Tail, events: set[str], fills: set[str]) -> Callable[[], bool]:
    """Whether these order events and executions are all on the log."""
    return lambda: events <= tail.ids(EVENTS, "event_id") and fills <= tail.ids(FILLS, "exec_id")


def models(rows: list[dict], model: type[Event]) -> list[Event]:
    return [model.model_validate(row) for row in rows]


def values_of(record: Event) -> dict:
    """A record's fields but ts_init (when this system made it)."""
    return record.model_dump(exclude={"ts_init"})


def ids(records: list[Event], field: str, until_ns: int | None = None) -> set[str]:
    """The ids of the records dated at or before `until_ns` (all of them: None)."""
    return {getattr(r, field) for r in records if until_ns is None or r.ts_event <= until_ns}


def order_ids(fills: list[Event]) -> list[str]:
    return [values_of(f)["order_id"] for f in fills]


def by_id(records: list[Event], field: str) -> dict[str, dict]:
    """Records by id; a record published again (at-least-once) must be the same record."""
    out: dict[str, dict] = {}
    for record in records:
        values = values_of(record)
        assert out.setdefault(values[field], values) == values, f"{values[field]} changed"
    return out


def latest(records: list[Event], *key: str) -> dict[tuple, dict]:
    """The newest record per `key` by ts_event, the later in log order on a tie (a key's
    records are on one partition)."""
    newest: dict[tuple, Event] = {}
    for record in records:
        k = tuple(getattr(record, f) for f in key)
        if k not in newest or record.ts_event >= newest[k].ts_event:
            newest[k] = record
    return {k: values_of(r) for k, r in newest.items()}
