"""Migration 0012 (bars without trade count or vwap) on a TimescaleDB that holds data, each
test on one of its own (PGlite): the continuous aggregates are created again and `prepare`
materializes them, compressed 1-minute chunks included; rollups that bars_1m can no longer
give back stop the migration instead of being lost."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from streams.exceptions import MigrationError
from streams.storage import migrate as migrations
from streams.storage import timescale
from streams.storage.policy import ChunkSizing
from tests.api.data import write
from tests.streams.sink.test_rollups import assert_rollups, make_bars
from tests.streams.storage.test_timescale_history import (
    compress_everything,
    days_ago,
    migrations_until,
)


def _as_of_0011(url: str, tmp_path: Path) -> None:
    migrations.migrate(url, migrations_until(11, tmp_path))
    timescale.configure(url, timescale.Horizons())


def test_0012_rebuilds_the_rollups_from_the_minute_bars_and_takes_bars_without_vwap(
    fresh_timescale_url: str, tmp_path: Path
) -> None:
    # Arrange: a database as 0011 left it, bars with vwap, compressed and materialized
    url = fresh_timescale_url
    _as_of_0011(url, tmp_path)
    before = make_bars("OLD", 6 * 60, seed=3, first_ns=days_ago(20))
    write(url, *before)
    compress_everything(url)
    timescale.refresh_rollups(url, timescale.Horizons())

    # Act
    applied, mode = migrations.prepare(url, timescale.Horizons(), ChunkSizing())

    # Assert: the rollups are aggregates again, materialized, with their policies
    assert [m.label for m in applied][0] == "0012_bar_files"  # and the migrations after it
    assert mode.continuous_aggregates == ("bars_1d", "bars_1h", "bars_5m")
    assert {(j.kind, j.relation) for j in mode.jobs} >= {
        (kind, view) for kind in ("compression", "refresh")
        for view in ("bars_5m", "bars_1h", "bars_1d")}
    with psycopg.connect(url) as conn:
        watermark = conn.execute(
            "SELECT _timescaledb_functions.to_timestamp(_timescaledb_functions"
            ".cagg_watermark(mat_hypertable_id)) FROM _timescaledb_catalog.continuous_agg"
            " WHERE user_view_name = 'bars_5m'").fetchone()
    assert watermark is not None and watermark[0].timestamp() * 1e9 > before[-1].start_ns
    assert_rollups(url, "OLD", before)
    bar = before[-1].model_copy(update={"bar_id": "NEW@1m@0", "symbol": "NEW",
                                        "trade_count": None, "vwap": None})
    write(url, bar)  # a bar file's bar, in a compressed chunk's range
    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT trade_count, vwap FROM bars_1m WHERE symbol = 'NEW'"
                              ).fetchall()
    assert stored == [(None, None)]


def test_0012_stops_rather_than_lose_rollups_whose_minute_bars_are_gone(
    fresh_timescale_url: str, tmp_path: Path
) -> None:
    # Arrange: rollups materialized, then the older minute bars deleted (as retention would)
    url = fresh_timescale_url
    _as_of_0011(url, tmp_path)
    write(url, *make_bars("OLD", 60, seed=4, first_ns=days_ago(30)),
          *make_bars("NEW", 60, seed=5, first_ns=days_ago(3)))
    timescale.refresh_rollups(url, timescale.Horizons())
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM bars_1m WHERE symbol = 'OLD'")

    # Act
    with pytest.raises(MigrationError) as caught:
        migrations.migrate(url)

    # Assert: named, and nothing changed
    assert "0012_bar_files" in str(caught.value)
    assert "bars_5m holds" in str(caught.value) and "before the oldest 1-minute bar" in str(
        caught.value)
    with psycopg.connect(url) as conn:
        kept = conn.execute("SELECT count(*) FROM bars_1d WHERE symbol = 'OLD'").fetchone()
        vwap_null = conn.execute("SELECT is_nullable FROM information_schema.columns"
                                 " WHERE table_name = 'bars_1m' AND column_name = 'vwap'"
                                 ).fetchone()
    assert kept is not None and kept[0] >= 1
    assert vwap_null == ("NO",)
