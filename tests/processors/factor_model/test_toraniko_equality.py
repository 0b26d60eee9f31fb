"""The factor model equals toraniko 1.1.1 on the same files: factor returns and residual
returns of every day, to 1e-10.

toraniko pins numpy 1.26, so it runs from a virtualenv of its own, .venv-toraniko (`make
toraniko`; the session fixture runs that target when the venv is absent: about 20 s), on
the bar and reference files the test writes; `nautilus-streams factors model` reads the
same files. Default parameters throughout (momentum over 504 days lagged 20), so the
synthetic market has 560 days: 36 days fitted.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from streams.cli.main import main
from tests.processors.factor_model.synthetic import write_market

ROOT = Path(__file__).parents[3]
TORANIKO_PYTHON = ROOT / ".venv-toraniko" / "bin" / "python"
REFERENCE_SCRIPT = Path(__file__).with_name("toraniko_reference.py")
TOLERANCE = 1e-10


@pytest.fixture(scope="session")
def toraniko_python() -> Path:
    subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "toraniko"], check=True)
    return TORANIKO_PYTHON


def test_factor_and_residual_returns_equal_toranikos(toraniko_python: Path,
                                                     tmp_path: Path) -> None:
    bars, reference = write_market(tmp_path, days=560, symbols=40)
    subprocess.run([str(toraniko_python), str(REFERENCE_SCRIPT), str(bars), str(reference),
                    str(tmp_path / "toraniko")], check=True)
    assert main(["factors", "model", "--bars", str(bars), "--reference", str(reference),
                 "--out", str(tmp_path / "ours")]) == 0

    theirs = pd.read_csv(tmp_path / "toraniko" / "factor_returns.csv", index_col="date")
    ours = pd.read_csv(tmp_path / "ours" / "factor_returns.csv", index_col="date")
    assert list(ours.columns) == list(theirs.columns) == [
        "market", "Energy", "Financials", "Health", "Technology", "momentum", "size", "value"]
    assert list(ours.index) == list(theirs.index) and len(ours) == 36
    np.testing.assert_allclose(ours.to_numpy(), theirs.to_numpy(), rtol=0, atol=TOLERANCE)
    assert ours.abs().to_numpy().min() > 1e-9  # no factor return is a trivial zero

    theirs = pd.read_csv(tmp_path / "toraniko" / "residuals.csv").set_index(["date", "symbol"])
    ours = pd.read_csv(tmp_path / "ours" / "residuals.csv").set_index(["date", "symbol"])
    assert list(ours.index) == list(theirs.index) and len(ours) == 36 * 40
    np.testing.assert_allclose(ours["residual"], theirs["residual"], rtol=0, atol=TOLERANCE)
