"""The factor model over the database's daily bars: the closes of bars_1d (rolled up from
the stored 1-minute bars, on both databases) are the closes the same bars give from a file,
and `factors model --from-database` writes the same fit as `--bars FILE`."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from streams.cli.main import main
from streams.feeds.daily_bars import database_daily_closes, read_daily_closes
from streams.outputs import write_csv
from streams.schema import Bar
from tests.api.data import write

MINUTE_NS = 60 * 10**9
FIRST_DAY = pd.Timestamp("2024-02-01", tz="UTC")
DAYS = 12
MINUTES = (14 * 60 + 30, 20 * 60 + 59)  # two bars a day: 14:30 and 20:59 UTC


def _bars(symbols: list[str]) -> list[Bar]:
    rng = np.random.default_rng(11)
    bars = []
    for day in range(DAYS):
        for minute in MINUTES:
            start = FIRST_DAY.value + day * 1440 * MINUTE_NS + minute * MINUTE_NS
            for symbol in symbols:
                close = Decimal(f"{rng.uniform(90, 110):.2f}")
                bars.append(Bar(bar_id=f"{symbol}@1m@{start}", symbol=symbol, start_ns=start,
                                open=close, high=close, low=close, close=close, volume=10,
                                ts_event=start + MINUTE_NS, ts_init=start + MINUTE_NS))
    return bars


def test_bars_1d_gives_the_closes_a_bar_file_gives(any_database_url: str, symbols: list[str],
                                                   tmp_path: Path) -> None:
    bars = _bars(symbols)
    write(any_database_url, *bars)
    write_csv([b.model_dump(mode="python") for b in bars], Bar, tmp_path / "bars.csv")
    stored = database_daily_closes(any_database_url, [*symbols, "NOT_STORED"])
    from_file = read_daily_closes([tmp_path / "bars.csv"])
    assert stored.symbols == from_file.symbols == tuple(sorted(symbols))
    np.testing.assert_array_equal(stored.dates, from_file.dates)
    assert len(stored.dates) == DAYS
    np.testing.assert_array_equal(stored.close, from_file.close)
    last = {b.symbol: float(b.close) for b in bars if b.start_ns // (1440 * MINUTE_NS)
            == FIRST_DAY.value // (1440 * MINUTE_NS)}  # day 1's closing bars
    np.testing.assert_array_equal(stored.close[0], [last[s] for s in stored.symbols])


def test_from_database_fits_what_the_file_fits(database_url: str, services_env: dict[str, str],
                                               postgres_symbols: list[str],
                                               tmp_path: Path) -> None:
    symbols = postgres_symbols
    bars = _bars(symbols)
    write(database_url, *bars)
    write_csv([b.model_dump(mode="python") for b in bars], Bar, tmp_path / "bars.csv")
    pd.DataFrame({"symbol": symbols, "sector": ["A", "B", "C"] * 2,
                  "market_cap": [1e9, 3e9, 5e9, 7e9, 9e9, 2e10]}).to_csv(
        tmp_path / "reference.csv", index=False)
    common = ["--reference", str(tmp_path / "reference.csv"), "--set", "momentum_days=4",
              "--set", "momentum_half_life=2", "--set", "momentum_lag=1"]
    stored = subprocess.run([sys.executable, "-m", "streams", "factors", "model",
                             "--from-database", *common, "--out", str(tmp_path / "db")],
                            env=services_env, capture_output=True, text=True, timeout=120)
    assert stored.returncode == 0, stored.stderr
    assert "7 days fitted (2024-02-06 to 2024-02-12)" in stored.stdout  # 12 - (1 + 4)
    assert main(["factors", "model", "--bars", str(tmp_path / "bars.csv"), *common,
                 "--out", str(tmp_path / "file")]) == 0
    for name in ("factor_returns.csv", "exposures.csv", "residuals.csv",
                 "factor_covariance.csv"):
        assert (tmp_path / "db" / name).read_bytes() == (tmp_path / "file" / name).read_bytes()
