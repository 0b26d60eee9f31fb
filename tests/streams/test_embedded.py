"""The embedded broker and database: they start, serve real clients and stop without leftovers."""

from __future__ import annotations

import os
import socket
import stat
import uuid
from pathlib import Path

import psutil
import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from streams.embedded import EmbeddedBroker, EmbeddedPostgres, free_port, port_is_free
from streams.exceptions import ServiceError


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def test_broker_round_trips_a_record(kafka_brokers: str, topic: str) -> None:
    producer = Producer({"bootstrap.servers": kafka_brokers, "enable.idempotence": True})
    producer.produce(topic, key=b"AAPL", value=b'{"price":"101.01"}')
    assert producer.flush(10) == 0

    consumer = Consumer({
        "bootstrap.servers": kafka_brokers,
        "group.id": f"test-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
    })
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        msg = consumer.poll(10)
    finally:
        consumer.close()

    assert msg is not None and msg.error() is None
    assert (msg.key(), msg.value()) == (b"AAPL", b'{"price":"101.01"}')


def test_broker_stop_frees_the_port_and_ends_the_process(tmp_path: Path) -> None:
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log")
    bootstrap = broker.start()
    pid, port = broker.pid, broker.port
    assert bootstrap == f"127.0.0.1:{port}"
    assert pid is not None and port is not None and _accepts("127.0.0.1", port)

    broker.stop()

    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not _accepts("127.0.0.1", port)
    assert port_is_free("127.0.0.1", port)
    broker.stop()  # a second stop is harmless


def test_broker_on_a_taken_port_fails_clearly(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker = EmbeddedBroker(log_path=tmp_path / "broker.log", port=port)

        with pytest.raises(ServiceError, match=f"port 127.0.0.1:{port} is already in use"):
            broker.start()


def test_broker_that_dies_at_startup_reports_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "tansu"
    fake.write_text("#!/bin/sh\necho 'cannot open storage: disk on fire' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("CALF_TANSU_BIN", str(fake))
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log", port=free_port())

    with pytest.raises(ServiceError, match="exited with code 3") as info:
        broker.start(timeout_s=5)

    assert "disk on fire" in str(info.value)
    assert not broker.alive()


def test_postgres_answers_select_1(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_postgres_stops_and_keeps_its_data(traversable_tmp_path: Path) -> None:
    database = EmbeddedPostgres(traversable_tmp_path / "pg")
    with database:
        postmaster = database.pid
        with psycopg.connect(database.url) as conn:
            conn.execute("CREATE TABLE kept (x int)")
            conn.execute("INSERT INTO kept VALUES (42)")
    assert postmaster is not None
    assert not database.alive()
    assert not psutil.pid_exists(postmaster) or (
        psutil.Process(postmaster).status() == psutil.STATUS_ZOMBIE
    )

    with database, psycopg.connect(database.url) as conn:
        assert conn.execute("SELECT x FROM kept").fetchone() == (42,)
    assert not (traversable_tmp_path / "pg" / "postmaster.pid").exists()


def test_postgres_url_is_for_psycopg_and_has_no_password(database_url: str) -> None:
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    assert not info.get("password")
    assert os.path.isdir(str(info["host"]))
