"""Backtest and sweep reports: `OUT/report.html`, one self-contained page of plotly charts
and tables (`data` reads the run's outputs, `figures` draws them, `html` lays out the page)."""

from __future__ import annotations

from pathlib import Path

from streams.report.data import ReportData, report_data
from streams.report.html import backtest_page, sweep_page

__all__ = ["ReportData", "backtest_page", "report_data", "sweep_page", "write_page"]


def write_page(page: str, out_dir: Path) -> Path:
    """Write `page` as out_dir/report.html."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
