"""Replay's output files: prices as written, one fixed schema per topic, empty files with
their header and schema (streams/outputs.py)."""

from __future__ import annotations

import csv
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from streams.cli.main import main
from streams.outputs import arrow_schema, write_parquet
from streams.schema import MODELS, Bar, MicrostructureFeatures, PortfolioSnapshot
from tests.factories import event
from tests.streams.report.bars import daily_bar_file

# The README's example (Replay and input files).
README_TRADES = (
    "ts_event,symbol,price,size\n"
    "1700000000000000000,ESZ6,5012.25,3\n"
    "1700000030000000000,ESZ6,5012.50,1\n"
)
PRICE = pa.decimal128(38, 18)


def replay(tmp_path: Path, name: str, text: str, *args: str) -> Path:
    source = tmp_path / f"{name}.csv"
    source.write_text(text)
    out = tmp_path / name
    result = subprocess.run(
        [sys.executable, "-m", "streams", "replay", "--input", str(source), "--out", str(out),
         *args], capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return out


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_readme_example_keeps_bar_prices_as_the_trades_wrote_them(tmp_path: Path) -> None:
    out = replay(tmp_path, "readme", README_TRADES, "--engines", "bars")

    (bar,) = csv_rows(out / "market.bars.1m.csv")
    assert (bar["open"], bar["high"], bar["low"], bar["close"]) == (
        "5012.25", "5012.50", "5012.25", "5012.50")
    assert bar["vwap"] == "5012.3125"  # (5012.25 * 3 + 5012.50 * 1) / 4, exact
    (parquet,) = pq.read_table(out / "market.bars.1m.parquet").to_pylist()
    assert str(parquet["high"].normalize()) == "5012.5" and parquet["volume"] == 4


def test_whole_prices_stay_whole_and_vwap_rounds_to_nine_decimals(tmp_path: Path) -> None:
    trades = ("ts_event,symbol,price,size\n"
              "1700000000000000000,X,99,1\n1700000001000000000,X,100,2\n")

    out = replay(tmp_path, "whole", trades, "--engines", "bars")

    (bar,) = csv_rows(out / "market.bars.1m.csv")
    assert (bar["open"], bar["high"], bar["close"]) == ("99", "100", "100")
    assert bar["vwap"] == "99.666666667"  # 299 / 3, half-even to 9 decimals


def test_every_file_of_a_topic_has_one_schema_from_its_model(tmp_path: Path) -> None:
    other = ("ts_event,symbol,price,size\n"
             "1700000000000000000,AAPL,99,7\n1700000000500000000,AAPL,190.1234,1\n")

    first = replay(tmp_path, "first", README_TRADES, "--engines", "bars")
    second = replay(tmp_path, "second", other, "--engines", "bars")

    schemas = [pq.read_schema(d / "market.bars.1m.parquet") for d in (first, second)]
    assert schemas[0].remove_metadata() == schemas[1].remove_metadata()
    assert schemas[0].names == list(Bar.model_fields)
    for name in ("open", "high", "low", "close", "vwap"):
        assert schemas[0].field(name).type == PRICE
    assert schemas[0].field("volume").type == pa.int64()


def test_an_empty_output_has_its_header_and_schema(tmp_path: Path) -> None:
    # Trades only: the microstructure engine (depth and quotes) concludes nothing.
    out = replay(tmp_path, "trades-only", README_TRADES)

    header = (out / "logic.microstructure.csv").read_text()
    table = pq.read_table(out / "logic.microstructure.parquet")
    assert header == ",".join(MicrostructureFeatures.model_fields) + "\n"
    assert table.num_rows == 0 and table.schema.names == list(MicrostructureFeatures.model_fields)
    assert table.schema.field("spread").type == PRICE
    assert table.schema.field("bid_depth").type == pa.list_(pa.int64())


def test_a_one_cent_spread_is_exactly_one_cent(tmp_path: Path) -> None:
    quotes = ("ts_event,symbol,bid_price,bid_size,ask_price,ask_size\n"
              "1700000000000000000,ESZ6,5012.25,3,5012.26,1\n")

    out = replay(tmp_path, "quotes", quotes, "--engines", "microstructure")

    (row,) = csv_rows(out / "logic.microstructure.csv")
    assert (row["spread"], row["mid"], row["microprice"]) == ("0.01", "5012.255", "5012.2575")
    (parquet,) = pq.read_table(out / "logic.microstructure.parquet").to_pylist()
    assert str(parquet["spread"].normalize()) == "0.01"


def test_every_wire_model_has_a_parquet_schema() -> None:
    for model in MODELS.values():
        assert arrow_schema(model).names == list(model.model_fields)


def test_exact_commissions_beyond_nine_decimals_stay_exact_in_parquet(tmp_path: Path) -> None:
    # Arrange: cent prices slipped by 2 bps (6 decimals), a 1 bp fee on 3 shares: commissions,
    # cash and equity with 10 decimals
    bars = daily_bar_file(tmp_path / "bars.csv", days=30)

    # Act
    code = main(["backtest", "-i", str(bars), "--strategy", "sma_cross",
                 "--set", "sma_cross.fast=2", "--set", "sma_cross.slow=5",
                 "--set", "sma_cross.quantity=3", "--set", "execution.fee_bps=1",
                 "--set", "execution.slippage_bps=2", "--out", str(tmp_path / "bt")])

    # Assert: Parquet holds the CSV's exact values
    assert code == 0
    written = [Decimal(row["equity"]) for row in csv_rows(tmp_path / "bt" / "logic.portfolio.csv")]
    parquet = pq.read_table(tmp_path / "bt" / "logic.portfolio.parquet")
    assert max(-e.as_tuple().exponent for e in written) > 9
    assert parquet.column("equity").to_pylist() == written


def test_money_beyond_eighteen_decimals_is_rounded_half_even_in_parquet(tmp_path: Path) -> None:
    snapshot = event("PortfolioSnapshot", equity=Decimal("1.00000000000000000025"))

    write_parquet([snapshot.model_dump(mode="python")], PortfolioSnapshot, tmp_path / "p.parquet")

    (row,) = pq.read_table(tmp_path / "p.parquet").to_pylist()
    assert row["equity"] == Decimal("1.000000000000000000")  # ...00025 -> ...000, half-even
