"""The portfolio engine in `nautilus-streams worker`, on the real broker: fills keyed by
symbol re-keyed to the account, bars read whole as a broadcast input, SIGKILL mid-stream.

Known answers from the produced events alone: each account's cash (start - signed notional -
fees), its quantity per symbol (signed sum), its fill count, and its equity at the last bar's
closes; and the replay graph of the same engine on the same events gives the same final
positions and snapshot."""

from __future__ import annotations

import random
import signal
import uuid
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from streams import codec, kafka
from streams.exceptions import BrokerError
from streams.replay import Source, run_replay
from streams.schema import Bar, Execution
from streams.settings import EngineParams
from tests.factories import columns
from tests.streams.runtime.workers import (
    assert_no_offset_jumps,
    produce,
    read_topic,
    start_group_at_end,
    wait_for,
    worker,
)

pytestmark = pytest.mark.slow
T0 = 1_700_000_000 * 1_000_000_000
SEC = 1_000_000_000
START = Decimal(1_000_000)


def make_events(n: int, seed: int) -> tuple[list[Execution], list[Bar]]:
    """`n` fills of three accounts in three symbols, a bar per symbol every 20 s of event
    time, and a last bar per symbol after every fill."""
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:6].upper()
    accounts = [f"PF{tag}{i}" for i in range(3)]
    symbols = [f"S{tag}{i}" for i in range(3)]
    fills = [
        Execution(ts_event=T0 + i * SEC, ts_init=T0 + i * SEC, exec_id=f"{tag}-{i}",
                  order_id=f"{tag}-o{i}", account=rng.choice(accounts),
                  symbol=rng.choice(symbols), side=rng.choice(["buy", "sell"]),
                  price=Decimal(rng.randint(9_000, 11_000)) / 100,
                  quantity=rng.randint(1, 300), commission=Decimal(rng.randint(0, 99)) / 100)
        for i in range(n)
    ]
    bars = []
    for ts in range(T0 + 20 * SEC, T0 + (n + 20) * SEC, 20 * SEC):
        for symbol in symbols:
            close = Decimal(rng.randint(9_000, 11_000)) / 100
            bars.append(Bar(ts_event=ts, ts_init=ts, bar_id=f"{symbol}@1m@{ts - 60 * SEC}",
                            symbol=symbol, start_ns=ts - 60 * SEC, open=close, high=close,
                            low=close, close=close, volume=1, trade_count=1, vwap=close))
    return fills, bars


def expected_accounts(fills: list[Execution], bars: list[Bar]) -> dict[str, dict]:
    last_close = {b.symbol: b.close for b in bars}  # the bars are in time order
    out: dict[str, dict] = {}
    for f in fills:
        signed = f.quantity if f.side == "buy" else -f.quantity
        book = out.setdefault(f.account, {"fills": 0, "cash": START, "quantity": {}})
        book["fills"] += 1
        book["cash"] -= signed * f.price + f.commission
        book["quantity"][f.symbol] = book["quantity"].get(f.symbol, 0) + signed
    for book in out.values():
        book["equity"] = book["cash"] + sum(q * last_close[s] for s, q in book["quantity"].items())
    return out


def state_of(brokers: str, app_id: str) -> dict[str, dict]:
    newest: dict[str, dict] = {}
    try:
        records = list(kafka.read_all(brokers, f"{app_id}-portfolio-state-changelog"))
    except BrokerError:  # not created yet
        return {}
    for _, _, key, value in records:
        if key is None or value is None:
            continue
        record = orjson.loads(value)
        if key.decode() not in newest or record["writes"] > newest[key.decode()]["writes"]:
            newest[key.decode()] = record
    return {account: record["state"] for account, record in newest.items()}


def _fills(state: dict[str, dict]) -> int:
    return sum(book["fills"] for book in state.values())


def _summary(state: dict[str, dict]) -> dict[str, dict]:
    return {account: {"fills": book["fills"], "cash": Decimal(book["cash"]),
                      "quantity": {s: h["quantity"] for s, h in book["holdings"].items()}}
            for account, book in state.items()}


def _latest(rows: list[dict], *key: str) -> dict[tuple, dict]:
    """The newest record per `key` by ts_event, the later in log order on a tie (an
    account's records are on one partition). An account's fills of different symbols come
    from different partitions, out of event-time order: the engine dates its records at the
    newest event applied so far, so the newest record is the latest state."""
    latest: dict[tuple, dict] = {}
    for row in rows:
        k = tuple(row[f] for f in key)
        if k not in latest or row["ts_event"] >= latest[k]["ts_event"]:
            latest[k] = row
    return latest


def _without_times(rows: dict[tuple, dict]) -> dict[tuple, dict]:
    return {k: {f: v for f, v in r.items() if f not in ("ts_event", "ts_init")}
            for k, r in rows.items()}


def test_the_portfolio_survives_sigkill_with_no_fill_doubled_or_lost(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: bars and fills on the log before the worker starts
    fills, bars = make_events(1_200, seed=5)
    expected = expected_accounts(fills, bars)
    app_id = f"test-portfolio-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id, ("market.executions",))
    produce(kafka_brokers, [(b.symbol, codec.encode(b)) for b in bars], "market.bars.1m")
    half = len(fills) // 2
    produce(kafka_brokers, [(f.symbol, codec.encode(f)) for f in fills[:half]],
            "market.executions")
    logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]

    # Act: SIGKILL the first worker once some state is persisted (it has at most the first
    # half of the fills, however fast it runs); the second half comes while no worker runs,
    # and a second worker finishes
    with worker(services_env, app_id, logs[0], engines="portfolio",
                batch_max_events="20") as first:
        wait_for(lambda: _fills(state_of(kafka_brokers, app_id)) > 0, 120, "the first state")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    at_kill = _fills(state_of(kafka_brokers, app_id))
    produce(kafka_brokers, [(f.symbol, codec.encode(f)) for f in fills[half:]],
            "market.executions")
    with worker(services_env, app_id, logs[1], engines="portfolio", batch_max_events="20"):
        wait_for(lambda: _fills(state_of(kafka_brokers, app_id)) >= len(fills), 240,
                 f"{len(fills)} fills in the state")

    # Assert: every fill exactly once, in the state and in what was published
    assert 0 < at_kill < len(fills), "the kill did not land mid-stream"
    state = state_of(kafka_brokers, app_id)
    assert _summary(state) == {a: {k: v for k, v in book.items() if k != "equity"}
                               for a, book in expected.items()}
    accounts = set(expected)
    snapshots = _latest(read_topic(kafka_brokers, "logic.portfolio",
                                   lambda r: r["account"] in accounts), "account")
    for (account,), snapshot in snapshots.items():
        assert Decimal(snapshot["equity"]) == expected[account]["equity"]
        assert Decimal(snapshot["cash"]) == expected[account]["cash"]
        assert (Decimal(snapshot["equity"]) - START
                == Decimal(snapshot["realized_pnl"]) + Decimal(snapshot["unrealized_pnl"]))
    # ... and the same final positions as the replay graph of the same events
    positions = _latest(read_topic(kafka_brokers, "logic.positions",
                                   lambda r: r["account"] in accounts), "account", "symbol")
    replay = run_replay([Source("market.bars.1m", columns("Bar", bars)),
                         Source("market.executions", columns("Execution", fills))],
                        [_portfolio()], EngineParams())
    replayed = _latest(replay.rows("logic.positions"), "account", "symbol")
    assert _numbers(_without_times(positions)) == _numbers(_without_times(replayed))
    # positions are keyed account/symbol (the compacted topic keeps each one's newest), on
    # the partition of their account, where its snapshots are
    snapshot_partitions = {orjson.loads(v)["account"]: p for p, _, _, v
                           in kafka.read_all(kafka_brokers, "logic.portfolio")}
    keyed = [(p, k.decode(), orjson.loads(v)) for p, _, k, v
             in kafka.read_all(kafka_brokers, "logic.positions") if k is not None]
    keyed = [(p, k, r) for p, k, r in keyed if r["account"] in accounts]
    assert keyed and all(k == f"{r['account']}/{r['symbol']}" for _, k, r in keyed)
    assert all(p == snapshot_partitions[r["account"]] for p, _, r in keyed)
    for log in logs:
        assert_no_offset_jumps(log)
        assert "dead-lettered" not in log.read_text()


def _numbers(rows: dict[tuple, dict]) -> dict[tuple, dict]:
    """Decimal texts as values (`"1.50"` equals `"1.5"`)."""
    def value(v: object) -> object:
        try:
            return Decimal(v) if isinstance(v, str) else v
        except ArithmeticError:
            return v

    return {k: {f: value(v) for f, v in r.items()} for k, r in rows.items()}


def _portfolio() -> type:
    from processors import ENGINES

    return ENGINES["portfolio"]
