"""LOBSTER message + order-book pairs: trades from executions, depth from book rows, bad rows,
renamed files, and a replay through the bars engine.

Known answers come from the format: prices are in 1/10000 dollars (5859400 is 585.94); an
execution of a buy limit order (direction 1) is a seller's trade (aggressor sell); empty book
levels are -9999999999 (bid) and 9999999999 (ask) with size 0. Times: 2012-06-21 is a summer
day, New York is UTC-4, so midnight there is 2012-06-21T04:00:00Z = 1340251200 s since the
epoch (2012-01-01T00:00Z is 1325376000 s, plus 172 days, plus 4 h); message time 34200.03
(09:30:00.03) is 1340251200 s + 34200.03 s = 1340285400030000000 ns.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from streams.exceptions import InputFileError
from streams.feeds.badrows import BadRows
from streams.feeds.files import (
    FileOptions,
    iter_events,
    market_events,
    market_runs,
    read_market_files,
)
from streams.schema import DepthSnapshot, Trade

NS = 1_000_000_000
MIDNIGHT_NY_NS = 1_340_251_200 * NS
MIDNIGHT_UTC_NS = 1_340_236_800 * NS
NAME = "AAPL_2012-06-21_34200000_57600000_{}_2.csv"

MESSAGES = """\
34200.01,1,101,100,5859400,1
34200.02,1,102,200,5860000,-1
34200.03,4,101,40,5859400,1
34200.04,5,0,7,5859800,-1
34200.05,2,102,50,5860000,-1
34200.06,6,-1,300,5859900,0
34200.07,3,101,60,5859400,1
34200.08,7,-1,0,-1,0
34200.09,9,104,1,5859400,1
34200.10,4,102,-5,5860000,-1
34200.11,1,103,10,5860500,1
34200.12,4,102,150,5860000,-1
"""
# ask price 1, ask size 1, bid price 1, bid size 1, ask price 2, ask size 2, bid price 2, ...
BOOK = """\
9999999999,0,5859400,100,9999999999,0,5859000,30
5860000,200,5859400,100,9999999999,0,5859000,30
5860000,200,5859400,60,9999999999,0,5859000,30
5860000,200,5859400,60,9999999999,0,5859000,30
5860000,150,5859400,60,9999999999,0,5859000,30
5860000,150,5859400,60,9999999999,0,5859000,30
5860000,150,5859000,30,9999999999,0,-9999999999,0
5860000,150,5859000,30,9999999999,0,-9999999999,0
5860000,150,5859000,30,9999999999,0,-9999999999,0
5860000,150,5859000,30,9999999999,0,-9999999999,0
5860000,150,5860500,10,9999999999,0,5859000,30
9999999999,0,5860500,10,9999999999,0,5859000,30
"""


def _pair(tmp_path: Path, messages: str = MESSAGES, book: str = BOOK) -> tuple[Path, Path]:
    message_path = tmp_path / NAME.format("message")
    book_path = tmp_path / NAME.format("orderbook")
    message_path.write_text(messages)
    book_path.write_text(book)
    return message_path, book_path


def _at(seconds: str, midnight_ns: int = MIDNIGHT_NY_NS) -> int:
    whole, frac = seconds.split(".")
    return midnight_ns + int(whole) * NS + int(frac.ljust(9, "0"))


def test_executions_become_trades_with_the_aggressor_opposite_the_resting_order(
    tmp_path: Path,
) -> None:
    # Arrange
    message_path, _ = _pair(tmp_path)

    # Act: the message file alone; its book is found next to it
    trades, _ = read_market_files([message_path])

    # Assert: lines 3 (visible, buy order hit), 4 (hidden, sell order lifted), 12; not the
    # cross trade (6) nor the bad execution (10)
    assert trades.topic == "market.trades"
    assert list(iter_events(trades)) == [
        Trade(ts_event=_at("34200.03"), ts_init=_at("34200.03"), symbol="AAPL",
              price=Decimal("585.94"), size=40, aggressor="sell"),
        Trade(ts_event=_at("34200.04"), ts_init=_at("34200.04"), symbol="AAPL",
              price=Decimal("585.98"), size=7, aggressor="buy"),
        Trade(ts_event=_at("34200.12"), ts_init=_at("34200.12"), symbol="AAPL",
              price=Decimal("586.00"), size=150, aggressor="buy"),
    ]
    assert trades.columns["ts_event"][0] == 1_340_285_400_030_000_000
    assert trades.lines.tolist() == [3, 4, 12]


def test_book_rows_become_snapshots_when_the_book_changes(tmp_path: Path) -> None:
    message_path, _ = _pair(tmp_path)

    _, depth = read_market_files([message_path])
    books = list(iter_events(depth))

    # Rows 4, 6, 8 leave the book as it was; 9 and 10 are bad messages; 11 is crossed.
    assert depth.lines.tolist() == [1, 2, 3, 5, 7, 12]
    assert all(isinstance(b, DepthSnapshot) and b.symbol == "AAPL" for b in books)
    assert [b.ts_event for b in books] == [
        _at(s) for s in ("34200.01", "34200.02", "34200.03", "34200.05", "34200.07", "34200.12")
    ]
    d = Decimal
    assert [(b.bid_prices, b.bid_sizes, b.ask_prices, b.ask_sizes) for b in books] == [
        ([d("585.94"), d("585.90")], [100, 30], [], []),  # empty levels dropped
        ([d("585.94"), d("585.90")], [100, 30], [d("586.00")], [200]),
        ([d("585.94"), d("585.90")], [60, 30], [d("586.00")], [200]),
        ([d("585.94"), d("585.90")], [60, 30], [d("586.00")], [150]),
        ([d("585.90")], [30], [d("586.00")], [150]),
        ([d("586.05"), d("585.90")], [10, 30], [], []),
    ]


def test_trades_and_snapshots_interleave_by_time_then_line(tmp_path: Path) -> None:
    message_path, _ = _pair(tmp_path)
    expected = [("DepthSnapshot", "34200.01"), ("DepthSnapshot", "34200.02"),
                ("Trade", "34200.03"), ("DepthSnapshot", "34200.03"), ("Trade", "34200.04"),
                ("DepthSnapshot", "34200.05"), ("DepthSnapshot", "34200.07"),
                ("Trade", "34200.12"), ("DepthSnapshot", "34200.12")]

    events = list(market_events([message_path], FileOptions(), BadRows()))
    runs = list(market_runs([message_path], FileOptions(), BadRows()))

    assert [(type(e).__name__, e.ts_event) for e in events] == [
        (kind, _at(seconds)) for kind, seconds in expected]
    assert [e for run in runs for e in iter_events(run)] == events


def test_bad_rows_are_reported_with_their_file_and_line(tmp_path: Path) -> None:
    message_path, book_path = _pair(tmp_path)

    trades, _ = read_market_files([message_path, book_path])  # both given: one pair

    assert [str(b) for b in trades.rejected] == [
        f"{message_path}:9: type must be 1-7, got 9",
        f"{message_path}:10: size must be >= 1, got -5",
        f"{book_path}:11: crossed book: best bid 586.05 >= best ask 586",
    ]


def test_strict_stops_at_the_first_bad_row(tmp_path: Path) -> None:
    message_path, _ = _pair(tmp_path)
    runs = market_runs([message_path], FileOptions(), BadRows(strict=True))

    with pytest.raises(InputFileError, match=rf"{message_path}:9: type must be 1-7, got 9 "
                                             r"\(--strict stops at the first bad row\)"):
        list(runs)


def test_unreadable_rows_and_times_going_backwards(tmp_path: Path) -> None:
    messages = "34200.5,1,1,1,5859400,1\nsoon,1,2,1,5859400,1\n34200.1,4,1,1,5859400,1\n"
    book = "9999999999,0,5859400,1,9999999999,0,-9999999999,0\n" * 3
    message_path, _ = _pair(tmp_path, messages, book)

    trades, _ = read_market_files([message_path], FileOptions(max_backwards_ms=100))

    assert [(b.line, b.reason) for b in trades.rejected] == [
        (2, "time is not seconds after midnight: 'soon'"),
        (3, f"time goes backwards: ts_event {_at('34200.1')} is 400.000 ms before line 1's "
            "(more than --max-backwards-ms 100)"),
    ]


def test_renamed_files_need_symbol_and_date(tmp_path: Path) -> None:
    message_path, book_path = _pair(tmp_path)
    messages, book = tmp_path / "msgs.csv", tmp_path / "book.csv"
    shutil.copy(message_path, messages)
    shutil.copy(book_path, book)
    options = FileOptions(format="lobster", symbol="AAPL", day=date(2012, 6, 21))

    trades, depth = read_market_files([messages, book], options)
    named_trades, named_depth = read_market_files([message_path])

    assert list(iter_events(trades)) == list(iter_events(named_trades))
    assert list(iter_events(depth)) == list(iter_events(named_depth))
    with pytest.raises(InputFileError, match="give --symbol and --date"):
        read_market_files([messages, book], FileOptions(format="lobster"))


def test_symbol_date_and_zone_options_override_the_name(tmp_path: Path) -> None:
    message_path, _ = _pair(tmp_path)
    options = FileOptions(symbol="AAPL.O", tz="UTC")

    trades, _ = read_market_files([message_path], options)

    assert trades.columns["symbol"].tolist() == ["AAPL.O"] * 3
    assert trades.columns["ts_event"][0] == _at("34200.03", MIDNIGHT_UTC_NS)


def test_small_chunks_give_the_same_events(tmp_path: Path) -> None:
    message_path, _ = _pair(tmp_path)

    whole = read_market_files([message_path])
    chunked = read_market_files([message_path], FileOptions(block_bytes=100))

    for a, b in zip(whole, chunked, strict=True):
        assert list(iter_events(a)) == list(iter_events(b))
        assert a.rejected == b.rejected


def test_files_that_do_not_match_are_refused(tmp_path: Path) -> None:
    message_path, _ = _pair(tmp_path, book="\n".join(BOOK.splitlines()[:5]) + "\n")

    with pytest.raises(InputFileError, match="ends at line 5 but its partner goes on"):
        read_market_files([message_path])


def test_a_book_without_its_message_file_is_refused(tmp_path: Path) -> None:
    _, book_path = _pair(tmp_path)
    (tmp_path / NAME.format("message")).unlink()

    with pytest.raises(InputFileError, match="needs its message file"):
        read_market_files([book_path])


def test_replay_of_a_lobster_pair_gives_bars(tmp_path: Path) -> None:
    message_path, _ = _pair(tmp_path)

    result = subprocess.run(
        [sys.executable, "-m", "streams", "replay", "--input", str(message_path),
         "--engines", "bars", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert f"{message_path}:9: type must be 1-7, got 9" in result.stderr
    bars = pd.read_csv(tmp_path / "out" / "market.bars.1m.csv")
    minute_ns = _at("34200.0")  # 09:30:00 New York
    assert bars["bar_id"].tolist() == [f"AAPL@1m@{minute_ns}"]
    bar = bars.iloc[0]
    assert (bar["open"], bar["high"], bar["low"], bar["close"]) == (585.94, 586.0, 585.94, 586.0)
    assert (bar["volume"], bar["trade_count"]) == (197, 3)
    assert bar["vwap"] == pytest.approx((585.94 * 40 + 585.98 * 7 + 586.00 * 150) / 197)


def test_replay_of_renamed_lobster_files_as_the_readme_writes_it(tmp_path: Path) -> None:
    # README: `--format lobster --symbol S --date D -i messages.csv -i book.csv`
    (tmp_path / "messages.csv").write_text(MESSAGES)
    (tmp_path / "book.csv").write_text(BOOK)

    result = subprocess.run(
        [sys.executable, "-m", "streams", "replay", "--format", "lobster", "--symbol", "AAPL",
         "--date", "2012-06-21", "-i", str(tmp_path / "messages.csv"),
         "-i", str(tmp_path / "book.csv"), "--engines", "bars,microstructure",
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stderr
    bars = pd.read_csv(tmp_path / "out" / "market.bars.1m.csv")
    assert bars["bar_id"].tolist() == [f"AAPL@1m@{_at('34200.0')}"]
    assert (bars.iloc[0]["volume"], bars.iloc[0]["trade_count"]) == (197, 3)
    features = pd.read_csv(tmp_path / "out" / "logic.microstructure.csv")
    assert features["ts_event"].tolist() == [_at("34201.0")]  # the book's one second, read
