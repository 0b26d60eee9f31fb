"""An engine keyed by account fed by market.executions (keyed by symbol), on the real broker:
re-keyed through the runtime's repartition topic, it survives SIGKILL with exactly the state
of an uninterrupted run, and two workers split its partitions.

The known answer is computed from the produced executions themselves (count, quantity and
price x quantity in cents per account), not from an engine run."""

from __future__ import annotations

import re
import signal
import uuid
from decimal import Decimal
from pathlib import Path

import numpy as np
import orjson
import pytest
from confluent_kafka import KafkaException

from streams import codec, kafka
from streams.exceptions import BrokerError
from streams.schema import Execution
from tests.streams.runtime.workers import (
    assert_no_offset_jumps,
    assigned_partitions,
    commit_group,
    events_in,
    names_on_partitions,
    partition_of,
    produce,
    read_topic,
    start_group_at_end,
    wait_for,
    worker,
)

pytestmark = pytest.mark.slow
T0 = 1_700_000_000 * 1_000_000_000
ENGINE_MODULE = "tests.streams.runtime.account_fills"
ENGINE = "account_fills"
PARTITIONS = 6  # market.executions', so the repartition topic's and the state's


def make_executions(n: int, seed: int) -> list[Execution]:
    """Executions of accounts on every state partition, for symbols on every partition of
    market.executions, so each account's fills arrive from several input partitions."""
    rng = np.random.default_rng(seed)
    accounts = names_on_partitions("ACC", PARTITIONS)
    symbols = names_on_partitions("X", PARTITIONS)
    prices = rng.integers(1_000, 50_000, n)
    return [
        Execution(
            ts_event=T0 + i * 1_000_000, ts_init=T0 + i * 1_000_000, exec_id=f"e{seed}-{i}",
            order_id=f"o{seed}-{i}", account=str(rng.choice(accounts)),
            symbol=str(rng.choice(symbols)), side="buy" if i % 2 else "sell",
            price=Decimal(int(p)) / 100, quantity=int(rng.integers(1, 500)),
        )
        for i, p in enumerate(prices)
    ]


def expected_state(executions: list[Execution]) -> dict[str, dict[str, int]]:
    state: dict[str, dict[str, int]] = {}
    for e in executions:
        totals = state.setdefault(e.account, {"fills": 0, "quantity": 0, "notional_cents": 0})
        totals["fills"] += 1
        totals["quantity"] += e.quantity
        totals["notional_cents"] += int(e.price * 100) * e.quantity
    return state


def state_of(brokers: str, app_id: str) -> dict[str, dict[str, int]]:
    """The engine's persisted state: the newest changelog record of each account."""
    newest: dict[str, dict] = {}
    try:
        records = list(kafka.read_all(brokers, f"{app_id}-account_fills-state-changelog"))
    except BrokerError:  # the worker has not created its changelog yet
        return {}
    for _, _, key, value in records:
        if key is None or value is None:
            continue
        record = orjson.loads(value)
        if key.decode() not in newest or record["writes"] > newest[key.decode()]["writes"]:
            newest[key.decode()] = record
    return {account: record["state"] for account, record in newest.items()}


def latest_outputs(brokers: str, accounts: set[str]) -> dict[str, dict[str, int]]:
    """The newest logic.analytics totals of each of `accounts` (one output per batch)."""
    latest: dict[str, dict[str, int]] = {}
    for row in read_topic(brokers, "logic.analytics",
                          lambda r: r["account"] in accounts):
        values = {k: int(v) for k, v in row["values"].items()}
        account = row["account"]
        if values["fills"] >= latest.get(account, {"fills": -1})["fills"]:
            latest[account] = values
    return latest


def _fills(state: dict[str, dict[str, int]]) -> int:
    return sum(totals["fills"] for totals in state.values())


def _produce(brokers: str, executions: list[Execution]) -> None:
    produce(brokers, [(e.symbol, codec.encode(e)) for e in executions], "market.executions")


def test_account_keyed_engine_survives_sigkill_with_exactly_the_uninterrupted_state(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: executions on the log before the worker starts; tiny batches keep it busy
    # long enough for the kill to land mid-stream
    executions = make_executions(6_000, seed=1)
    expected = expected_state(executions)
    by_account = {a: {partition_of(e.symbol, PARTITIONS) for e in executions if e.account == a}
                  for a in expected}
    assert all(len(p) > 1 for p in by_account.values()), "fills of one account, many partitions"
    app_id = f"test-rekey-{uuid.uuid4().hex[:8]}"
    starts = start_group_at_end(kafka_brokers, app_id, ("market.executions",))
    _produce(kafka_brokers, executions)
    logs = [tmp_path / f"worker{i}.log" for i in range(3)]

    # Act: SIGKILL the first worker as soon as some state is persisted; a second one resumes
    # and finishes, and is stopped cleanly
    with worker(services_env, app_id, logs[0], module=ENGINE_MODULE,
                batch_max_events="20") as first:
        wait_for(lambda: _fills(state_of(kafka_brokers, app_id)) > 0, 90, "the first state")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    at_kill = _fills(state_of(kafka_brokers, app_id))
    with worker(services_env, app_id, logs[1], module=ENGINE_MODULE, batch_max_events="20"):
        wait_for(lambda: _fills(state_of(kafka_brokers, app_id)) >= len(executions), 180,
                 f"{len(executions)} fills in the state")
    assert 0 < at_kill < len(executions), "the kill did not land mid-stream"
    assert state_of(kafka_brokers, app_id) == expected, "the state after the restart"
    # ... then, as if none of their commits had reached the broker (at-least-once allows it),
    # the group is rewound to where it began on both the input and the repartition topic: a
    # third worker re-keys every execution again (new repartition offsets, same origins) and
    # is re-delivered every re-keyed record, old and new
    repartition = f"{app_id}-account_fills-market.executions-repartition"
    rewind = {**starts, **{(repartition, p): 0 for p in range(PARTITIONS)}}
    wait_for(lambda: _committed(kafka_brokers, app_id, rewind), 60, "the rewind committed")
    with worker(services_env, app_id, logs[2], module=ENGINE_MODULE) as third:
        wait_for(lambda: events_in(kafka_brokers, ENGINE, third.pid) >= 2 * len(executions), 180,
                 "every re-keyed record twice")

    # Assert: exactly the uninterrupted state, persisted and published, after the
    # re-deliveries too; every re-delivered record was a no-op
    assert state_of(kafka_brokers, app_id) == expected
    assert latest_outputs(kafka_brokers, set(expected)) == expected
    assert _skipped(logs[2]) == events_in(kafka_brokers, ENGINE, third.pid)
    for log in logs:
        assert_no_offset_jumps(log)
        assert "dead-lettered" not in log.read_text()


def _skipped(log: Path) -> int:
    return sum(int(n) for n in re.findall(r"skipping re-delivered records .* count=(\d+)",
                                          log.read_text()))


def _committed(brokers: str, group: str, offsets: dict[tuple[str, int], int]) -> bool:
    try:
        commit_group(brokers, group, offsets)
    except KafkaException:
        return False
    return True


def test_two_workers_split_the_repartitioned_partitions_and_their_states_add_up(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: two workers in one group, both holding partitions before any input arrives
    executions = make_executions(3_000, seed=2)
    expected = expected_state(executions)
    app_id = f"test-rekey2-{uuid.uuid4().hex[:8]}"
    start_group_at_end(kafka_brokers, app_id, ("market.executions",))
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]

    def split() -> bool:
        held = [assigned_partitions(log, ENGINE) for log in logs]
        if any(not h for h in held):
            return False
        first, second = set(held[0] or []), set(held[1] or [])
        return not first & second and first | second == set(range(PARTITIONS))

    with (worker(services_env, app_id, logs[0], module=ENGINE_MODULE) as first,
          worker(services_env, app_id, logs[1], module=ENGINE_MODULE) as second):
        wait_for(split, 120, "the two workers to split the repartition topic's partitions")
        held = [assigned_partitions(log, ENGINE) for log in logs]

        # Act
        _produce(kafka_brokers, executions)
        wait_for(lambda: _fills(state_of(kafka_brokers, app_id)) >= len(executions), 120,
                 f"{len(executions)} fills in the state")
        wait_for(lambda: all(events_in(kafka_brokers, ENGINE, w.pid) for w in (first, second)), 30,
                 "metrics of both workers")

    # Assert: each worker held and worked on its half; the union of states is exact
    assert all(held), held
    assert state_of(kafka_brokers, app_id) == expected
    assert latest_outputs(kafka_brokers, set(expected)) == expected
    owners = {a: next(i for i, h in enumerate(held) if partition_of(a, PARTITIONS) in (h or []))
              for a in expected}
    assert set(owners.values()) == {0, 1}, "accounts on both workers' partitions"

