"""`backtest --report`: OUT/report.html, one file that opens offline in a real headless
chromium with every chart drawn (the issue's Done-when), and what it draws."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streams.cli.main import main
from tests.browser import chromium_page, save_screenshot
from tests.streams.report.bars import SYMBOLS, daily_bar_file

CHARTS = 1 + len(SYMBOLS) + 1 + 1  # equity+drawdown, a chart per symbol, returns, rolling


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    daily_bar_file(tmp / "bars.csv", days=120)
    cwd = Path.cwd()
    os.chdir(tmp)  # the report names its input as given: `bars.csv`, as a user would type it
    try:
        assert main(["backtest", "-i", "bars.csv", "--strategy", "sma_cross",
                     "--set", "sma_cross.fast=5", "--set", "sma_cross.slow=20",
                     "--set", "sma_cross.quantity=1000", "--set", "execution.fee_bps=1",
                     "--report", "--out", "out"]) == 0
    finally:
        os.chdir(cwd)
    return tmp / "out" / "report.html"


def test_the_report_opens_offline_with_every_chart_drawn_and_no_errors(
    report: Path, tmp_path: Path
) -> None:
    with chromium_page(1280, 800) as (page, errors):
        attempted: list[str] = []

        def refuse_the_network(route) -> None:  # noqa: ANN001 (playwright's Route)
            if route.request.url.startswith("file://"):
                route.continue_()
            else:
                attempted.append(route.request.url)
                route.abort()

        page.route("**/*", refuse_the_network)
        page.goto(report.as_uri())
        page.wait_for_function(
            f"document.querySelectorAll('.plotly-graph-div .main-svg').length >= {CHARTS}",
            timeout=60_000)
        charts = page.locator(".plotly-graph-div")
        drawn = [charts.nth(i).locator(".main-svg").count() > 0 for i in range(charts.count())]
        titles = page.eval_on_selector_all(".plotly-graph-div .gtitle",
                                           "els => els.map(e => e.textContent)")
        # where a chart has a time axis, it spans the run (an empty subplot once stretched
        # it back to 1970 and the prices disappeared)
        first_times = page.eval_on_selector_all(".plotly-graph-div", """els => els
            .filter(e => e._fullLayout.xaxis.type === 'date')
            .map(e => String(e._fullLayout.xaxis.range[0]).slice(0, 4))""")
        save_screenshot(page, "report.png", tmp_path)

    assert attempted == []
    assert errors.all() == []
    assert len(drawn) == CHARTS and all(drawn)
    assert first_times == ["2023"] * (1 + len(SYMBOLS) + 1)  # and rolling Sharpe
    assert titles[0] == "Equity and drawdown"
    assert [t.split(":")[0] for t in titles[1:1 + len(SYMBOLS)]] == list(SYMBOLS)
    assert "returns by month" in titles[1 + len(SYMBOLS)]
    assert titles[-1] == "Rolling Sharpe"


def test_the_report_is_one_file_with_no_address_to_fetch(report: Path) -> None:
    page = report.read_text(encoding="utf-8")

    assert "<script src=" not in page and "<link " not in page and "<img " not in page
    assert page.count("Plotly.newPlot(") == CHARTS


def test_a_bar_file_backtest_says_why_it_has_no_vpin(report: Path) -> None:
    page = report.read_text(encoding="utf-8")

    assert page.count("no VPIN: the input has no trades") == len(SYMBOLS)


def test_the_fills_table_has_every_fill(report: Path) -> None:
    import csv

    with open(report.parent / "market.executions.csv") as f:
        fills = list(csv.DictReader(f))
    page = report.read_text(encoding="utf-8")
    fills_section = page.split("<h2>Fills</h2>", 1)[1]

    assert len(fills) > 5
    assert fills_section.count("<tr>") == len(fills) + 1  # and the header
    for fill in fills:
        assert f"<td>{fill['order_id']}</td>" in fills_section


def test_the_metrics_are_the_run_s_final_performance_figures(report: Path) -> None:
    import json

    summary = json.loads((report.parent / "summary.json").read_text())
    (account,) = summary["accounts"]
    performance = account["performance"]
    metrics = report.read_text(encoding="utf-8").split("<h2>Metrics</h2>", 1)[1]

    assert performance["sharpe"] is not None
    assert f"<td class='l'>sharpe</td><td>{performance['sharpe']:.4f}</td>" in metrics
    assert (f"<td class='l'>max_drawdown</td><td>{performance['max_drawdown']:.4%}</td>"
            in metrics)
