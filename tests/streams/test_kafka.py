"""Topic administration against the real broker: apply, list, tail."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import orjson
import pytest

from streams import kafka
from streams.catalog import Catalog
from streams.logview import topic_status

TOPICS_YAML = Path(__file__).resolve().parents[2] / "topics.yaml"


def _catalog_file(tmp_path: Path, name: str, partitions: int, retention_ms: int) -> Path:
    path = tmp_path / "topics.yaml"
    path.write_text(
        "topics:\n"
        f"  {name}:\n    key: symbol\n    value: Trade\n    partitions: {partitions}\n"
        f"    retention_ms: {retention_ms}\n    cleanup_policy: delete\n"
        "    description: a test topic\n"
    )
    return path


def test_applying_the_catalog_again_changes_nothing(kafka_brokers: str) -> None:
    # The session fixture applied it once already.
    assert kafka.apply_catalog(Catalog.load(TOPICS_YAML), kafka_brokers) == []


def test_apply_creates_reconfigures_then_is_idempotent(kafka_brokers: str, tmp_path: Path) -> None:
    name = f"market.test{uuid.uuid4().hex[:8]}"

    created = kafka.apply_catalog(Catalog.load(_catalog_file(tmp_path, name, 2, 60_000)),
                                  kafka_brokers)
    changed = kafka.apply_catalog(Catalog.load(_catalog_file(tmp_path, name, 2, 120_000)),
                                  kafka_brokers)
    again = kafka.apply_catalog(Catalog.load(_catalog_file(tmp_path, name, 2, 120_000)),
                                kafka_brokers)

    assert [(c.topic, c.action, c.detail) for c in created] == [(name, "created", "2 partitions")]
    assert [(c.action, c.detail) for c in changed] == [("config", "retention.ms=60000->120000")]
    assert again == []
    status = {s.name: s for s in topic_status(Catalog.load(tmp_path / "topics.yaml"),
                                                    kafka_brokers)}
    assert status[name].broker_partitions == 2


def test_growing_partitions_on_the_embedded_broker_fails_clearly(
    kafka_brokers: str, tmp_path: Path
) -> None:
    from streams.exceptions import BrokerError

    name = f"market.test{uuid.uuid4().hex[:8]}"
    kafka.apply_catalog(Catalog.load(_catalog_file(tmp_path, name, 2, 60_000)), kafka_brokers)

    # Tansu 0.6 has no CreatePartitions; Redpanda and Kafka do (not reachable from tests).
    with pytest.raises(BrokerError, match=f"add partitions to {name} failed.*not supported"):
        kafka.apply_catalog(Catalog.load(_catalog_file(tmp_path, name, 3, 60_000)),
                            kafka_brokers)


def test_apply_refuses_to_shrink_a_topic(kafka_brokers: str, tmp_path: Path) -> None:
    from streams.exceptions import BrokerError

    name = f"market.test{uuid.uuid4().hex[:8]}"
    kafka.apply_catalog(Catalog.load(_catalog_file(tmp_path, name, 3, 60_000)), kafka_brokers)

    with pytest.raises(BrokerError, match="more partitions on the broker"):
        kafka.apply_catalog(Catalog.load(_catalog_file(tmp_path, name, 2, 60_000)),
                            kafka_brokers)


def test_list_counts_records_and_tail_prints_only_json_lines(
    kafka_brokers: str, services_env: dict[str, str], topic: str
) -> None:
    # Arrange: five records in one batch (Tansu's ListOffsets would report 1 as the end)
    producer = kafka.producer(kafka_brokers)
    for i in range(5):
        key = b"A" if i % 2 == 0 else b"B"
        producer.produce(topic, key=key, value=orjson.dumps({"i": i}))
    producer.produce(topic, key=b"A", value=b"\xff not json")
    assert producer.flush(10) == 0
    run = [sys.executable, "-m", "streams", "topics"]

    # Act
    listed = subprocess.run([*run, "list"], env=services_env, capture_output=True, text=True,
                            check=True, timeout=60)
    tailed = subprocess.run([*run, "tail", topic, "-n", "4", "--from-beginning", "--key", "A"],
                            env=services_env, capture_output=True, check=True, timeout=60)

    # Assert: true watermarks, and one JSON document per line, nothing else on stdout
    row = next(line for line in listed.stdout.splitlines() if line.startswith(topic))
    assert row.split()[1:] == ["-", "1", "0", "6", "6", "(not", "in", "catalog)"]
    lines = tailed.stdout.splitlines()
    assert [orjson.loads(line) for line in lines[:3]] == [{"i": 0}, {"i": 2}, {"i": 4}]
    assert "_raw_b64" in orjson.loads(lines[3])
    assert len(lines) == 4


def test_read_backwards_gives_windows_from_the_end_to_the_start(
    kafka_brokers: str, topic: str
) -> None:
    producer = kafka.producer(kafka_brokers)
    for i in range(7):
        producer.produce(topic, key=b"k", value=str(i).encode())
    assert producer.flush(10) == 0

    windows = [[int(value) for _, _, _, value in window]
               for window in kafka.read_backwards(kafka_brokers, topic, first_window=1)]

    assert windows == [[6], [2, 3, 4, 5], [0, 1]]


def test_tail_timeout_bounds_the_wait_for_a_matching_record_on_a_busy_topic(
    kafka_brokers: str, services_env: dict[str, str], topic: str
) -> None:
    # Arrange: records of another key keep arriving, far more often than the timeout
    stop = threading.Event()

    def keep_busy() -> None:
        producer = kafka.producer(kafka_brokers)
        while not stop.is_set():
            producer.produce(topic, key=b"B", value=orjson.dumps({"key": "B"}))
            producer.poll(0)
            stop.wait(0.05)
        producer.flush(10)

    busy = threading.Thread(target=keep_busy)
    busy.start()
    try:
        # Act
        tailed = subprocess.run(
            [sys.executable, "-m", "streams", "topics", "tail", topic, "--key", "A",
             "--timeout", "2"],
            env=services_env, capture_output=True, text=True, timeout=120,
        )
    finally:
        stop.set()
        busy.join()

    # Assert: nothing matched, so nothing on stdout, a non-zero exit and one line saying why
    assert tailed.returncode == 1, tailed.stderr
    assert tailed.stdout == ""
    assert tailed.stderr.splitlines() == [
        f"nautilus-streams topics: no record with key 'A' on {topic} within 2 s; printed 0 of 10"
    ]


def test_tail_exits_zero_once_it_printed_n_records_before_the_timeout(
    kafka_brokers: str, services_env: dict[str, str], topic: str
) -> None:
    producer = kafka.producer(kafka_brokers)
    producer.produce(topic, key=b"A", value=orjson.dumps({"i": 1}))
    assert producer.flush(10) == 0

    tailed = subprocess.run(
        [sys.executable, "-m", "streams", "topics", "tail", topic, "--key", "A", "-n", "1",
         "--from-beginning", "--timeout", "30"],
        env=services_env, capture_output=True, text=True, timeout=120,
    )

    assert tailed.returncode == 0, tailed.stderr
    assert [orjson.loads(line) for line in tailed.stdout.splitlines()] == [{"i": 1}]


@pytest.mark.parametrize("command", [
    ["topics", "list"],
    ["topics", "apply"],
    ["topics", "tail", "market.trades", "-n", "1"],
    ["feed", "sim", "--count", "1"],
    ["worker", "--engines", "bars"],
    ["sink"],
    ["replay", "--topic", "market.trades", "--out", "replay-out"],
])
def test_an_unreachable_broker_is_one_line_naming_it(
    services_env: dict[str, str], tmp_path: Path, command: list[str]
) -> None:
    with socket.socket() as closed:  # a port nobody listens on: connections are refused
        closed.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{closed.getsockname()[1]}"
    result = subprocess.run(
        [sys.executable, "-m", "streams", *command], cwd=tmp_path,
        env={**services_env, "KAFKA_BROKERS": address}, capture_output=True, text=True,
        timeout=120,
    )

    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"nautilus-streams {command[0]}: error: broker {address} (KAFKA_BROKERS) unreachable: "
        f"{address}: connection refused"
    ]


def test_a_listener_that_is_not_a_broker_is_one_line_naming_it(
    services_env: dict[str, str], tmp_path: Path
) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        result = subprocess.run(
            [sys.executable, "-m", "streams", "topics", "list"], cwd=tmp_path,
            env={**services_env, "KAFKA_BROKERS": address}, capture_output=True, text=True,
            timeout=120,
        )

    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"nautilus-streams topics: error: broker {address} (KAFKA_BROKERS) unreachable: "
        "no answer to a Kafka metadata request within 5 s"
    ]
