"""Other people's files: column maps, time units, ISO-8601 times with and without a zone, and
a symbol for files without one. Expected times are worked out from the calendar by hand:
2024-01-02T00:00Z is 1704153600 s since the epoch (2024-01-01 is 1704067200), and New York
is UTC-5 in January (EST), UTC-4 in July (EDT)."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streams.cli.main import build_parser
from streams.exceptions import ConfigError, InputFileError
from streams.feeds.files import FileOptions, iter_events, read_market_file
from streams.feeds.mapping import ColumnMap
from streams.schema import Trade

S = 1_000_000_000
JAN2_UTC_S = 1_704_153_600  # 2024-01-02T00:00:00Z
JAN2_0930_NY_NS = (JAN2_UTC_S + 14 * 3600 + 30 * 60) * S  # 09:30 EST = 14:30Z
JUL1_UTC_S = 1_704_067_200 + 182 * 86_400  # 2024-07-01T00:00Z: 31+29+31+30+31+30 days on
JUL1_0930_NY_NS = (JUL1_UTC_S + 13 * 3600 + 30 * 60) * S  # 09:30 EDT = 13:30Z


def _csv(tmp_path: Path, text: str, name: str = "vendor.csv") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def _rejected(path: Path, options: FileOptions) -> list[tuple[int, str]]:
    return [(b.line, b.reason) for b in read_market_file(path, options).rejected]


VENDOR_MAP = ColumnMap.parse("ts=timestamp,price=px,size=qty,symbol=ticker")


# ---- the column map ---------------------------------------------------------------------------


def test_mapped_csv_becomes_trades_known_answer(tmp_path: Path) -> None:
    # Arrange: a vendor's names; `side` is one of ours and needs no mapping
    path = _csv(tmp_path, """
        timestamp,ticker,px,qty,side,exchange
        2024-01-02T09:30:00.123456789-05:00,AAPL,185.640,100,B,XNAS
        2024-01-02T14:30:01Z,MSFT,370.1,5,S,XNAS
    """)

    # Act
    mf = read_market_file(path, FileOptions(column_map=VENDOR_MAP))
    trades = list(iter_events(mf))

    # Assert
    assert mf.rejected == []
    assert trades == [
        Trade(ts_event=JAN2_0930_NY_NS + 123_456_789, ts_init=JAN2_0930_NY_NS + 123_456_789,
              symbol="AAPL", price=Decimal("185.640"), size=100, aggressor="buy"),
        Trade(ts_event=JAN2_0930_NY_NS + S, ts_init=JAN2_0930_NY_NS + S, symbol="MSFT",
              price=Decimal("370.1"), size=5, aggressor="sell"),
    ]
    assert str(trades[0].price) == "185.640"  # the file's digits, not a float's


def test_map_shadows_the_files_own_column_of_that_name(tmp_path: Path) -> None:
    path = _csv(tmp_path, """
        ts_event,symbol,price,last,size
        1,AAPL,0.01,185.64,3
    """)

    mf = read_market_file(path, FileOptions(column_map=ColumnMap.parse("price=last")))

    assert mf.price_text["price"].to_pylist() == ["185.64"]


def test_symbol_fills_in_for_files_without_one(tmp_path: Path) -> None:
    path = _csv(tmp_path, """
        time_ms,price,size
        1704205800123,5012.25,2
    """)
    options = FileOptions(column_map=ColumnMap.parse("ts=time_ms"), ts_unit="ms", symbol="ESZ6")

    (trade,) = iter_events(read_market_file(path, options))

    assert (trade.symbol, trade.ts_event) == ("ESZ6", JAN2_0930_NY_NS + 123_000_000)


@pytest.mark.parametrize(("text", "message"), [
    ("ts", "TARGET=SOURCE"),
    ("=px", "TARGET=SOURCE"),
    ("colour=px", "unknown target column 'colour'"),
    ("ts=a,ts_event=b", "ts_event is mapped twice"),
])
def test_bad_maps_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ColumnMap.parse(text)


def test_map_naming_a_missing_column_lists_the_files_columns(tmp_path: Path) -> None:
    path = _csv(tmp_path, "timestamp,ticker,px,qty\n1,A,1,1\n")

    with pytest.raises(InputFileError, match=r"not in the file: volume \(columns: timestamp"):
        read_market_file(path, FileOptions(column_map=ColumnMap.parse("size=volume")))


def test_unmapped_vendor_columns_say_how_to_map_them(tmp_path: Path) -> None:
    path = _csv(tmp_path, "timestamp,ticker,px,qty\n1,A,1,1\n")

    with pytest.raises(InputFileError, match="--map"):
        read_market_file(path)


def test_cli_map_option_parses_and_refuses() -> None:
    parser = build_parser()

    args = parser.parse_args(["replay", "--input", "x.csv", "--out", "o",
                              "--map", "ts=timestamp,price=px"])

    assert args.column_map.targets == {"ts_event": "timestamp", "price": "px"}
    with pytest.raises(SystemExit):
        parser.parse_args(["replay", "--input", "x.csv", "--out", "o", "--map", "nope"])


# ---- times ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cell", "unit", "expected_ns"), [
    ("1704205800", "s", JAN2_0930_NY_NS),
    ("1704205800.5", "s", JAN2_0930_NY_NS + 500_000_000),
    ("1704205800.123456789", "s", JAN2_0930_NY_NS + 123_456_789),  # exact: no float
    ("1704205800123", "ms", JAN2_0930_NY_NS + 123_000_000),
    ("1704205800123.25", "ms", JAN2_0930_NY_NS + 123_250_000),
    ("1704205800123456", "us", JAN2_0930_NY_NS + 123_456_000),
    ("1704205800123456789", "ns", JAN2_0930_NY_NS + 123_456_789),
])
def test_epoch_numbers_in_each_unit(tmp_path: Path, cell: str, unit: str, expected_ns: int
                                    ) -> None:
    path = _csv(tmp_path, f"ts_event,symbol,price,size\n{cell},A,1.5,1\n")

    mf = read_market_file(path, FileOptions(ts_unit=unit))

    assert mf.columns["ts_event"].tolist() == [expected_ns]


@pytest.mark.parametrize(("cell", "tz", "expected_ns"), [
    ("2024-01-02T09:30:00-05:00", None, JAN2_0930_NY_NS),  # an offset is kept
    ("2024-01-02T15:30:00+01:00", "America/New_York", JAN2_0930_NY_NS),  # whatever --tz
    ("2024-01-02T14:30:00Z", "Asia/Tokyo", JAN2_0930_NY_NS),
    ("2024-01-02T14:30:00", None, JAN2_0930_NY_NS),  # naive: UTC by default
    ("2024-01-02 09:30:00", "America/New_York", JAN2_0930_NY_NS),  # naive: in --tz (EST)
    ("2024-07-01T09:30:00", "America/New_York", JUL1_0930_NY_NS),  # summer time (EDT)
    ("2024-01-02", "America/New_York", (JAN2_UTC_S + 5 * 3600) * S),  # local midnight
])
def test_iso_times_with_and_without_zone(tmp_path: Path, cell: str, tz: str | None,
                                         expected_ns: int) -> None:
    path = _csv(tmp_path, f"when,symbol,price,size\n{cell},A,1.5,1\n")

    mf = read_market_file(path, FileOptions(column_map=ColumnMap.parse("ts=when"), tz=tz))

    assert mf.rejected == []
    assert mf.columns["ts_event"].tolist() == [expected_ns]


def test_bad_times_are_reported_with_their_lines(tmp_path: Path) -> None:
    path = _csv(tmp_path, """
        ts_event,symbol,price,size
        2024-01-02 09:30:00,A,1.5,1
        yesterday,A,1.5,1
        2024-03-10 02:30:00,A,1.5,1
        1704205800.5,A,1.5,1
        ,A,1.5,1
        1969-12-31T23:59:59Z,A,1.5,1
    """)

    rejected = _rejected(path, FileOptions(tz="America/New_York"))

    assert rejected == [
        (3, "ts_event is not a time: 'yesterday' (expected epoch ns or ISO-8601)"),
        (4, "ts_event '2024-03-10 02:30:00' is a local time that a clock change skips or "
            "repeats in America/New_York"),
        (5, "ts_event is not a time: '1704205800.5' (expected epoch ns or ISO-8601)"),
        (6, "ts_event is missing"),
        (7, "ts_event is before 1970"),
    ]


def test_parquet_timestamps_naive_in_tz_aware_as_given(tmp_path: Path) -> None:
    path = tmp_path / "vendor.parquet"
    naive_0930 = (JAN2_UTC_S + 9 * 3600 + 30 * 60) * S  # 09:30 on the wall clock
    pq.write_table(pa.table({
        "local": pa.array([naive_0930], pa.timestamp("ns")),
        "exact": pa.array([JAN2_0930_NY_NS], pa.timestamp("ns", tz="Europe/Paris")),
        "symbol": ["A"], "price": [1.5], "size": [1],
    }), path)

    local = read_market_file(path, FileOptions(column_map=ColumnMap.parse("ts=local"),
                                               tz="America/New_York"))
    exact = read_market_file(path, FileOptions(column_map=ColumnMap.parse("ts=exact"),
                                               tz="America/New_York"))

    assert local.columns["ts_event"].tolist() == [JAN2_0930_NY_NS]
    assert exact.columns["ts_event"].tolist() == [JAN2_0930_NY_NS]


def test_unknown_zone_and_unit_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown time zone"):
        FileOptions(tz="Mars/Olympus")
    with pytest.raises(ConfigError, match="time unit"):
        FileOptions(ts_unit="min")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["feed", "file", "-i", "a.csv", "--tz", "Nowhere/City"])
