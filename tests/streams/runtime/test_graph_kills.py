"""The whole graph survives 20 SIGKILLs: a trade tape through bars, VPIN, features, a strategy,
pre-trade risk, paper execution and the portfolio in one worker that is killed 20 times at
random points and restarted each time, with the sink writing every output topic into
PostgreSQL; the database ends with exactly the rows of an uninterrupted run of the same tape
(`nautilus-streams backtest`, the whole graph in one process): none lost, none doubled, fills
included, field by field (ts_init, the processing time, aside).

Delivery is at least once: a kill after a batch's outputs were acked and before its state and
offsets were saved makes the restarted worker publish those outputs again, at new offsets.
They come out the same (ids are deterministic), their readers apply them once (a fill or an
order by its id: processors/kit/applied.py, processors/execution/seen.py; a bar, VPIN reading
or feature vector by its place in its symbol's sequence: streams/runtime/binding.py) and the
sink keeps one row per key. This test found bars published twice applied twice by the
features engine and the strategy (an SMA a bar early, an order a bar early).

Pacing, as in test_trading_loop_worker.py. Every minute opens with a trade of each symbol at
its first instant; those close the previous minute's bars, and the rest of the minute goes out
once every bar, order event and execution the backtest dates at or before that instant is on
the log: the orders a bar causes reach the venue before the market moves on, as they do live
(the venue dates an order's arrival at the newest market data it has seen, and a bar-model
order fills at the open of the first bar starting at or after that: processors/execution).
Bars and VPIN's time bars close by later trades only (a grace of ten years), so the
worker's wall clock closes none while the test waits. A kill comes after a minute's opening
trades or the rest went out: a random 0-1 s later (before the worker read them, mid-batch, or
after), or the instant the worker's first output of them is on the log (between its outputs
and its state write, mostly).

Features join VPIN readings by arrival in a live worker and by event time in a replay (see
processors/features.py), so the features compared are the indicator values, not the joined
readings. Likewise pre-trade risk sees an order and a fill in arrival order: a bar that fills
a working order (execution, one hop) and makes the strategy's next order (features, then the
strategy: two hops) reaches it by two paths, and the replay checks the order before the fill
while a live worker may apply the fill first. The decisions are the same in this test's tape
(one tape in every run: its orders that meet a fill of the same instant are buys, which the
toxicity gate treats alike whether the position is 10 with the sell working or 0 after it);
the numbers a rejection's reason quotes are not, so a reason is compared without them.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import random
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import orjson
import psycopg
import pytest
from confluent_kafka import TopicPartition
from psycopg import sql
from psycopg.types.json import Jsonb

from streams import codec, kafka
from streams.catalog import Catalog
from streams.cli.main import main
from streams.feeds.sim import SimMarket
from streams.schema import MODELS, Event, Trade
from streams.settings import Settings
from streams.sink.runner import Sink, SinkConfig
from streams.sink.tables import TABLES, Source, catalog_routes
from tests.streams.runtime.trading_loop import CONSUMED, Loop, Tail, read_outputs
from tests.streams.runtime.workers import (
    assert_no_offset_jumps,
    log_ends,
    produce,
    sim_trades,
    start_group_at_end,
    wait_for,
    worker,
)
from tests.streams.sink.conftest import running

pytestmark = pytest.mark.slow

NS = 1_000_000_000
MINUTE_NS = 60 * NS
# before every other test's tape (engines reading bars whole drop bars older than the newest)
START_NS = 1_650_000_000 * NS
# bars and VPIN's time bars close by later trades only: by their grace on the worker's clock
# (wall time, years after the tape) they would close while the test waits between a minute's
# opening trades and the rest
GRACE_MS = str(10 * 365 * 86_400_000)
MINUTES, KILLS, SYMBOLS = 32, 20, 3
ENGINES = "bars,vpin,features,sma_cross,pretrade,execution,portfolio"
STEP_TIMEOUT_S = 180  # a restarted worker's start and group join, on a loaded machine
VPIN = {"bar_seconds": "10", "window": "5", "sigma_bars": "10", "cdf_window": "20",
        "grace_ms": GRACE_MS}
OTHERS = {"bars.grace_ms": GRACE_MS, "sma_cross.fast": "3", "sma_cross.slow": "8",
          "sma_cross.quantity": "10", "execution.fill_model": "bar",
          "execution.slippage_bps": "5", "execution.fee_bps": "2", "portfolio.cash": "1000000"}
# output topic -> the model on it, and the fields that single out the test's records
OUTPUTS: dict[str, str] = {
    "market.bars.1m": "Bar", "logic.vpin": "VpinReading", "logic.features": "FeatureVector",
    "logic.orders": "Order", "logic.order.events": "OrderEvent",
    "market.executions": "Execution", "logic.positions": "Position",
    "logic.portfolio": "PortfolioSnapshot",
}
# the topics whose records are one per key (positions and snapshots: one per fill and bar)
IDENTIFIED = ("market.bars.1m", "logic.vpin", "logic.features", "logic.orders",
              "logic.order.events", "market.executions")
PACED: dict[str, Callable[[Event | dict], object]] = {  # what a minute waits for, by identity
    "market.bars.1m": lambda r: _field(r, "bar_id"),
    "logic.order.events": lambda r: _field(r, "event_id"),
    "market.executions": lambda r: _field(r, "exec_id"),
    "logic.positions": lambda r: (_field(r, "symbol"), _field(r, "ts_event"),
                                  Decimal(str(_field(r, "quantity")))),
    "logic.portfolio": lambda r: (_field(r, "ts_event"), Decimal(str(_field(r, "cash")))),
}
JOINED = ("vpin", "vpin_cdf", "spread", "imbalance_5")  # features joined by arrival when live


def minutes_of(tape: list[Trade]) -> list[tuple[list[Trade], list[Trade]]]:
    """The tape minute by minute, each minute's first trade of every symbol moved to the
    minute's start: (those trades, the rest of the minute)."""
    steps: list[tuple[list[Trade], list[Trade]]] = [([], []) for _ in range(MINUTES)]
    for t in tape:
        k = (t.ts_event - START_NS) // MINUTE_NS
        opening, rest = steps[k]
        if t.symbol in {o.symbol for o in opening}:
            rest.append(t)
        else:
            start = START_NS + k * MINUTE_NS
            opening.append(t.model_copy(update={"ts_event": start, "ts_init": start}))
    assert all(len(opening) == SYMBOLS for opening, _ in steps), "a symbol missed a minute"
    return steps


def graph_tape(symbols: list[str]) -> list[Trade]:
    """The same tape in every run, under the run's own symbols (the simulated market draws
    each symbol's start price from its name)."""
    named = [f"GRAPH{i}" for i in range(SYMBOLS)]
    market = SimMarket(named, seed=5, trades_per_s=15, quote_every=0, depth_every=0,
                       informed_probability=0.2)
    renamed = dict(zip(named, symbols, strict=True))
    return [t.model_copy(update={"symbol": renamed[t.symbol]})
            for t in sim_trades(market, START_NS, MINUTES * 60)]


def backtest(tape: list[Trade], account: str, volume: int, tmp: Path) -> dict[str, list[Event]]:
    """`nautilus-streams backtest` of the tape as a trade file: its outputs by topic."""
    tape_file, out = tmp / "tape.csv", tmp / "backtest"
    with tape_file.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ts_event", "symbol", "price", "size", "aggressor"])
        writer.writerows([t.ts_event, t.symbol, t.price, t.size, t.aggressor] for t in tape)
    sets = [f"vpin.{k}={v}" for k, v in VPIN.items()]
    sets += [f"vpin.bucket_volume.default={volume}", f"sma_cross.account={account}",
             *(f"{k}={v}" for k, v in OTHERS.items())]
    assert main(["backtest", "-i", str(tape_file), "--strategy", "sma_cross",
                 *(arg for s in sets for arg in ("--set", s)), "--out", str(out)]) == 0
    return read_outputs(out, {topic: MODELS[model] for topic, model in OUTPUTS.items()})


def worker_settings(account: str, volume: int) -> dict[str, str]:
    """The backtest's parameters as the worker's NAUTILUS_<ENGINE>__<PARAM> variables."""
    settings = {f"vpin__{k}": v for k, v in VPIN.items()}
    settings["vpin__bucket_volume"] = json.dumps({"default": volume})
    settings.update({k.replace(".", "__"): v for k, v in OTHERS.items()})
    return {**settings, "sma_cross__account": account, "fetch_max_wait_ms": "20"}


def comparable(value: object) -> object:
    """A column's value as the database gives it back, hashable (jsonb as the sorted items
    of its object, without the joined readings), NaN equal to itself."""
    if isinstance(value, Jsonb):
        return comparable(value.obj)
    if isinstance(value, dict):
        return tuple(sorted((k, comparable(v)) for k, v in value.items() if k not in JOINED))
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float | Decimal):
        return Decimal(repr(value)) if isinstance(value, float) else value.normalize()
    return value


# the position and working orders a pre-trade rejection quotes (processors/pretrade/checks.py)
POSITION_SHAPE = re.compile(r"\(position -?\d+, working (buy|sell)s \d+, order (buy|sell) \d+\)")


def decision(model: str, row: tuple) -> tuple:
    """An order event's row with its reason's quoted position and working orders masked."""
    if model != "OrderEvent":
        return row
    at = columns_of(model).index("reason")
    reason = row[at]
    if isinstance(reason, str):
        row = (*row[:at], POSITION_SHAPE.sub("(position ...)", reason), *row[at + 1:])
    return row


def columns_of(model: str) -> list[str]:
    return [c for c in TABLES[model].columns if c not in ("ts_init", *JOINED)]


def expected_rows(model: str, records: list[Event]) -> set[tuple]:
    """The rows the backtest's records make (the newest per key where a table updates)."""
    table = TABLES[model]
    columns = list(table.columns)
    keep = [columns.index(c) for c in columns_of(model)]
    keyed: dict[tuple, tuple] = {}
    for record in records:
        row = table.row(record, Source("", 0, 0))
        key = tuple(row[columns.index(k)] for k in table.key)
        if table.on_conflict == "update" or key not in keyed:
            keyed[key] = decision(model, tuple(comparable(row[i]) for i in keep))
    return set(keyed.values())


def stored_rows(database_url: str, model: str, symbols: list[str], account: str,
                until_ns: int) -> list[tuple]:
    """The database's rows of the test's symbols (or account) dated at or before `until_ns`."""
    table = TABLES[model]
    owner = ("symbol", symbols) if "symbol" in table.columns else ("account", [account])
    query = sql.SQL("SELECT {} FROM {} WHERE {} = ANY(%s) AND ts_event <= %s").format(
        sql.SQL(", ").join(map(sql.Identifier, columns_of(model))),
        sql.Identifier(table.name), sql.Identifier(owner[0]))
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(query, (owner[1], until_ns)).fetchall()
    return [decision(model, tuple(comparable(v) for v in row)) for row in rows]


@pytest.fixture
def sink(kafka_brokers: str, database_url: str) -> Iterator[Sink]:
    """The sink on every catalog topic, its group starting at their ends."""
    routes = catalog_routes(Catalog.load(Settings().topics_file))
    group = f"test-graph-sink-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, group, tuple(r.topic for r in routes))
    config = SinkConfig(brokers=kafka_brokers, database_url=database_url, group=group,
                        batch_within_ms=50, health_interval_ms=1_000)
    with running(Sink(config, routes)) as started:
        yield started


def test_twenty_sigkills_over_the_whole_graph_leave_the_rows_of_an_uninterrupted_run(
    kafka_brokers: str, services_env: dict[str, str], database_url: str, tmp_path: Path,
    sink: Sink,
) -> None:
    # Arrange: a tape of 3 new symbols, its backtest, an account of the test's own
    tag = uuid.uuid4().hex[:6].upper()
    symbols = [f"G{tag}{i}" for i in range(SYMBOLS)]
    account = f"GRAPH{tag}"
    steps = minutes_of(graph_tape(symbols))
    tape = [t for opening, rest in steps for t in opening + rest]
    volume = sum(t.size for t in tape) // (MINUTES * SYMBOLS * 4)  # ~4 buckets a minute
    expected = backtest(tape, account, volume, tmp_path)
    until_ns = START_NS + (MINUTES - 1) * MINUTE_NS  # the last bar the live feed closes
    expected = {topic: [r for r in records if r.ts_event <= until_ns]
                for topic, records in expected.items()}
    assert len(expected["market.executions"]) >= 6, "too few fills to compare"
    app_id = f"test-graph-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id, CONSUMED)
    tail = Tail(kafka_brokers, Loop(tuple(symbols), account, []), tuple(OUTPUTS))
    chance = random.Random(16)
    # minute -> after which part of it (0: its opening trades, 1: the rest) a kill comes, and
    # when: a random instant, or as the worker's first output of that part reaches the log
    kill_at = {k: (chance.randrange(2), chance.choice(("random", "first output")))
               for k in chance.sample(range(1, MINUTES), KILLS)}
    settings = worker_settings(account, volume)

    paced = {topic: final_per_instant(topic, expected[topic]) for topic in PACED}

    def missing(ts: int) -> dict[str, set]:
        """What of every bar, order event, execution, position and portfolio snapshot the
        backtest dates at or before ts is not on the log (positions and snapshots: the last
        of each instant, by date and quantity or cash: fills of one instant may come in
        another order, and the portfolio reads them re-keyed, one hop more, so a fill applied
        after a later bar would date its records later)."""
        rows = tail.read()
        return {topic: gap for topic, identity in PACED.items()
                if (gap := {identity(r) for r in paced[topic] if r.ts_event <= ts}
                    - {identity(row) for row in rows[topic]})}

    def published(ts: int) -> bool:
        return not missing(ts)

    # Act: minute by minute; in 20 of them the worker is SIGKILLed and a new one in the same
    # group carries on
    logs: list[Path] = []
    kills, seen_first = 0, 0
    stuck: str | None = None
    with ExitStack() as workers:
        def start() -> subprocess.Popen:
            logs.append(tmp_path / f"worker{len(logs)}.log")
            return workers.enter_context(
                worker(services_env, app_id, logs[-1], engines=ENGINES, **settings))

        proc = start()
        for k, (opening, rest) in enumerate(steps):
            closed = START_NS + k * MINUTE_NS  # minute k's opening trades close bar k-1
            for part, trades in enumerate((opening, rest)):
                mode = kill_at.get(k, (None, None))
                watch = Watch(kafka_brokers, WATCHED[part], symbols) if mode[0] == part else None
                produce(kafka_brokers, [(t.symbol, codec.encode(t)) for t in trades])
                if watch is not None:
                    if mode[1] == "random":
                        time.sleep(chance.uniform(0.0, 1.0))  # where it lands: not a wait
                    else:  # the instant the worker's first output of these trades is out
                        seen_first += watch.first_output(60)
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(10)
                    watch.close()
                    kills += 1
                    proc = start()
                if part == 0:  # the orders bar k-1 caused reach the venue before minute k
                    try:
                        wait_for(lambda ts=closed: published(ts), STEP_TIMEOUT_S,  # type: ignore[misc]
                                 f"minute {k}'s outputs", interval_s=0.05)
                    except AssertionError as exc:  # the database says below what differs
                        proc.send_signal(signal.SIGUSR1)  # mode's Worker logs its tasks' stacks
                        stuck = f"{exc}; missing: {missing(closed)}"
                        until_ns = closed - MINUTE_NS  # what came before is all on the log
                        break
            if stuck:
                break
        stored: dict[str, list[tuple]] = {}

        def in_database() -> bool:
            stored.update({topic: stored_rows(database_url, model, symbols, account, until_ns)
                           for topic, model in OUTPUTS.items()})
            return all(len(stored[topic]) >= len(wanted[topic]) for topic in OUTPUTS)

        wanted = {topic: expected_rows(OUTPUTS[topic],
                                       [r for r in expected[topic] if r.ts_event <= until_ns])
                  for topic in OUTPUTS}
        with contextlib.suppress(AssertionError):  # the comparisons below say what differs
            wait_for(in_database, 120, "the sink's rows")
        assert proc.poll() is None, "the last worker died"
    on_log = tail.read()
    tail.close()

    # Assert: the database holds the uninterrupted run's rows, each once (up to a minute whose
    # outputs did not come, if one did not)
    for topic in OUTPUTS:
        rows = stored[topic]
        assert len(rows) == len(set(rows)), f"{topic}: a row doubled in the database"
        assert set(rows) == wanted[topic], (
            f"{topic}: {len(set(rows) - wanted[topic])} rows not in the uninterrupted run, "
            f"{len(wanted[topic] - set(rows))} of its rows missing; the first: "
            f"{_first_difference(OUTPUTS[topic], set(rows), wanted[topic])}")
    assert stuck is None, stuck
    for log in logs:
        assert_no_offset_jumps(log)
        assert "dead-lettered" not in log.read_text()
    again = {topic: len(rows) - len({_identity(OUTPUTS[topic], r) for r in rows})
             for topic, rows in on_log.items() if topic in IDENTIFIED}
    assert kills == KILLS and sum(again.values()) > 0, "no kill made the worker publish again"
    print(f"kills={kills} at_first_output={seen_first} "
          f"rows={sum(map(len, wanted.values()))} "
          f"fills={len(wanted['market.executions'])} published_again={again}")


# the output a part of a minute makes first: its opening trades close bars, the rest make
# VPIN readings (and bars close no sooner than the next minute)
WATCHED = ("market.bars.1m", "logic.vpin")


class Watch:
    """The next record of the test's symbols on `topic`, seen within milliseconds of its
    ack: a reader from the topic's end that polls the broker without waiting."""

    def __init__(self, brokers: str, topic: str, symbols: list[str]) -> None:
        self._consumer = kafka.reader(brokers, **{"fetch.wait.max.ms": 1})
        self._consumer.assign([TopicPartition(t, p, end) for (t, p), end
                               in log_ends(brokers, (topic,)).items()])
        self._symbols = set(symbols)

    def first_output(self, timeout_s: float) -> bool:
        """Wait for that record; False when none came within `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = self._consumer.poll(0.001)
            if msg is not None and msg.error() is None and \
                    orjson.loads(msg.value() or b"{}").get("symbol") in self._symbols:
                return True
        return False

    def close(self) -> None:
        self._consumer.close()


def final_per_instant(topic: str, records: list[Event]) -> list[Event]:
    """Positions and snapshots: the last record of each instant (per symbol and account);
    other topics' records as they are."""
    if topic not in ("logic.positions", "logic.portfolio"):
        return records
    last: dict[tuple, Event] = {}
    for r in records:
        last[(getattr(r, "symbol", None), r.ts_event)] = r
    return list(last.values())


def _field(record: Event | dict, name: str) -> object:
    return record[name] if isinstance(record, dict) else getattr(record, name)


def _first_difference(model: str, stored: set[tuple], wanted: set[tuple]) -> str:
    """The first stored row that differs from the wanted one of its key: the columns that
    differ (or the row, where no wanted row has its key)."""
    columns = columns_of(model)
    at = [columns.index(k) for k in TABLES[model].key if k in columns]
    by_key = {tuple(row[i] for i in at): row for row in wanted - stored}
    for row in sorted(stored - wanted, key=str):
        other = by_key.get(tuple(row[i] for i in at))
        if other is None:
            return f"{row} (no such key in the uninterrupted run)"
        return ", ".join(f"{c}: {a!r} != {b!r}"
                         for c, a, b in zip(columns, row, other, strict=True) if a != b)
    return f"missing {sorted(wanted - stored, key=str)[:1]}"


def _identity(model: str, row: dict) -> tuple:
    """A record's key on the log: its table's key with ts_event for the time column."""
    return tuple(row["ts_event"] if k == "time" else row[k] for k in TABLES[model].key)
