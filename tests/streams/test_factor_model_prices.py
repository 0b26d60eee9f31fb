"""The factor model over a vendor's daily prices (`factors model --from-prices SOURCE`): the
closes of daily_prices adjusted for later dividends and splits are the closes adjusted by hand
from CRSP's definition, a day's newest row counts, and a series without its corporate actions
or without rows is refused with the fix."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from processors.factor_model import DailyCloses
from streams.cli.main import main
from streams.exceptions import InputFileError
from streams.feeds.daily_bars import adjusted_daily_closes, read_daily_closes
from streams.schema import DailyPrice
from tests.api.data import day_ns, write
from tests.factories import event

SOURCE = "alphavantage"
FIRST_DAY = dt.date(2024, 2, 1)
DAYS = 12
SPLIT_DAY, DIVIDEND_DAY = 5, 8  # the first symbol's 2-for-1 split and its dividend
DIVIDEND = 1.25


def _price(symbol: str, day: int, close: float, *, dividend: float | None = 0.0,
           split: float | None = 1.0, seen_days_later: int = 0) -> DailyPrice:
    """The vendor's record of day `day`, dated at the day's end (`seen_days_later` for a
    correction)."""
    date = FIRST_DAY + dt.timedelta(days=day)
    seen = day_ns((date + dt.timedelta(days=1 + seen_days_later)).isoformat())
    price = f"{close:.2f}"
    return event("DailyPrice", source=SOURCE, symbol=symbol, date=date, open=price,
                 high=price, low=price, close=price, volume=1_000,
                 dividend=None if dividend is None else f"{dividend:.2f}", split=split,
                 ts_event=seen, ts_init=seen)  # type: ignore[return-value]


def _unadjusted(symbols: list[str]) -> dict[str, np.ndarray]:
    """Each symbol's unadjusted closes: the first one's halve at SPLIT_DAY."""
    rng = np.random.default_rng(18)
    closes = {s: np.round(rng.uniform(90, 110, DAYS), 2) for s in symbols}
    closes[symbols[0]][SPLIT_DAY:] = np.round(closes[symbols[0]][SPLIT_DAY:] / 2, 2)
    return closes


def _vendor_days(symbols: list[str]) -> list[DailyPrice]:
    closes = _unadjusted(symbols)
    return [_price(s, day, closes[s][day],
                   split=2.0 if (s, day) == (symbols[0], SPLIT_DAY) else 1.0,
                   dividend=DIVIDEND if (s, day) == (symbols[0], DIVIDEND_DAY) else 0.0)
            for s in symbols for day in range(DAYS)]


def _adjusted_by_hand(symbols: list[str], path: Path) -> Path:
    """A daily bar file of the closes adjusted as CRSP defines it: a dividend D going ex on
    day t rescales every earlier price by 1 - D / C_{t-1}, a split of S by 1 / S."""
    closes = _unadjusted(symbols)
    mine = closes[symbols[0]]
    after_dividend = 1 - DIVIDEND / mine[DIVIDEND_DAY - 1]
    closes[symbols[0]] = np.concatenate([mine[:SPLIT_DAY] * after_dividend / 2,
                                         mine[SPLIT_DAY:DIVIDEND_DAY] * after_dividend,
                                         mine[DIVIDEND_DAY:]])
    dates = [(FIRST_DAY + dt.timedelta(days=d)).isoformat() for d in range(DAYS)]
    pd.DataFrame([{"symbol": s, "date": dates[d], "close": closes[s][d]}
                  for s in symbols for d in range(DAYS)]).to_csv(path, index=False)
    return path


def _returns(closes: DailyCloses) -> np.ndarray:
    return closes.close[1:] / closes.close[:-1] - 1


def test_adjusted_closes_are_the_closes_adjusted_by_hand(any_database_url: str,
                                                         symbols: list[str],
                                                         tmp_path: Path) -> None:
    write(any_database_url, *_vendor_days(symbols))
    stored = adjusted_daily_closes(any_database_url, SOURCE, [*symbols, "NOT_STORED"])
    by_hand = read_daily_closes([_adjusted_by_hand(symbols, tmp_path / "adjusted.csv")])
    assert stored.symbols == by_hand.symbols == tuple(symbols)
    np.testing.assert_array_equal(stored.dates, by_hand.dates)
    np.testing.assert_allclose(stored.close, by_hand.close, rtol=1e-12)
    # a holder's price relatives: the split day doubles the close, the ex day adds D back
    unadjusted = _unadjusted(symbols)[symbols[0]]
    returns = _returns(stored)[:, 0]
    assert returns[SPLIT_DAY - 1] == pytest.approx(
        unadjusted[SPLIT_DAY] * 2 / unadjusted[SPLIT_DAY - 1] - 1)
    assert returns[DIVIDEND_DAY - 1] == pytest.approx(
        unadjusted[DIVIDEND_DAY] / (unadjusted[DIVIDEND_DAY - 1] - DIVIDEND) - 1)
    np.testing.assert_allclose(stored.close[-1], [_unadjusted(symbols)[s][-1] for s in symbols])


def test_a_days_newest_row_counts(any_database_url: str, symbols: list[str]) -> None:
    """The vendor first reported the split day without its split and at a wrong close, and
    corrected both three days later; the correction is written first, so the time decides."""
    unadjusted = _unadjusted(symbols)[symbols[0]]
    corrected_close = unadjusted[SPLIT_DAY] + 1
    reported = [d for d in _vendor_days(symbols) if (d.symbol, d.split) != (symbols[0], 2.0)]
    write(any_database_url, *reported,
          _price(symbols[0], SPLIT_DAY, corrected_close, split=2.0, seen_days_later=3))
    write(any_database_url, _price(symbols[0], SPLIT_DAY, unadjusted[SPLIT_DAY] * 3, split=1.0))
    closes = adjusted_daily_closes(any_database_url, SOURCE, symbols)
    returns = _returns(closes)[:, 0]
    assert returns[SPLIT_DAY - 1] == pytest.approx(
        corrected_close * 2 / unadjusted[SPLIT_DAY - 1] - 1)
    assert returns[SPLIT_DAY] == pytest.approx(unadjusted[SPLIT_DAY + 1] / corrected_close - 1)


def test_a_series_without_corporate_actions_is_refused_with_the_fix(
        database_url: str, postgres_symbols: list[str]) -> None:
    """Alpha Vantage's free daily series: unadjusted closes, no dividends or splits. The
    first day's actions adjust nothing earlier, so a series unknown only there is whole."""
    free, partly, whole = postgres_symbols[:2], postgres_symbols[2], postgres_symbols[3]
    write(database_url,
          *(_price(s, day, 100.0 + day, dividend=None, split=None)
            for s in free for day in range(3)),
          *(_price(partly, day, 100.0 + day, split=None if day == 1 else 1.0)
            for day in range(3)),
          *(_price(whole, day, 100.0 + day, dividend=None if day == 0 else 0.0)
            for day in range(3)))
    with pytest.raises(InputFileError) as refused:
        adjusted_daily_closes(database_url, SOURCE, postgres_symbols)
    message = str(refused.value)
    assert f"no dividend or split for days of {free[0]}, {free[1]}, {partly}," in message
    assert whole not in message
    assert "ALPHAVANTAGE_DAILY=adjusted, which needs a premium key" in message
    closes = adjusted_daily_closes(database_url, SOURCE, [whole])
    np.testing.assert_array_equal(closes.close[:, 0], [100.0, 101.0, 102.0])


def test_no_rows_of_the_source_is_refused(database_url: str,
                                          postgres_symbols: list[str]) -> None:
    with pytest.raises(InputFileError, match="daily_prices holds no alphavantage prices of "
                       r"the 6 reference symbols$"):
        adjusted_daily_closes(database_url, SOURCE, postgres_symbols)
    write(database_url, _price(postgres_symbols[0], 0, 100.0).model_copy(
        update={"source": "yahoo"}))
    with pytest.raises(InputFileError, match="no alphavantage prices of the 6 reference "
                       "symbols; it holds theirs of yahoo"):
        adjusted_daily_closes(database_url, SOURCE, postgres_symbols)


def test_from_prices_fits_what_the_closes_adjusted_by_hand_fit(
        database_url: str, services_env: dict[str, str], postgres_symbols: list[str],
        tmp_path: Path) -> None:
    symbols = postgres_symbols
    write(database_url, *_vendor_days(symbols))
    pd.DataFrame({"symbol": symbols, "sector": ["A", "B", "C"] * 2,
                  "market_cap": [1e9, 3e9, 5e9, 7e9, 9e9, 2e10]}).to_csv(
        tmp_path / "reference.csv", index=False)
    common = ["--reference", str(tmp_path / "reference.csv"), "--set", "momentum_days=4",
              "--set", "momentum_half_life=2", "--set", "momentum_lag=1"]
    stored = subprocess.run([sys.executable, "-m", "streams", "factors", "model",
                             "--from-prices", SOURCE, *common, "--out", str(tmp_path / "db")],
                            env=services_env, capture_output=True, text=True, timeout=120)
    assert stored.returncode == 0, stored.stderr
    assert "7 days fitted (2024-02-06 to 2024-02-12)" in stored.stdout  # 12 - (1 + 4)
    assert main(["factors", "model", "--bars", str(_adjusted_by_hand(symbols, tmp_path / "a.csv")),
                 *common, "--out", str(tmp_path / "file")]) == 0
    for name in ("factor_returns.csv", "residuals.csv", "factor_covariance.csv"):
        from_prices = pd.read_csv(tmp_path / "db" / name)
        by_hand = pd.read_csv(tmp_path / "file" / name)
        pd.testing.assert_frame_equal(from_prices, by_hand, rtol=1e-9)


def test_from_prices_and_bars_are_one_or_the_other(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["factors", "model", "--from-prices", SOURCE, "--bars", str(tmp_path),
              "--reference", "reference.csv", "--out", str(tmp_path)])
    assert exited.value.code == 2
    assert "argument --bars: not allowed with argument --from-prices" in capsys.readouterr().err


def test_as_of_fits_on_what_was_known_then(any_database_url: str, symbols: list[str]) -> None:
    """Known by the time the day before the split was (a day is known as the next begins,
    `_price`): the split's day and every later one are not, so nothing is halved; a day
    later, the split rescales the days before it."""
    write(any_database_url, *_vendor_days(symbols))
    split_day = FIRST_DAY + dt.timedelta(days=SPLIT_DAY)
    before = adjusted_daily_closes(any_database_url, SOURCE, symbols,
                                   known_by=day_ns(split_day.isoformat()))
    after = adjusted_daily_closes(any_database_url, SOURCE, symbols,
                                  known_by=day_ns((split_day + dt.timedelta(days=1)).isoformat()))

    unadjusted = _unadjusted(symbols)[symbols[0]]
    assert len(before.dates) == SPLIT_DAY and len(after.dates) == SPLIT_DAY + 1
    np.testing.assert_allclose(before.close[:, 0], unadjusted[:SPLIT_DAY])
    np.testing.assert_allclose(after.close[:, 0], [*unadjusted[:SPLIT_DAY] / 2,
                                                   unadjusted[SPLIT_DAY]])
    with pytest.raises(InputFileError, match=r"reference symbols known by then \(--as-of\)"):
        adjusted_daily_closes(any_database_url, SOURCE, symbols,
                              known_by=day_ns(FIRST_DAY.isoformat()))


def test_as_of_without_from_prices_is_refused(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["factors", "model", "--bars", str(tmp_path), "--as-of", "2024-02-05",
                 "--reference", str(tmp_path / "ref.csv"), "--out", str(tmp_path / "fm")])

    assert code == 2 and "--as-of applies to --from-prices only" in capsys.readouterr().err
