"""The progress bars of `backtest`: on a terminal they show the replay's stages and a sweep's
runs; on stderr that is not a terminal (a log, a pipe, CI) they draw nothing."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from streams.cli.main import main
from tests.streams.report.bars import daily_bar_file

CYCLE = "sma_cross+pretrade+execution+portfolio"  # the cycle's engines, as the bar names them


class Terminal(io.StringIO):
    """stderr as a terminal: what a person watching the command sees (escape codes and all)."""

    def isatty(self) -> bool:
        return True


def _backtest(bars: Path, out: Path, *extra: str) -> int:
    return main(["backtest", "-i", str(bars), "--strategy", "sma_cross",
                 "--set", "sma_cross.fast=3", "--set", "sma_cross.slow=8", *extra,
                 "--out", str(out)])


def test_no_bar_when_stderr_is_not_a_terminal(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    bars = daily_bar_file(tmp_path / "bars.csv", days=30)

    assert _backtest(bars, tmp_path / "one") == 0
    single = capsys.readouterr().err
    assert main(["backtest", "-i", str(bars), "--strategy", "sma_cross",
                 "--sweep", "sma_cross.fast=2,3", "--out", str(tmp_path / "sweep")]) == 0
    sweep = capsys.readouterr().err

    for err in (single, sweep):
        assert "\r" not in err and "\x1b[" not in err
        assert CYCLE not in err and "runs/s" not in err and " runs]" not in err
        assert "read 60 rows" not in err


def test_on_a_terminal_the_bar_shows_each_stage_and_the_sweep_s_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bars = daily_bar_file(tmp_path / "bars.csv", days=30)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)

    assert _backtest(bars, tmp_path / "one") == 0
    single = terminal.getvalue()
    terminal.seek(0)
    terminal.truncate()
    assert main(["backtest", "-i", str(bars), "--strategy", "sma_cross",
                 "--sweep", "sma_cross.fast=2,3", "--out", str(tmp_path / "sweep")]) == 0
    sweep = terminal.getvalue()

    assert "read 60 rows" in single  # the files, as `replay` shows them
    assert "features:" in single
    assert f"{CYCLE}+margin:" in single
    assert "analytics:" in single
    assert "sweep:" in sweep and "/2 [" in sweep
