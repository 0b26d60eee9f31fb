"""Migrations: applied in order once, recorded with checksums, immutable once applied."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from streams.exceptions import MigrationError
from streams.schema import STORED
from streams.storage import migrate as migrations
from streams.storage.migrate import MIGRATIONS_DIR

REPO_ROOT = Path(__file__).resolve().parents[3]
EXPECTED_TABLES = {
    "trades", "bars_1m", "engine_health", "dead_letters", "schema_migrations",
    "vpin_readings", "microstructure_features", "alerts",
}


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
    return {name for (name,) in rows}


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    """A copy of the real migrations that a test may change."""
    return Path(shutil.copytree(MIGRATIONS_DIR, tmp_path / "migrations"))


def test_migrate_applies_everything_to_an_empty_database(scratch_database: str) -> None:
    applied = migrations.migrate(scratch_database)

    assert [m.version for m in applied] == [m.version for m in migrations.load()]
    assert applied[0].label == "0001_init"
    assert _tables(scratch_database) >= EXPECTED_TABLES


def test_second_migrate_applies_nothing(scratch_database: str) -> None:
    migrations.migrate(scratch_database)

    assert migrations.migrate(scratch_database) == []


def test_status_reports_pending_then_applied(scratch_database: str) -> None:
    before = migrations.status(scratch_database)
    tables_after_status = _tables(scratch_database)
    migrations.migrate(scratch_database)
    after = migrations.status(scratch_database)

    shipped = [(m.version, m.name) for m in migrations.load()]
    assert shipped[:2] == [(1, "init"), (2, "engine_outputs")]
    assert [(s.version, s.name, s.state) for s in before] == [(*m, "pending") for m in shipped]
    assert tables_after_status == set()  # status changes nothing
    assert [(s.version, s.name, s.state) for s in after] == [(*m, "applied") for m in shipped]
    assert after[0].applied_at is not None


def test_migrations_apply_in_version_order(scratch_database: str, migrations_dir: Path) -> None:
    (migrations_dir / "0099_third.sql").write_text("INSERT INTO seen VALUES (3);\n")
    (migrations_dir / "0098_second.sql").write_text(
        "CREATE TABLE seen (n int);\nINSERT INTO seen VALUES (2);\n"
    )

    applied = migrations.migrate(scratch_database, migrations_dir)

    shipped = [m.label for m in migrations.load()]
    assert [m.label for m in applied] == [*shipped, "0098_second", "0099_third"]
    with psycopg.connect(scratch_database) as conn:
        assert conn.execute("SELECT n FROM seen").fetchall() == [(2,), (3,)]


def test_a_changed_applied_migration_is_an_error(
    scratch_database: str, migrations_dir: Path
) -> None:
    migrations.migrate(scratch_database, migrations_dir)
    init = migrations_dir / "0001_init.sql"
    init.write_text(init.read_text() + "\n-- edited after the fact\n")

    with pytest.raises(MigrationError, match="0001_init"):
        migrations.migrate(scratch_database, migrations_dir)
    states = [s.state for s in migrations.status(scratch_database, migrations_dir)]
    assert states[0] == "changed" and set(states[1:]) == {"applied"}


def test_a_failing_migration_leaves_nothing_behind(
    scratch_database: str, migrations_dir: Path
) -> None:
    (migrations_dir / "0098_broken.sql").write_text(
        "CREATE TABLE half (n int);\nSELECT no_such_function();\n"
    )

    with pytest.raises(MigrationError, match="0098_broken"):
        migrations.migrate(scratch_database, migrations_dir)

    assert "half" not in _tables(scratch_database)
    states = [(s.version, s.state) for s in migrations.status(scratch_database, migrations_dir)]
    shipped = [(m.version, "applied") for m in migrations.load()]
    assert states == [*shipped, (98, "pending")]


def test_a_migration_the_code_does_not_know_is_an_error(
    scratch_database: str, migrations_dir: Path
) -> None:
    (migrations_dir / "0098_later.sql").write_text("SELECT 1;\n")
    migrations.migrate(scratch_database, migrations_dir)

    with pytest.raises(MigrationError, match="0098_later"):
        migrations.migrate(scratch_database)
    assert migrations.status(scratch_database)[-1].state == "unknown"


def test_a_badly_named_file_is_an_error(migrations_dir: Path) -> None:
    (migrations_dir / "2_oops.sql").write_text("SELECT 1;\n")

    with pytest.raises(MigrationError, match="2_oops.sql"):
        migrations.load(migrations_dir)


def test_unreachable_database_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    url = f"postgresql://postgres:hunter2@/postgres?host={tmp_path}"

    with pytest.raises(migrations.StorageError) as info:
        migrations.migrate(url)

    assert "unreachable" in str(info.value) and "hunter2" not in str(info.value)


def db_cli(database_url: str, base_env: dict[str, str], *args: str,
           **env: str) -> subprocess.CompletedProcess[str]:
    """`nautilus-streams db ARGS` against `database_url`, with extra environment `env`."""
    return subprocess.run([sys.executable, "-m", "streams", "db", *args],
                          env={**base_env, "DATABASE_URL": database_url, **env}, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)


def test_db_cli_migrates_and_reports_status(
    scratch_database: str, base_env: dict[str, str]
) -> None:
    first = db_cli(scratch_database, base_env, "migrate")
    status = db_cli(scratch_database, base_env, "status")

    assert first.returncode == 0, first.stderr
    assert "applied  0001_init" in first.stdout
    assert status.returncode == 0, status.stderr
    assert "0001     init" in status.stdout and "applied" in status.stdout
    assert "storage: plain PostgreSQL" in first.stdout
    assert "storage: plain PostgreSQL" in status.stdout


def test_db_cli_on_timescaledb_reports_policies_and_refuses_bad_horizons(
    timescale_url: str, base_env: dict[str, str]
) -> None:
    status = db_cli(timescale_url, base_env, "status")
    refresh = db_cli(timescale_url, base_env, "refresh-rollups")
    bad = db_cli(timescale_url, base_env, "migrate", NAUTILUS_STORAGE_TICK_RETENTION="9y")

    assert status.returncode == 0, status.stderr
    hypertables = sum(s.hypertable for s in STORED.values())
    assert "storage: TimescaleDB" in status.stdout
    assert f"{hypertables} hypertables" in status.stdout
    assert "retention    trades" in status.stdout and '"drop_after": "90 days"' in status.stdout
    assert "chunks    trades                   1 hour" in status.stdout
    assert "chunks    bars_1m                  7 days" in status.stdout
    assert refresh.returncode == 0 and "refreshed bars_5m" in refresh.stdout
    assert bad.returncode != 0 and "horizon '9y'" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_db_cli_sizes_tick_chunks_from_the_configured_rates(
    timescale_url: str, base_env: dict[str, str]
) -> None:
    # 10,000 trades/s x 110 B + 100 features/s x 51 B of index per second: 8 GB hold 2 hours
    rates = {"NAUTILUS_STORAGE_TRADES_PER_S": "10000", "NAUTILUS_STORAGE_FEATURES_PER_S": "100",
             "NAUTILUS_STORAGE_INDEX_MEMORY": "8GB"}
    try:
        busy = db_cli(timescale_url, base_env, "migrate", **rates)
        status = db_cli(timescale_url, base_env, "status")
        bad = db_cli(timescale_url, base_env, "migrate", NAUTILUS_STORAGE_INDEX_MEMORY="lots")
    finally:
        db_cli(timescale_url, base_env, "migrate")  # the defaults again

    assert busy.returncode == 0, busy.stderr
    assert "chunks    trades                   2 hours" in status.stdout
    assert "chunks    microstructure_features  2 hours" in status.stdout
    assert bad.returncode != 0 and "size 'lots'" in bad.stderr and "Traceback" not in bad.stderr
