"""A backtest's `performance` figures equal empyrical's on the backtest's own equity series.

`backtest` runs sma_cross over a random-walk bar file with 5-minute analytics periods (so four
hours of bars give dozens of periods, on the epoch grid, not aligned with the first bar). The
period equity series is rebuilt here from the run's own logic.portfolio output, by the
definition (the last snapshot of each period (end - P, end], the first return against the
starting cash), and every figure of summary.json's `performance`, and of each period-end
result in logic.analytics, is compared with empyrical's on that series.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streams.cli.main import main
from tests.factories import MINUTE_NS, T0
from tests.processors.analytics.test_metrics import EMPYRICAL, expected

SYMBOLS = ("AAA", "BBB")
BARS = 240
PERIOD_SECONDS = 300
PERIOD_NS = PERIOD_SECONDS * 1_000_000_000
PPY = 252 * 78  # 5-minute periods of a 6.5-hour session
CASH = 100_000


def _bar_file(path: Path, seed: int = 5) -> None:
    """Random-walk 1-minute bars in cents, per symbol."""
    rng = np.random.default_rng(seed)
    rows = []
    for symbol in SYMBOLS:
        close = 10_000 + np.cumsum(rng.integers(-60, 61, BARS))
        open_ = np.r_[10_000, close[:-1]]
        for i, (o, c) in enumerate(zip(open_, close, strict=True)):
            rows.append((T0 + (i + 1) * MINUTE_NS, symbol, *(f"{v / 100:.2f}" for v in (
                o, max(o, c) + 3, min(o, c) - 3, c)), 1_000))
    rows.sort(key=lambda r: (r[0], r[1]))
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["ts_event", "symbol", "open", "high", "low", "close", "volume"])
        writer.writerows(rows)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The backtest's output directory; what it printed is in `printed.txt` beside it."""
    tmp = tmp_path_factory.mktemp("analytics-backtest")
    _bar_file(tmp / "bars.csv")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["backtest", "-i", str(tmp / "bars.csv"), "--strategy", "sma_cross",
                     "--set", "sma_cross.fast=3", "--set", "sma_cross.slow=8",
                     "--set", "sma_cross.quantity=200", "--set", "execution.fee_bps=2",
                     "--set", f"portfolio.cash={CASH}",
                     "--set", f"analytics.period_seconds={PERIOD_SECONDS}",
                     "--set", f"analytics.periods_per_year={PPY}",
                     "--out", str(tmp / "out")])
    assert code == 0
    (tmp / "printed.txt").write_text(printed.getvalue())
    return tmp / "out"


def _period_equities(out: Path) -> pd.Series:
    """The last snapshot's equity of each period, indexed by period end (rows are in event
    time order, emission order at equal times)."""
    snapshots = pd.read_csv(out / "logic.portfolio.csv")
    assert set(snapshots["account"]) == {"paper"}
    ends = -(-snapshots["ts_event"] // PERIOD_NS) * PERIOD_NS
    return snapshots.groupby(ends, sort=True)["equity"].last().astype(float)


def _returns(equities: pd.Series) -> np.ndarray:
    path = np.r_[float(CASH), equities.to_numpy()]
    return path[1:] / path[:-1] - 1


def _assert_empyrical(values: dict, returns: np.ndarray) -> None:
    for name, reference in EMPYRICAL.items():
        want = expected(reference(returns, PPY))
        if want is None:
            assert values[name] is None, name
        else:
            assert values[name] == pytest.approx(want, rel=1e-9, abs=1e-12), name


def test_the_summarys_performance_is_empyrical_on_the_backtests_equity_series(run) -> None:
    equities = _period_equities(run)
    returns = _returns(equities)
    (account,) = json.loads((run / "summary.json").read_text())["accounts"]
    performance = account["performance"]

    assert len(returns) >= 30 and np.count_nonzero(returns) >= 10
    assert account["performance_periods"] == len(returns)
    _assert_empyrical(performance, returns)
    assert performance["total_return"] == pytest.approx(account["total_return"], rel=1e-9)
    assert performance["fills"] == account["fills"] > 10
    assert performance["fees"] == pytest.approx(float(account["fees"]), rel=1e-12)
    assert performance["turnover"] == pytest.approx(float(account["turnover"]), rel=1e-12)


def test_each_period_end_result_is_empyrical_on_the_periods_before_it(run) -> None:
    equities = _period_equities(run)
    results = pd.read_csv(run / "logic.analytics.csv")
    periodic = results[(results["name"] == "performance") & ~results["final"]]

    # every period but the last closes inside the run (the last is the final result's open one)
    assert list(periodic["ts_event"]) == list(equities.index[:-1])
    for end, values in zip(periodic["ts_event"], periodic["values"], strict=True):
        _assert_empyrical(json.loads(values), _returns(equities[equities.index <= end]))


def test_the_printed_summary_states_sharpe_and_drawdown_as_empyrical(run) -> None:
    (account,) = json.loads((run / "summary.json").read_text())["accounts"]
    performance = account["performance"]
    line = f"sharpe {performance['sharpe']:.4f}, max drawdown {performance['max_drawdown']:.4%}"

    assert performance["max_drawdown"] < 0
    assert line in (run.parent / "printed.txt").read_text()
