"""Market files: kinds told by columns, known-answer columns, stable order, rejected rows with
line numbers, exact prices back on the wire, and the `feed file` command's file handling."""

from __future__ import annotations

import gzip
import textwrap
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streams.catalog import Catalog
from streams.cli.main import build_parser, main
from streams.codec import decode_columns, encode
from streams.exceptions import InputFileError
from streams.feeds import TOPIC_BY_MODEL
from streams.feeds.badrows import BadRows
from streams.feeds.files import (
    FileOptions,
    MarketFile,
    iter_events,
    market_runs,
    read_market_file,
)
from streams.schema import DepthSnapshot, Quote, Trade
from streams.settings import REPO_ROOT
from tests.factories import T0


def _csv(tmp_path: Path, text: str, name: str = "market.csv") -> Path:
    path = tmp_path / name
    body = textwrap.dedent(text).lstrip("\n")
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(body.encode()))
    else:
        path.write_text(body)
    return path


def _parquet(tmp_path: Path, columns: dict[str, pa.Array], name: str = "m.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(pa.table(columns), path)
    return path


def _assert_columns_equal(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert actual.keys() == expected.keys()
    for name, column in expected.items():
        assert actual[name].dtype == column.dtype, name
        np.testing.assert_array_equal(actual[name], column, err_msg=name)


def _rejected(mf: MarketFile) -> list[tuple[int, str]]:
    return [(bad.line, bad.reason) for bad in mf.rejected]


def _decoded_again(mf: MarketFile) -> dict[str, np.ndarray]:
    """The file's events through the wire and the columnar decoder, as an engine sees them."""
    events = list(iter_events(mf))
    columns, rejected = decode_columns(type(events[0]).__name__, [encode(e) for e in events])
    assert rejected == []
    return columns


TRADES_CSV = f"""
ts_event,symbol,price,size,side,venue
{T0 + 3},AAPL,101.01,100,B,XNAS
{T0 + 1},MSFT,420.10,5,sell,XNAS
{T0 + 2},AAPL,101.02,7,,XNAS
"""


# ---- trades ----------------------------------------------------------------------------------


def test_trades_csv_known_answer(tmp_path: Path) -> None:
    # Act
    mf = read_market_file(_csv(tmp_path, TRADES_CSV))

    # Assert
    assert mf.topic == "market.trades"
    assert _rejected(mf) == []
    _assert_columns_equal(mf.columns, {
        "ts_event": np.array([T0 + 1, T0 + 2, T0 + 3], dtype=np.int64),
        "ts_init": np.array([T0 + 1, T0 + 2, T0 + 3], dtype=np.int64),
        "symbol": np.array(["MSFT", "AAPL", "AAPL"], dtype=object),
        "price": np.array([420.10, 101.02, 101.01]),
        "price_scale": np.array([2, 2, 2], dtype=np.int8),
        "size": np.array([5, 7, 100], dtype=np.int64),
        "aggressor": np.array([-1, 0, 1], dtype=np.int8),
        "unreported": np.zeros(3, dtype=np.bool_),
    })
    assert mf.price_text["price"].to_pylist() == ["420.10", "101.02", "101.01"]
    assert mf.lines.tolist() == [3, 4, 2]


def test_trades_columns_are_what_the_codec_decodes(tmp_path: Path) -> None:
    mf = read_market_file(_csv(tmp_path, TRADES_CSV))

    _assert_columns_equal(mf.columns, _decoded_again(mf))


def test_equal_timestamps_keep_file_order(tmp_path: Path) -> None:
    path = _csv(tmp_path, """
        ts_event,symbol,price,size
        5,A,1.1,1
        1,A,2.1,1
        5,A,3.1,1
        1,A,4.1,1
        5,A,5.1,1
    """)

    mf = read_market_file(path)

    assert mf.price_text["price"].to_pylist() == ["2.1", "4.1", "1.1", "3.1", "5.1"]
    assert mf.lines.tolist() == [3, 5, 2, 4, 6]


def test_bad_rows_are_reported_with_their_line_numbers(tmp_path: Path) -> None:
    # Arrange: line 1 is the header; line 4 is blank (skipped, but it still counts)
    path = _csv(tmp_path, """
        ts_event,symbol,price,size,aggressor
        10,AAPL,101.01,100,buy
        11,AAPL,abc,100,buy

        12,AAPL,101.01,0,buy
        13,,101.01,1,buy
        14,AAPL,-1,1,sell
        15,AAPL,nan,1,sell
        16,AAPL,101.01,1,hold
        1.5e3,AAPL,101.01,1,buy
        17,AAPL,101.01
        18,AAPL,,1,buy
        19,MSFT,420.00,2,S
    """)

    # Act
    mf = read_market_file(path)

    # Assert
    assert mf.lines.tolist() == [2, 13]
    lines = [line for line, _ in _rejected(mf)]
    assert lines == [3, 5, 6, 7, 8, 9, 10, 11, 12]
    reasons = dict(_rejected(mf))
    assert "price is not a number: 'abc'" in reasons[3]
    assert "size must be >= 1" in reasons[5]
    assert reasons[6] == "missing symbol"
    assert "positive finite price" in reasons[7]
    assert "positive finite price" in reasons[8]
    assert "aggressor must be buy/sell" in reasons[9]
    assert reasons[10] == "ts_event is not a time: '1.5e3' (expected epoch ns or ISO-8601)"
    assert "expected 5 fields, got 3" in reasons[11]
    assert reasons[12] == "price is missing"


def test_trades_parquet_with_typed_columns(tmp_path: Path) -> None:
    path = _parquet(tmp_path, {
        "ts_event": pa.array([T0 + 2, T0 + 1], pa.int64()),
        "symbol": pa.array(["AAPL", "ESZ6"]),
        "price": pa.array([101.01, 5000.25], pa.float64()),
        "size": pa.array([3, 1], pa.int64()),
        "aggressor": pa.array(["S", None]),
    })

    mf = read_market_file(path)

    assert _rejected(mf) == []
    assert mf.columns["ts_event"].tolist() == [T0 + 1, T0 + 2]
    assert mf.price_text["price"].to_pylist() == ["5000.25", "101.01"]
    assert mf.columns["aggressor"].tolist() == [0, -1]
    _assert_columns_equal(mf.columns, _decoded_again(mf))


def test_parquet_rows_are_numbered_like_a_spreadsheet(tmp_path: Path) -> None:
    path = _parquet(tmp_path, {
        "ts_event": pa.array([1, 2, 3], pa.int64()),
        "symbol": pa.array(["A", "A", None]),
        "price": pa.array([1.5, None, 2.0]),
        "size": pa.array([1, 1, 1]),
    })

    mf = read_market_file(path)

    assert _rejected(mf) == [(3, "price is missing"), (4, "missing symbol")]


def test_parquet_timestamp_and_decimal_columns(tmp_path: Path) -> None:
    from decimal import Decimal

    path = _parquet(tmp_path, {
        "ts_event": pa.array([T0 + 7], pa.timestamp("ns", tz="UTC")),
        "symbol": pa.array(["AAPL"]),
        "price": pa.array([Decimal("101.010")], pa.decimal128(10, 3)),
        "size": pa.array([4], pa.int32()),
    })

    mf = read_market_file(path)

    assert mf.columns["ts_event"].tolist() == [T0 + 7]
    assert mf.price_text["price"].to_pylist() == ["101.010"]


# ---- quotes ---------------------------------------------------------------------------------


def test_quotes_csv_gz_known_answer_with_optional_ts_init(tmp_path: Path) -> None:
    path = _csv(tmp_path, f"""
        ts_event,ts_init,symbol,bid_price,bid_size,ask_price,ask_size
        {T0 + 1},{T0 + 9},ESZ6,5000.25,3,5000.50,4
        {T0 + 2},,ESZ6,5000.50,0,5000.50,2
        {T0 + 3},{T0 + 9},ESZ6,5000.75,1,5000.50,1
    """, name="quotes.csv.gz")

    mf = read_market_file(path)

    assert mf.topic == "market.quotes"
    _assert_columns_equal(mf.columns, {
        "ts_event": np.array([T0 + 1, T0 + 2], dtype=np.int64),
        "ts_init": np.array([T0 + 9, T0 + 2], dtype=np.int64),
        "symbol": np.array(["ESZ6", "ESZ6"], dtype=object),
        "bid_price": np.array([5000.25, 5000.50]),
        "bid_size": np.array([3, 0], dtype=np.int64),
        "ask_price": np.array([5000.50, 5000.50]),
        "ask_size": np.array([4, 2], dtype=np.int64),
    })
    assert _rejected(mf) == [(4, "crossed quote: bid 5000.75 > ask 5000.50")]
    _assert_columns_equal(mf.columns, _decoded_again(mf))


# ---- depth ----------------------------------------------------------------------------------

DEPTH_HEADER = (
    "ts_event,symbol,bid_price_1,bid_size_1,bid_price_2,bid_size_2,"
    "ask_price_1,ask_size_1,ask_price_2,ask_size_2,ask_price_3,ask_size_3"
)


def test_depth_csv_pads_to_ten_levels(tmp_path: Path) -> None:
    path = _csv(tmp_path, DEPTH_HEADER + "\n" + textwrap.dedent("""
        2,ES,100.50,3,100.25,4,100.75,1,101.00,2,101.25,5
        1,ES,100.50,3,,,100.75,1,,,,
    """).lstrip())

    mf = read_market_file(path)

    assert mf.topic == "market.depth"
    assert _rejected(mf) == []
    bid, ask = mf.columns["bid_price"], mf.columns["ask_price"]
    assert bid.shape == ask.shape == (2, 10)
    np.testing.assert_array_equal(bid[1, :3], [100.50, 100.25, np.nan])
    np.testing.assert_array_equal(ask[1, :4], [100.75, 101.00, 101.25, np.nan])
    assert mf.columns["ask_size"][1].tolist() == [1, 2, 5] + [0] * 7
    assert mf.columns["bid_size"][0].tolist() == [3] + [0] * 9
    assert mf.price_text["ask_price"][1].as_py()[:4] == ["100.75", "101.00", "101.25", None]
    _assert_columns_equal(mf.columns, _decoded_again(mf))


def test_depth_bad_books_are_rejected(tmp_path: Path) -> None:
    path = _csv(tmp_path, DEPTH_HEADER + "\n" + textwrap.dedent("""
        1,ES,100.50,3,100.75,4,100.75,1,101.00,2,,
        2,ES,100.50,3,,,100.75,1,,,101.25,5
        3,ES,100.50,3,,,100.50,1,,,,
        4,ES,100.50,3,,7,100.75,1,,,,
        5,ES,100.50,,,,100.75,1,,,,
        6,ES,100.50,3,,,100.75,1,100.70,2,,
    """).lstrip())

    mf = read_market_file(path)

    assert len(mf) == 0
    assert _rejected(mf) == [
        (2, "bid prices must strictly decrease from level 1"),
        (3, "ask levels have a gap (an empty level before a priced one)"),
        (4, "crossed book: best bid 100.50 >= best ask 100.50"),
        (5, "bid_size_2 given without bid_price_2"),
        (6, "bid_size_1 missing for a priced level"),
        (7, "ask prices must strictly increase from level 1"),
    ]


def test_depth_parquet_with_null_levels(tmp_path: Path) -> None:
    path = _parquet(tmp_path, {
        "ts_event": pa.array([5]),
        "symbol": pa.array(["EURUSD"]),
        "bid_price_1": pa.array(["1.08500"]),
        "bid_size_1": pa.array([1_000_000]),
        "bid_price_2": pa.array([None], pa.string()),
        "bid_size_2": pa.array([None], pa.int64()),
        "ask_price_1": pa.array(["1.08505"]),
        "ask_size_1": pa.array([2_000_000]),
    })

    mf = read_market_file(path)
    (book,) = iter_events(mf)

    assert isinstance(book, DepthSnapshot)
    assert [str(p) for p in book.bid_prices] == ["1.08500"]
    assert [str(p) for p in book.ask_prices] == ["1.08505"]
    assert book.bid_sizes == [1_000_000]


# ---- structure errors -----------------------------------------------------------------------


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    path = _csv(tmp_path, "ts_event,symbol,price\n1,AAPL,101.01\n")

    with pytest.raises(InputFileError, match=r"market.trades file is missing .*: size"):
        read_market_file(path)


def test_missing_depth_size_column_is_named(tmp_path: Path) -> None:
    path = _csv(tmp_path, "ts_event,symbol,bid_price_1,bid_size_1,ask_price_1,ask_size_1,"
                          "bid_price_2\n1,A,1,1,2,1,0.5\n")

    with pytest.raises(InputFileError, match="missing column bid_size_2"):
        read_market_file(path)


def test_columns_of_no_known_kind_are_explained(tmp_path: Path) -> None:
    path = _csv(tmp_path, "when,what\n1,2\n")

    with pytest.raises(InputFileError,
                       match="cannot tell trades, quotes, depth or bars.*trades needs"):
        read_market_file(path)


@pytest.mark.parametrize("name", ["market.json", "market.xlsx", "market.csv.bz2"])
def test_unknown_extension_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("ts_event,symbol,price,size\n")

    with pytest.raises(InputFileError, match="unknown file type"):
        read_market_file(path)


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        read_market_file(tmp_path / "nope.csv")


def test_header_only_file_is_empty_not_an_error(tmp_path: Path) -> None:
    mf = read_market_file(_csv(tmp_path, "ts_event,symbol,price,size\n"))

    assert len(mf) == 0
    assert list(iter_events(mf)) == []


# ---- back to wire models --------------------------------------------------------------------


def test_iter_events_keeps_exact_decimal_prices(tmp_path: Path) -> None:
    path = _csv(tmp_path, """
        ts_event,symbol,price,size,side
        1,AAPL,101.01,100,B
        2,AAPL,101.010,5,S
        3,EURUSD,1.08505,1000000,
    """)

    events = list(iter_events(read_market_file(path)))

    assert [orjson.loads(encode(e))["price"] for e in events] == ["101.01", "101.010", "1.08505"]
    assert [e.aggressor for e in events] == ["buy", "sell", None]
    assert all(isinstance(e, Trade) and e.ts_init == e.ts_event for e in events)


def test_iter_events_quotes(tmp_path: Path) -> None:
    path = _csv(tmp_path, """
        ts_event,symbol,bid_price,bid_size,ask_price,ask_size
        1,AAPL,101.00,300,101.02,200
    """)

    (quote,) = iter_events(read_market_file(path))

    assert quote == Quote(ts_event=1, ts_init=1, symbol="AAPL", bid_price="101.00",
                          bid_size=300, ask_price="101.02", ask_size=200)


def test_market_runs_order_by_time_and_break_ties_by_file_order(tmp_path: Path) -> None:
    trades = _csv(tmp_path, """
        ts_event,symbol,price,size
        1,A,1.0,1
        3,A,1.0,1
    """, name="t.csv")
    quotes = _csv(tmp_path, """
        ts_event,symbol,bid_price,bid_size,ask_price,ask_size
        1,A,0.9,1,1.1,1
        2,A,0.9,1,1.1,1
    """, name="q.csv")

    runs = market_runs([trades, quotes], FileOptions(), BadRows())
    merged = [(type(e).__name__, e.ts_event) for run in runs for e in iter_events(run)]

    assert merged == [("Trade", 1), ("Quote", 1), ("Quote", 2), ("Trade", 3)]


def test_feed_topics_are_in_the_catalog() -> None:
    catalog = Catalog.load(REPO_ROOT / "topics.yaml")

    for model, topic in TOPIC_BY_MODEL.items():
        assert catalog[topic].value == model.__name__


# ---- the `feed file` command ----------------------------------------------------------------


def test_feed_file_strict_fails_on_the_first_bad_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _csv(tmp_path, """
        ts_event,symbol,price,size
        1,AAPL,101.01,1
        2,AAPL,101.01,-5
        3,,101.01,1
    """)

    code = main(["feed", "file", "--input", str(path), "--strict"])

    assert code == 2
    assert f"{path}:3: size must be >= 1, got -5 (--strict" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "speed"), [("1x", 1.0), ("10x", 10.0), ("0.5", 0.5),
                                             ("max", None), ("MAX", None)])
def test_feed_file_speed_argument(text: str, speed: float | None) -> None:
    args = build_parser().parse_args(["feed", "file", "-i", "a.csv", "--speed", text])

    assert args.speed == speed


@pytest.mark.parametrize("text", ["fast", "0x", "-2x"])
def test_feed_file_rejects_bad_speed(text: str) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["feed", "file", "-i", "a.csv", "--speed", text])
