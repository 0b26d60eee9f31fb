"""Real services for the whole test session, started once.

- `kafka_brokers`: an embedded Tansu broker with the catalog's topics; the bootstrap string.
- `database_url`: an embedded PostgreSQL (in a temp dir) with the migrations applied.
- `timescale_url`: a real TimescaleDB (PGlite under Node.js, tests/pglite) with the
  migrations applied and the default policies set; `any_database_url` runs a test on both.
  `fresh_timescale_url`: a new, empty one for a single test.
- `base_env`: os.environ without service settings (what `up` should see to embed both).
- `services_env`: an environment for subprocesses (worker, api, ...) pointing at both; tests
  pass it explicitly (`subprocess.run(..., env=services_env)`), nothing edits os.environ.
- `db`: a connection inside a transaction that is rolled back, so a test leaves the shared
  database as it found it. `scratch_database`: a fresh empty database, dropped afterwards,
  for tests that need DDL or migrations of their own.

Tests that produce records use their own topics (see `topic`), so the catalog's topics stay
empty for everyone.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg
import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg import conninfo, sql

from streams import kafka
from streams.catalog import Catalog
from streams.embedded import EmbeddedBroker, EmbeddedPostgres
from streams.storage import migrate as migrations
from streams.storage import timescale
from tests.pglite import PGliteTimescale, Unavailable
from tests.streams.runtime.workers import close_producers

REPO_ROOT = Path(__file__).resolve().parents[1]
TOPICS_YAML = REPO_ROOT / "topics.yaml"
# Variables that would point a subprocess somewhere else than the session's services.
SERVICE_VARS = (
    "KAFKA_BROKERS", "NAUTILUS_KAFKA_BROKERS", "DATABASE_URL", "NAUTILUS_DATABASE_URL",
    "NAUTILUS_STATE_DIR", "NAUTILUS_STACKS_DIR",
)

logging.getLogger("pgserver").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def base_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """os.environ without any broker, database or state dir setting, for subprocesses; the
    registry of running `up` stacks is the session's own, so a developer's running `up` is
    never found and no test's `up` is registered for the developer's commands."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    return {**env, "NAUTILUS_STACKS_DIR": str(tmp_path_factory.mktemp("stacks"))}


@pytest.fixture(scope="session")
def kafka_brokers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of the session's broker, the catalog's topics created."""
    broker = EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "broker.log")
    with broker:
        kafka.apply_catalog(Catalog.load(TOPICS_YAML), broker.bootstrap)
        yield broker.bootstrap
        close_producers()


@contextmanager
def _traversable_tmp_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def traversable_tmp_path() -> Iterator[Path]:
    """A temp dir for embedded PostgreSQL data, outside pytest's basetemp.

    As root, pgserver runs PostgreSQL as another user and opens up the data dir's parents for
    it; every pytest session makes /tmp/pytest-of-<user> private again, which would lock a
    running server out of a data dir there.
    """
    with _traversable_tmp_dir("nautilus-test-") as path:
        yield path


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """URL of the session's PostgreSQL, every migration applied."""
    with _traversable_tmp_dir("nautilus-test-pg-") as path, EmbeddedPostgres(path / "data") as db:
        migrations.migrate(db.url)
        yield db.url


@contextmanager
def _pglite_timescale() -> Iterator[str]:
    """A PGlite TimescaleDB's URL; skipped where Node.js or tests/pglite's package is missing,
    which in CI is a failure."""
    with ExitStack() as stack:
        try:
            server = stack.enter_context(PGliteTimescale())
        except Unavailable as exc:
            if os.environ.get("CI"):
                pytest.fail(f"CI must run the TimescaleDB tests: {exc}")
            pytest.skip(str(exc))
        yield server.url


@pytest.fixture(scope="session")
def timescale_url() -> Iterator[str]:
    """URL of a real TimescaleDB with every migration applied and the default policies set."""
    with _pglite_timescale() as url:
        migrations.migrate(url)
        timescale.configure(url, timescale.Horizons(), materialize=True)
        yield url


@pytest.fixture
def fresh_timescale_url() -> Iterator[str]:
    """URL of a TimescaleDB of the test's own, nothing applied: for tests that drop chunks,
    alter tables or migrate step by step (the session's is shared)."""
    with _pglite_timescale() as url:
        yield url


@pytest.fixture(params=["postgresql", "timescaledb"])
def any_database_url(request: pytest.FixtureRequest) -> str:
    """The test runs twice: on plain PostgreSQL and on TimescaleDB."""
    name = "database_url" if request.param == "postgresql" else "timescale_url"
    return str(request.getfixturevalue(name))


@pytest.fixture(scope="session")
def services_env(
    base_env: dict[str, str], kafka_brokers: str, database_url: str
) -> dict[str, str]:
    """Environment for subprocesses: the session's broker and database, nothing else."""
    return {**base_env, "KAFKA_BROKERS": kafka_brokers, "DATABASE_URL": database_url}


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """A connection whose work is rolled back after the test."""
    with psycopg.connect(database_url) as conn:
        try:
            yield conn
        finally:
            conn.rollback()


@pytest.fixture
def scratch_database(database_url: str) -> Iterator[str]:
    """URL of a new empty database on the session's server; dropped after the test."""
    name = f"scratch_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield conninfo.make_conninfo(database_url, dbname=name)
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def topic(kafka_brokers: str) -> Iterator[str]:
    """A new single-partition topic on the session's broker; deleted after the test."""
    yield from _new_topic(kafka_brokers)


@pytest.fixture
def second_topic(kafka_brokers: str) -> Iterator[str]:
    """Another new single-partition topic, for a test that publishes to two."""
    yield from _new_topic(kafka_brokers)


def _new_topic(kafka_brokers: str) -> Iterator[str]:
    name = f"test.{uuid.uuid4().hex[:12]}"
    client = AdminClient({"bootstrap.servers": kafka_brokers})
    for fut in client.create_topics([NewTopic(name, 1, 1)], request_timeout=10).values():
        fut.result()
    try:
        yield name
    finally:
        for fut in client.delete_topics([name], request_timeout=10).values():
            fut.result()
