"""`backtest --sweep ... --jobs N`: the grid of parameters, one row per run in grid order,
the same table with any number of worker processes; bad --sweep values are one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streams.cli.main import main
from tests.browser import chromium_page
from tests.streams.report.bars import daily_bar_file

FAST, SLOW = (2, 3, 5), (8, 13, 21)


def _sweep(bars: Path, out: Path, *extra: str) -> int:
    return main(["backtest", "-i", str(bars), "--strategy", "sma_cross",
                 "--set", "sma_cross.quantity=1000", "--set", "execution.fee_bps=1",
                 "--sweep", "sma_cross.fast=" + ",".join(map(str, FAST)),
                 "--sweep", "sma_cross.slow=" + ",".join(map(str, SLOW)),
                 "--out", str(out), *extra])


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("sweep")
    bars = daily_bar_file(tmp / "bars.csv", days=90)
    assert _sweep(bars, tmp / "one", "--jobs", "1") == 0
    assert _sweep(bars, tmp / "three", "--jobs", "3", "--report") == 0
    return tmp


def test_nine_runs_give_the_same_table_with_one_job_and_with_three(sweeps: Path) -> None:
    one = pd.read_parquet(sweeps / "one" / "sweep.parquet")
    three = pd.read_parquet(sweeps / "three" / "sweep.parquet")

    assert len(one) == 9
    pd.testing.assert_frame_equal(one, three)
    assert (sweeps / "one" / "sweep.csv").read_bytes() == (
        sweeps / "three" / "sweep.csv").read_bytes()


def test_rows_are_in_grid_order_first_parameter_slowest(sweeps: Path) -> None:
    table = pd.read_csv(sweeps / "one" / "sweep.csv")

    assert list(table.columns[:3]) == ["run", "sma_cross.fast", "sma_cross.slow"]
    assert list(table["run"]) == list(range(9))
    assert list(zip(table["sma_cross.fast"], table["sma_cross.slow"], strict=True)) == [
        (f, s) for f in FAST for s in SLOW]


def test_each_row_is_its_run_s_summary(sweeps: Path) -> None:
    import json

    table = pd.read_csv(sweeps / "three" / "sweep.csv")
    for row in table.to_dict("records"):
        summary = json.loads((sweeps / "three" / "runs" / str(row["run"]) / "summary.json")
                             .read_text())
        (account,) = summary["accounts"]
        assert summary["parameters"]["sma_cross"]["fast"] == row["sma_cross.fast"]
        assert summary["parameters"]["sma_cross"]["slow"] == row["sma_cross.slow"]
        assert row["fills"] == account["fills"]
        assert row["final_equity"] == pytest.approx(float(account["final_equity"]), rel=1e-15)
        assert row["fees"] == pytest.approx(float(account["fees"]), rel=1e-15)
        assert row["snapshot_max_drawdown"] == account["max_drawdown"]
        sharpe = account["performance"]["sharpe"]  # null where undefined: an empty cell
        expected = float("nan") if sharpe is None else sharpe
        assert row["sharpe"] == pytest.approx(expected, rel=1e-15, nan_ok=True)
        assert row["max_drawdown"] == account["performance"]["max_drawdown"]
    assert table["fills"].nunique() > 1  # the parameters made a difference


def test_the_sweep_report_draws_sharpe_over_the_grid_offline(sweeps: Path) -> None:
    table = pd.read_csv(sweeps / "three" / "sweep.csv")
    with chromium_page(1280, 800) as (page, errors):
        attempted: list[str] = []
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
            "file://") else (attempted.append(route.request.url), route.abort()))
        page.goto((sweeps / "three" / "report.html").as_uri())
        page.wait_for_selector(".plotly-graph-div .main-svg", timeout=60_000)
        z = page.evaluate("document.querySelector('.plotly-graph-div').data[0].z")

    assert attempted == [] and errors.all() == []
    expected = table.pivot(index="sma_cross.slow", columns="sma_cross.fast", values="sharpe")
    assert np.allclose(np.array(z, dtype=float), expected.to_numpy(), equal_nan=True)


def test_a_run_without_fills_is_a_row_of_n_a_in_the_sweep_report(tmp_path: Path) -> None:
    # Arrange: 30 days of bars; a slow average of 40 bars never crosses, one of 13 does
    bars = daily_bar_file(tmp_path / "bars.csv", days=30)

    # Act
    code = main(["backtest", "-i", str(bars), "--strategy", "sma_cross",
                 "--sweep", "sma_cross.fast=2", "--sweep", "sma_cross.slow=13,40",
                 "--report", "--out", str(tmp_path / "out")])

    # Assert: both runs in the table and the page, the one without fills without figures
    assert code == 0
    table = pd.read_csv(tmp_path / "out" / "sweep.csv")
    assert list(table["fills"] > 0) == [True, False]
    assert np.isnan(table["annual_return"][1])
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<th>annual_return</th>" in page and page.count("n/a") >= 1


@pytest.mark.parametrize(("sweep", "message"), [
    ("sma_cross.fast", "--sweep sma_cross.fast: expected ENGINE.PARAM=V1,V2,..."),
    ("fast=1,2", "--sweep fast=1,2: expected ENGINE.PARAM=V1,V2,..."),
    ("sma_cross.fast=", "--sweep sma_cross.fast=: an empty value"),
    ("sma_cross.fast=2,,3", "--sweep sma_cross.fast=2,,3: an empty value"),
    ("sma_cross.fast=2,3,2", "--sweep sma_cross.fast=2,3,2: 2 given twice"),
    ("sma_cross.fast=2,zero", "--sweep sma_cross.fast=zero: sma_cross.fast: Input should be"),
    ("sma_cross.fast=0", "--sweep sma_cross.fast=0: sma_cross.fast: Input should be greater"),
    ("sma_cross.speed=1", "--sweep sma_cross.speed=1: sma_cross has no parameter 'speed'"),
    ("nosuch.fast=1", "--sweep nosuch.fast=1: unknown engine 'nosuch'"),
    ("sma_cross.quantity=5,6", "--sweep sma_cross.quantity is also --set"),
])
def test_a_bad_sweep_is_one_line_and_runs_nothing(
    sweep: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bars = daily_bar_file(tmp_path / "bars.csv", days=5)

    code = main(["backtest", "-i", str(bars), "--strategy", "sma_cross",
                 "--set", "sma_cross.quantity=1000", "--sweep", sweep,
                 "--out", str(tmp_path / "out")])

    err_lines = [line for line in capsys.readouterr().err.splitlines()
                 if "parameters from" not in line]
    assert code == 2
    assert err_lines == [err_lines[-1]] and err_lines[-1].startswith(
        f"nautilus-streams backtest: error: {message}"), err_lines
    assert not (tmp_path / "out").exists()


def test_the_same_parameter_swept_twice_is_refused(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    bars = daily_bar_file(tmp_path / "bars.csv", days=5)

    code = main(["backtest", "-i", str(bars), "--strategy", "sma_cross",
                 "--sweep", "sma_cross.fast=1,2", "--sweep", "sma_cross.fast=3",
                 "--out", str(tmp_path / "out")])

    assert code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "nautilus-streams backtest: error: --sweep sma_cross.fast given twice")


def test_jobs_below_one_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bars = daily_bar_file(tmp_path / "bars.csv", days=5)

    code = main(["backtest", "-i", str(bars), "--strategy", "sma_cross",
                 "--sweep", "sma_cross.fast=1,2", "--jobs", "0", "--out", str(tmp_path / "o")])

    assert code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "nautilus-streams backtest: error: --jobs 0: give 1 or more")


def test_a_grid_point_whose_values_clash_is_named(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    bars = daily_bar_file(tmp_path / "bars.csv", days=5)

    code = main(["backtest", "-i", str(bars), "--strategy", "sma_cross",
                 "--sweep", "sma_cross.fast=2,9", "--sweep", "sma_cross.slow=5,20",
                 "--out", str(tmp_path / "out")])

    assert code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "nautilus-streams backtest: error: --sweep sma_cross.fast=9 sma_cross.slow=5: "
        "sma_cross: Value error, fast (9) must be less than slow (5)")
    assert not (tmp_path / "out").exists()
