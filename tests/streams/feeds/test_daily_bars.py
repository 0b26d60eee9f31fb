"""Daily closes for the factor model from bar files (1-minute or daily, CSV or Parquet, files
or directories) and the reference-data file: what they read and what they refuse."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streams.exceptions import InputFileError
from streams.feeds.daily_bars import read_daily_closes
from streams.feeds.reference import read_reference
from streams.outputs import write_csv, write_parquet
from streams.schema import Bar

MINUTE_NS = 60 * 1_000_000_000
MIDNIGHT = pd.Timestamp("2024-03-05", tz="UTC").value  # a Tuesday


def test_minute_bars_close_each_utc_day_at_its_last_bar(tmp_path: Path) -> None:
    ends = [MIDNIGHT - MINUTE_NS, MIDNIGHT, MIDNIGHT + MINUTE_NS, MIDNIGHT + 9 * MINUTE_NS]
    pd.DataFrame({"ts_event": ends, "symbol": "AAA", "open": 1, "high": 1, "low": 1,
                  "close": [10.0, 11.0, 12.0, 13.0], "volume": 5}).to_csv(
        tmp_path / "bars.csv", index=False)
    closes = read_daily_closes([tmp_path / "bars.csv"])
    # the bar ending at midnight started the day before: it closes 4 March
    assert [str(d) for d in closes.dates] == ["2024-03-04", "2024-03-05"]
    np.testing.assert_array_equal(closes.close[:, 0], [11.0, 13.0])


def test_start_ns_and_iso_times_date_the_bar(tmp_path: Path) -> None:
    pd.DataFrame({"ts_event": ["2024-03-05T00:01:00Z", "2024-03-05T00:00:00Z"],
                  "start_ns": [MIDNIGHT, MIDNIGHT - MINUTE_NS], "symbol": ["AAA", "BBB"],
                  "close": [3.0, 4.0]}).to_parquet(tmp_path / "bars.parquet")
    closes = read_daily_closes([tmp_path / "bars.parquet"])
    assert closes.symbols == ("AAA", "BBB")
    assert [str(d) for d in closes.dates] == ["2024-03-04", "2024-03-05"]
    np.testing.assert_array_equal(closes.close, [[np.nan, 4.0], [3.0, np.nan]])


def test_a_directory_of_daily_files_merges_by_date(tmp_path: Path) -> None:
    (tmp_path / "daily" / "more").mkdir(parents=True)
    pd.DataFrame({"date": ["2024-03-04", "2024-03-05"], "symbol": "AAA",
                  "close": [1.0, 2.0]}).to_csv(tmp_path / "daily" / "a.csv", index=False)
    pd.DataFrame({"date": ["2024-03-05"], "symbol": "BBB", "close": [7.0]}).to_csv(
        tmp_path / "daily" / "more" / "b.csv.gz", index=False)
    (tmp_path / "daily" / "notes.txt").write_text("not a bar file")
    closes = read_daily_closes([tmp_path / "daily"])
    np.testing.assert_array_equal(closes.close, [[1.0, np.nan], [2.0, 7.0]])


@pytest.mark.parametrize(("rows", "message"), [
    ({"date": ["2024-03-04", "2024-03-04"], "symbol": "AAA", "close": [1.0, 2.0]},
     "two AAA bars"),
    ({"date": ["2024-03-04"], "symbol": "AAA", "close": [0.0]}, r"bars.csv:2: close must be"),
    ({"date": ["2024-03-04"], "close": [1.0]}, "without column.s. symbol"),
    ({"symbol": "AAA", "close": [1.0]}, "date or ts_event"),
])
def test_bad_bar_files_are_refused_with_the_file(tmp_path: Path, rows: dict,
                                                 message: str) -> None:
    pd.DataFrame(rows).to_csv(tmp_path / "bars.csv", index=False)
    with pytest.raises(InputFileError, match=message):
        read_daily_closes([tmp_path / "bars.csv"])


def test_no_bar_files_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no bar files"):
        read_daily_closes([tmp_path])
    with pytest.raises(InputFileError, match="no such file"):
        read_daily_closes([tmp_path / "missing.csv"])


def test_reference_keeps_the_value_descriptors_it_has(tmp_path: Path) -> None:
    (tmp_path / "ref.csv").write_text(
        "symbol,sector,market_cap,book_to_price,extra\nAAA,Tech,1e9,0.5,x\nBBB,Energy,2e9,,y\n")
    reference = read_reference(tmp_path / "ref.csv")
    assert list(reference.columns) == ["sector", "market_cap", "book_to_price"]
    assert reference.loc["AAA", "market_cap"] == 1e9 and np.isnan(reference.loc["BBB",
                                                                                "book_to_price"])


@pytest.mark.parametrize(("text", "message"), [
    ("symbol,sector\nAAA,Tech\n", "without column.s. market_cap"),
    ("symbol,sector,market_cap\nAAA,Tech,-5\n", "ref.csv:2: row without a positive market_cap"),
    ("symbol,sector,market_cap\nAAA,Tech,5\nBBB,,5\n", "ref.csv:3: row without a sector"),
    ("symbol,sector,market_cap\nAAA,Tech,5\nAAA,Tech,6\n", "ref.csv:3: symbol AAA listed twice"),
    ("symbol,sector,market_cap,cash_flow_to_price\nAAA,Tech,5,high\n", "not numeric"),
])
def test_bad_reference_files_are_refused_with_the_line(tmp_path: Path, text: str,
                                                       message: str) -> None:
    (tmp_path / "ref.csv").write_text(text)
    with pytest.raises(InputFileError, match=message):
        read_reference(tmp_path / "ref.csv")


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_reads_the_bar_files_replay_writes(tmp_path: Path, suffix: str) -> None:
    bars = [Bar(bar_id=f"AAA@1m@{start}", symbol="AAA", start_ns=start, open=Decimal("10"),
                high=Decimal("10.5"), low=Decimal("9.5"), close=Decimal(close), volume=3,
                ts_event=start + MINUTE_NS, ts_init=start + MINUTE_NS)
            for start, close in [(MIDNIGHT - MINUTE_NS, "10.25"), (MIDNIGHT, "10.125")]]
    path = tmp_path / f"market.bars.1m.{suffix}"
    write = write_csv if suffix == "csv" else write_parquet
    write([bar.model_dump(mode="python") for bar in bars], Bar, path)
    closes = read_daily_closes([path])
    assert [str(d) for d in closes.dates] == ["2024-03-04", "2024-03-05"]
    np.testing.assert_array_equal(closes.close[:, 0], [10.25, 10.125])
