"""Bar files (OHLCV, CSV or Parquet) as input: `replay` gives the features engine the file's
bars (values equal TA-Lib's; rv_20 pandas' rolling std of log returns), `feed file`
publishes them to market.bars.1m on the session's real broker, a file of other than
1-minute bars is refused naming file, row and what was found, and bad rows are reported
with their file and line."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib

from streams import kafka
from streams.codec import decode, decode_columns, encode
from streams.columnar import arrow_columns
from streams.exceptions import InputFileError
from streams.feeds.files import iter_events, read_market_file
from streams.schema.columns import LAYOUTS

MINUTE_NS = 60 * 1_000_000_000
DAY_NS = 1_440 * MINUTE_NS
T0 = 1_700_000_040 * 1_000_000_000  # a minute boundary


def _walk(seed: int, n: int) -> pd.DataFrame:
    """n 1-minute bars of a random walk, prices in cents, ending at T0 + (i + 1) minutes."""
    rng = random.Random(seed)
    rows, price = [], 100.0
    for i in range(n):
        open_ = round(price, 2)
        price *= 1 + rng.gauss(0, 0.003)
        close = round(price, 2)
        high = round(max(open_, close) + abs(rng.gauss(0, 0.05)), 2)
        low = round(min(open_, close) - abs(rng.gauss(0, 0.05)), 2)
        rows.append((T0 + (i + 1) * MINUTE_NS, open_, high, low, close, rng.randint(1, 500)))
    return pd.DataFrame(rows, columns=["ts_event", "open", "high", "low", "close", "volume"])


def _bar_file(tmp_path: Path, kind: str) -> tuple[Path, dict[str, pd.DataFrame]]:
    """Two symbols' bars interleaved in one file; CSV with prices as text, Parquet as floats."""
    frames = {"ESZ6": _walk(1, 60), "AAPL": _walk(2, 60)}
    rows = pd.concat([f.assign(symbol=s) for s, f in frames.items()]).sort_values(
        "ts_event", kind="stable")
    path = tmp_path / f"bars.{kind}"
    if kind == "csv":
        rows.to_csv(path, index=False, float_format="%.2f")
    else:
        rows.to_parquet(path, index=False)
    return path, frames


def _talib(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    high, low, close = (frame[c].to_numpy(float) for c in ("high", "low", "close"))
    macd, signal, hist = talib.MACD(close, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(close, 20, 2, 2, talib.MA_Type.SMA)
    return {
        "sma_10": talib.SMA(close, 10), "sma_20": talib.SMA(close, 20),
        "sma_50": talib.SMA(close, 50), "ema_12": talib.EMA(close, 12),
        "ema_26": talib.EMA(close, 26), "rsi_14": talib.RSI(close, 14),
        "macd": macd, "macd_signal": signal, "macd_hist": hist, "bb_upper": upper,
        "bb_middle": middle, "bb_lower": lower, "atr_14": talib.ATR(high, low, close, 14),
        "ret_1": talib.ROCR(close, 1) - 1,
        "rv_20": pd.Series(np.log(close)).diff().rolling(20).std().to_numpy(),  # as README
    }


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streams", *args], capture_output=True,
                          text=True, timeout=180, env=env)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_replay_of_a_bar_file_gives_the_features_of_its_bars(tmp_path: Path, kind: str) -> None:
    # Arrange
    path, frames = _bar_file(tmp_path, kind)
    out = tmp_path / "out"

    # Act
    result = _run("replay", "-i", str(path), "--engines", "features", "--out", str(out))

    # Assert: one feature vector per bar, each value TA-Lib's over the file's bars
    assert result.returncode == 0, result.stderr
    features = pd.read_csv(out / "logic.features.csv")
    for symbol, frame in frames.items():
        mine = features[features["symbol"] == symbol]
        assert mine["ts_event"].tolist() == frame["ts_event"].tolist()
        reference = _talib(frame)
        for i, values in enumerate(mine["values"].map(json.loads)):
            want = {k: float(v[i]) for k, v in reference.items() if not np.isnan(v[i])}
            assert values == pytest.approx(want, rel=1e-8, abs=1e-12), (symbol, i)


def _csv(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


HEADER = "ts_event,symbol,open,high,low,close,volume"


def test_a_bar_file_is_read_as_one_minute_bars_without_trade_count_or_vwap(
    tmp_path: Path,
) -> None:
    path = _csv(tmp_path, f"{HEADER},start_ns\n{T0 + MINUTE_NS},ESZ6,5012.25,5013.00,5012.00,"
                          f"5012.50,10,{T0}\n{T0 + 2 * MINUTE_NS},ESZ6,5012.5,5014,5012.5,5014,3,"
                          f"{T0 + MINUTE_NS}\n")

    bars = list(iter_events(read_market_file(path)))

    assert [b.model_dump(mode="json") for b in bars] == [
        {"schema_version": 1, "ts_event": T0 + MINUTE_NS, "ts_init": T0 + MINUTE_NS,
         "bar_id": f"ESZ6@1m@{T0}", "symbol": "ESZ6", "interval": "1m", "start_ns": T0,
         "open": "5012.25", "high": "5013.00", "low": "5012.00", "close": "5012.50",
         "volume": 10, "trade_count": None, "vwap": None},
        {"schema_version": 1, "ts_event": T0 + 2 * MINUTE_NS, "ts_init": T0 + 2 * MINUTE_NS,
         "bar_id": f"ESZ6@1m@{T0 + MINUTE_NS}", "symbol": "ESZ6", "interval": "1m",
         "start_ns": T0 + MINUTE_NS, "open": "5012.5", "high": "5014", "low": "5012.5",
         "close": "5014", "volume": 3, "trade_count": None, "vwap": None},
    ]


def test_a_file_of_daily_bars_is_refused_naming_file_row_and_spacing(tmp_path: Path) -> None:
    path = _csv(tmp_path, f"{HEADER}\n2024-01-02,AAPL,185.64,186.00,184.00,185.00,1000\n"
                          "2024-01-03,AAPL,185.00,186.50,184.50,186.25,1200\n", "daily.csv")

    result = _run("replay", "-i", str(path), "--engines", "features", "--out",
                  str(tmp_path / "out"))

    assert result.returncode == 2
    (line,) = [x for x in result.stderr.splitlines() if str(path) in x]
    assert f"{path}:3: AAPL's first two bars (lines 2 and 3) are 86,400 s (1 day) apart" in line
    assert "only 1-minute bars are supported" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("rows", "found"), [
    # start_ns says 5-minute bars
    ([f"{T0 + 5 * MINUTE_NS},ES,1,2,1,2,5,{T0}"], ":2: ES bar of 300 s (start_ns "),
    # 30-second bars, without start_ns
    ([f"{T0},ES,1,2,1,2,5,", f"{T0 + MINUTE_NS // 2},ES,1,2,1,2,5,"],
     ":3: ES bar ending 30 s after the one on line 2"),
    # the same bar twice
    ([f"{T0},ES,1,2,1,2,5,", f"{T0},ES,1,2,1,2,5,"],
     f":3: a second ES bar ending at ts_event {T0} on line 2"),
])
def test_bars_that_are_not_one_minute_long_are_refused(
    tmp_path: Path, rows: list[str], found: str
) -> None:
    path = _csv(tmp_path, f"{HEADER},start_ns\n" + "\n".join(rows) + "\n")
    if rows[0].endswith(","):  # no start_ns given: the column is dropped
        path.write_text(path.read_text().replace(",start_ns", "").replace(",\n", "\n"))

    with pytest.raises(InputFileError) as caught:
        read_market_file(path)

    assert str(caught.value).startswith(f"{path}{found}")
    assert str(caught.value).endswith("only 1-minute bars are supported (market.bars.1m)")


def test_a_thin_symbols_gap_of_days_passes_when_start_ns_says_one_minute(
    tmp_path: Path,
) -> None:
    path = _csv(tmp_path, f"{HEADER},start_ns\n{T0},ES,1,2,1,2,5,{T0 - MINUTE_NS}\n"
                          f"{T0 + DAY_NS},ES,1,2,1,2,5,{T0 + DAY_NS - MINUTE_NS}\n")

    assert len(read_market_file(path)) == 2


def test_bad_bar_rows_are_reported_with_file_and_line_and_skipped(tmp_path: Path) -> None:
    path = _csv(tmp_path, f"{HEADER}\n"
                          f"{T0},ES,10,11,9,10.5,5\n"
                          f"{T0 + 1 * MINUTE_NS},ES,10,11,9,10.5,0\n"
                          f"{T0 + 2 * MINUTE_NS},ES,10,9.5,9,9.25,5\n"
                          f"{T0 + 3 * MINUTE_NS},ES,10,11,10.25,10.5,5\n"
                          f"{T0 + 4 * MINUTE_NS},ES,x,11,9,10.5,5\n"
                          f"{T0 + 5 * MINUTE_NS},ES,10,11,9,10.5,2.5\n"
                          f"{T0 + 6 * MINUTE_NS},ES,10,11,9,10.75,7\n")

    read = read_market_file(path)

    assert [str(r) for r in read.rejected] == [
        f"{path}:3: volume must be >= 1, got 0",
        f"{path}:4: open 10 is above high 9.5",
        f"{path}:5: open 10 is below low 10.25",
        f"{path}:6: open is not a number: 'x'",
        f"{path}:7: volume is not an integer: '2.5'",
    ]
    assert read.columns["ts_event"].tolist() == [T0, T0 + 6 * MINUTE_NS]


@pytest.mark.slow
def test_feed_file_publishes_a_bar_file_to_market_bars_1m(
    kafka_brokers: str, services_env: dict[str, str], tmp_path: Path
) -> None:
    # Arrange: the topic is shared, so the bars carry a symbol of their own
    symbol = f"B{uuid.uuid4().hex[:7].upper()}"
    path = _csv(tmp_path, f"{HEADER}\n{T0 + MINUTE_NS},{symbol},5012.25,5013.00,5012.00,"
                          f"5012.50,10\n{T0 + 2 * MINUTE_NS},{symbol},5012.50,5012.75,5011.25,"
                          "5011.5,4\n")

    # Act
    result = _run("feed", "file", "-i", str(path), env=services_env)

    # Assert: the file's bars, exactly as written, keyed by symbol
    assert result.returncode == 0, result.stderr
    assert "market.bars.1m 2" in result.stdout
    bars = [decode("Bar", value) for _, _, key, value in kafka.read_all(
        kafka_brokers, "market.bars.1m") if key == symbol.encode()]
    assert [(b.bar_id, b.start_ns, b.ts_event, str(b.open), str(b.high), str(b.low),
             str(b.close), b.volume, b.trade_count, b.vwap) for b in bars] == [
        (f"{symbol}@1m@{T0}", T0, T0 + MINUTE_NS, "5012.25", "5013.00", "5012.00", "5012.50",
         10, None, None),
        (f"{symbol}@1m@{T0 + MINUTE_NS}", T0 + MINUTE_NS, T0 + 2 * MINUTE_NS, "5012.50",
         "5012.75", "5011.25", "5011.5", 4, None, None),
    ]
    assert bars[0].open == Decimal("5012.25")


def test_a_bar_files_columns_are_what_the_codec_decodes_from_its_bars(tmp_path: Path) -> None:
    path, _ = _bar_file(tmp_path, "csv")
    read = read_market_file(path)

    wire = [encode(bar) for bar in iter_events(read)]
    fast = arrow_columns(LAYOUTS["Bar"], wire)
    columns, rejected = decode_columns("Bar", wire)

    assert rejected == [] and fast is not None
    for decoded in (fast, columns):
        assert list(decoded) == list(read.columns)
        for name, column in read.columns.items():
            np.testing.assert_array_equal(decoded[name], column, err_msg=name)
