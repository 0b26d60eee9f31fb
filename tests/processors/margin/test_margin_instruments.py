"""The margin engine's instruments file (processors/margin/instruments.py): defaults, the
shipped example, and one-line errors naming the file and the entry's line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from processors.margin.engine import MarginEngine
from processors.margin.instruments import Instrument, Instruments
from processors.margin.params import EXAMPLE_INSTRUMENTS, MarginParams
from streams.clock import TestClock
from streams.exceptions import ConfigError


def test_a_symbol_not_in_the_file_is_an_equity_with_multiplier_1_and_range_15_percent(
        tmp_path: Path) -> None:
    path = tmp_path / "instruments.yaml"
    path.write_text("- {symbol: ESZ6, asset_class: future, multiplier: 50, scan_range: 0.06}\n")

    instruments = Instruments.load(path)

    assert instruments["ESZ6"] == Instrument(multiplier=50.0, scan_range=0.06,
                                             asset_class="future")
    assert instruments["AAPL"] == Instrument(multiplier=1.0, scan_range=0.15,
                                             asset_class="equity")
    assert Instruments.load(None)["ESZ6"] == Instrument()


def test_the_shipped_example_loads_and_a_list_under_instruments_is_the_same(
        tmp_path: Path) -> None:
    example = Instruments.load(EXAMPLE_INSTRUMENTS)
    nested = tmp_path / "nested.yaml"
    nested.write_text("instruments:\n  - {symbol: AAPL, scan_range: 0.2}\n")

    assert example["ESZ6"].asset_class == "future" and example["ESZ6"].multiplier == 50
    assert Instruments.load(nested)["AAPL"] == Instrument(scan_range=0.2)


@pytest.mark.parametrize(("text", "message"), [
    ("- {symbol: AAPL}\n- {symbol: ESZ6, asset_class: future}\n",
     ":2: ESZ6: a future needs its scan_range"),
    ("- {symbol: AAPL}\n\n- {symbol: B, multiplier: 0}\n",
     ":3: B: multiplier: Input should be greater than 0"),
    ("- {symbol: AAPL, scan_range: 1.5}\n", ":1: AAPL: scan_range: Input should be less than "
     "or equal to 1"),
    ("- {symbol: AAPL, asset_class: bond}\n", ":1: AAPL: asset_class: Input should be "
     "'equity' or 'future'"),
    ("- {symbol: AAPL, margin: 3}\n", ":1: AAPL: margin: Extra inputs are not permitted"),
    ("- {symbol: AAPL}\n- {symbol: AAPL}\n", ":2: AAPL is listed twice"),
    ("- AAPL\n", ":1: expected a mapping with a symbol, got 'AAPL'"),
    ("AAPL: {multiplier: 1}\n", ":1: expected a list of entries"),
    ("- {symbol: AAPL\n", ":2: expected ',' or '}'"),
])
def test_a_bad_file_is_one_line_naming_the_file_and_the_entry(
        tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "margin.yaml"
    path.write_text(text)

    with pytest.raises(ConfigError) as error:
        Instruments.load(path)

    assert str(error.value).startswith(f"instruments file {path}{message}")
    assert "\n" not in str(error.value)


def test_the_engine_refuses_to_start_on_a_missing_file(tmp_path: Path) -> None:
    params = MarginParams(instruments=tmp_path / "missing.yaml")

    with pytest.raises(ConfigError, match=r"^instruments file .*missing\.yaml: No such file"):
        MarginEngine(params, TestClock(0), torch.device("cpu"))
