"""Market files read in chunks: the same rows, lines and bad rows whatever the chunk size;
time order within --max-backwards-ms, bad rows beyond it; bounded holding; merged inputs;
the progress line; and help that shows an example for every option."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from streams.cli.main import build_parser
from streams.feeds.badrows import BadRows
from streams.feeds.cells import Rejects
from streams.feeds.chunks import MarketChunk, TimeOrder
from streams.feeds.files import FileOptions, iter_events, market_runs, read_market_file
from streams.feeds.progress import Progress

MS = 1_000_000


def _trades_file(tmp_path: Path, rows: int = 400) -> Path:
    """Trades 1 ms apart, every 7th swapped with its neighbour (2 ms out of order), with a
    blank line, a line of the wrong width and an unparseable price at known lines."""
    lines = ["ts_event,symbol,price,size"]
    times = np.arange(rows) * MS
    times[6::7], times[5::7] = times[5::7][: len(times[6::7])], times[6::7]
    lines += [f"{t},S{i % 3},{100 + i / 100:.2f},{1 + i % 5}" for i, t in enumerate(times)]
    lines[100] = ""  # line 101: blank, skipped silently
    lines[200] = "1,S1,1.5"  # line 201: too few fields
    lines[300] = lines[300].replace(",S0,", ",S0,x").replace(",S1,", ",S1,x").replace(
        ",S2,", ",S2,x")  # line 301: price is not a number
    path = tmp_path / "trades.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_chunk_size_changes_nothing(tmp_path: Path) -> None:
    path = _trades_file(tmp_path)

    whole = read_market_file(path)
    chunked = read_market_file(path, FileOptions(block_bytes=256))

    assert [(b.line, b.reason) for b in whole.rejected] == [
        (201, "expected 4 fields, got 3"),
        (301, f"price is not a number: 'x{100 + 299 / 100:.2f}'"),
    ]
    assert chunked.rejected == whole.rejected
    assert chunked.lines.tolist() == whole.lines.tolist()
    for name, column in whole.columns.items():
        np.testing.assert_array_equal(chunked.columns[name], column, err_msg=name)
    assert list(iter_events(chunked)) == list(iter_events(whole))
    assert np.all(np.diff(whole.columns["ts_event"]) >= 0)
    assert len(whole) == 400 - 3


def test_rows_out_of_order_within_the_limit_are_sorted_beyond_it_are_bad(tmp_path: Path
                                                                          ) -> None:
    path = tmp_path / "t.csv"
    path.write_text("ts_event,symbol,price,size\n"
                    f"{10_000 * MS},A,1.1,1\n{20_000 * MS},A,1.2,1\n"
                    f"{5_000 * MS},A,1.3,1\n{19_000 * MS},A,1.4,1\n{20_000 * MS},A,1.5,1\n")

    mf = read_market_file(path, FileOptions(max_backwards_ms=2_000, block_bytes=64))

    assert mf.price_text["price"].to_pylist() == ["1.1", "1.4", "1.2", "1.5"]
    assert [(b.line, b.reason) for b in mf.rejected] == [
        (4, f"time goes backwards: ts_event {5_000 * MS} is 15,000.000 ms before line 3's "
            "(more than --max-backwards-ms 2000)"),
    ]


def _chunk(times: list[int]) -> MarketChunk:
    ts = np.array(times, dtype=np.int64)
    return MarketChunk("market.trades", {"ts_event": ts}, {}, np.arange(2, ts.size + 2))


def test_time_order_holds_at_most_so_many_rows() -> None:
    # Arrange: a limit that would hold everything, but room for 2 rows only
    order = TimeOrder(max_backwards_ms=60_000, max_held_rows=2)
    first, second = [5, 1, 3, 4], [2, 6]

    # Act
    bad = Rejects(len(first))
    order.check(np.array(first), np.arange(2, 6), bad)
    out = order.push([_chunk(first)])
    late = Rejects(len(second))
    order.check(np.array(second), np.arange(6, 8), late)

    # Assert: the two oldest went out early, so a later row before them is bad
    assert [int(t) for c in out for t in c.ts] == [1, 3]
    assert not bad.mask.any()
    assert late.mask.tolist() == [True, False]
    rest = order.push([_chunk([6])]) + order.flush()
    assert [int(t) for c in rest for t in c.ts] == [4, 5, 6]


def test_inputs_merge_in_time_then_input_order(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("ts_event,symbol,price,size\n"
                 + "".join(f"{t},A,1.{t},1\n" for t in (1, 3, 3, 6, 8, 9)))
    b.write_text("ts_event,symbol,bid_price,bid_size,ask_price,ask_size\n"
                 + "".join(f"{t},B,1,1,2,1\n" for t in (2, 3, 4, 8, 10)))

    runs = market_runs([a, b], FileOptions(block_bytes=64), BadRows())
    merged = [(type(e).__name__, e.ts_event) for run in runs for e in iter_events(run)]

    assert merged == [
        ("Trade", 1), ("Quote", 2), ("Trade", 3), ("Trade", 3), ("Quote", 3), ("Quote", 4),
        ("Trade", 6), ("Trade", 8), ("Quote", 8), ("Trade", 9), ("Quote", 10),
    ]


def test_progress_line_shows_rate_percent_and_eta() -> None:
    out = io.StringIO()
    progress = Progress(stream=out)
    progress.add_total(1_000)

    progress.advance(rows=250, nbytes=500, bad=2)
    progress.note("t.csv:3: size must be >= 1, got 0")
    progress.close()

    lines = out.getvalue().splitlines()
    assert lines[0] == "t.csv:3: size must be >= 1, got 0"
    assert lines[-1].startswith("read 250 rows   50.0%")
    assert "rows/s" in lines[-1] and "ETA" in lines[-1] and lines[-1].endswith("bad 2")


def test_replay_strict_stops_at_time_going_backwards(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f"ts_event,symbol,price,size\n{10 * MS},A,1.1,1\n{5 * MS},A,1.2,1\n")

    result = subprocess.run(
        [sys.executable, "-m", "streams", "replay", "--input", str(path), "--strict",
         "--max-backwards-ms", "1", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 2
    assert f"{path}:3: time goes backwards" in result.stderr
    assert "--strict stops at the first bad row" in result.stderr


@pytest.mark.parametrize("command", [["feed", "file"], ["replay"]])
def test_every_file_option_has_an_example(command: list[str]) -> None:
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command[0]]  # noqa: SLF001
    if len(command) > 1:
        sub = sub._subparsers._group_actions[0].choices[command[1]]  # noqa: SLF001

    options = [a for a in sub._actions if a.option_strings and a.dest != "help"]  # noqa: SLF001

    assert options
    for action in options:
        assert "Example:" in (action.help or ""), action.option_strings
    assert "examples:" in (sub.epilog or "")
