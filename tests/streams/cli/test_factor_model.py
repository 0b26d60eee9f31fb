"""`nautilus-streams factors model` end to end on files: every output written and consistent
with the others, the parameters taken from --set, bad input one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from processors.factor_model import ewma_covariance
from streams.cli.main import main
from tests.processors.factor_model.synthetic import write_market

SHORT_MOMENTUM = ["--set", "momentum_days=20", "--set", "momentum_half_life=10",
                  "--set", "momentum_lag=2", "--set", "covariance_half_life=15"]


def test_outputs_of_a_short_history(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bars, reference = write_market(tmp_path, days=60, symbols=12)
    extra = pd.DataFrame({"date": ["2022-01-03"], "symbol": ["ZZZ"], "close": [5.0]})
    extra.to_csv(tmp_path / "unknown.csv", index=False)
    out = tmp_path / "out"
    assert main(["factors", "model", "--bars", str(bars), "--bars", str(tmp_path / "unknown.csv"),
                 "--reference", str(reference), "--out", str(out), *SHORT_MOMENTUM]) == 0
    assert "38 days fitted (2022-02-02 to 2022-03-25)" in capsys.readouterr().out  # 60 - 2 - 20

    factors = ["market", "Energy", "Financials", "Health", "Technology", "momentum", "size",
               "value"]
    returns = pd.read_csv(out / "factor_returns.csv", index_col="date")
    assert list(returns.columns) == factors and len(returns) == 38
    np.testing.assert_allclose(returns[factors[1:5]].sum(axis=1), 0, atol=1e-15)
    exposures = pd.read_csv(out / "exposures.csv")
    assert list(exposures.columns) == ["date", "symbol", "sector", "market_cap", "momentum",
                                       "size", "value"]
    assert len(exposures) == 38 * 12 and "ZZZ" not in set(exposures["symbol"])
    residuals = pd.read_csv(out / "residuals.csv")
    assert list(residuals.columns) == ["date", "symbol", "residual", "specific_variance"]
    assert residuals[["date", "symbol"]].equals(exposures[["date", "symbol"]])
    mine = residuals[residuals["symbol"] == "S000"]["residual"].to_numpy()
    weights = 0.5 ** (np.arange(len(mine))[::-1] / 15)
    assert residuals[residuals["symbol"] == "S000"]["specific_variance"].iloc[-1] == \
        pytest.approx((weights * mine ** 2).sum() / weights.sum(), rel=1e-12)
    covariance = pd.read_csv(out / "factor_covariance.csv", index_col="factor")
    assert list(covariance.index) == list(covariance.columns) == factors
    np.testing.assert_allclose(covariance, ewma_covariance(returns, 15.0), rtol=1e-15)
    assert np.linalg.eigvalsh(covariance.to_numpy()).min() > -1e-18  # positive semi-definite
    model = json.loads((out / "model.json").read_text())
    assert model["params"]["momentum_days"] == 20 and model["factors"] == factors
    assert (model["first_day"], model["last_day"]) == ("2022-02-02", "2022-03-25")
    assert model["symbols_without_reference"] == ["ZZZ"]


def test_too_short_a_history_fits_no_day(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bars, reference = write_market(tmp_path, days=30, symbols=8)
    assert main(["factors", "model", "--bars", str(bars), "--reference", str(reference),
                 "--out", str(tmp_path / "out")]) == 0
    assert "0 days fitted (none: too little history)" in capsys.readouterr().out
    assert pd.read_csv(tmp_path / "out" / "residuals.csv").empty
    assert json.loads((tmp_path / "out" / "model.json").read_text())["last_day"] is None


@pytest.mark.parametrize(("setting", "message"), [
    ("momentum_days", "expected PARAM=VALUE"),
    ("half_life=3", "expected PARAM=VALUE with PARAM one of momentum_days"),
    ("momentum_lag=-1", "--set: momentum_lag: Input should be greater than or equal to 0"),
    ("size_lower=0.9", "--set: size_lower (0.9) must be below size_upper (0.8)"),
])
def test_bad_settings_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture,
                                              setting: str, message: str) -> None:
    bars, reference = write_market(tmp_path, days=5, symbols=4)
    assert main(["factors", "model", "--bars", str(bars), "--reference", str(reference),
                 "--out", str(tmp_path / "out"), "--set", setting]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nautilus-streams factors: error: ") and message in err
    assert err.count("\n") == 1 and not (tmp_path / "out").exists()
