"""User strategies without editing the platform: the README's example loaded by
`module:Class` from the current directory, its parameters from `--set` and the environment,
the replay command running it, and one-line errors for what cannot be loaded."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from processors import ENGINES
from processors.strategies import StrategyLoadError, load
from processors.strategies.engine import StrategyEngine
from streams.codec import event_columns
from streams.exceptions import ConfigError
from streams.params import apply_overrides
from streams.replay import Source, run_replay
from streams.settings import REPO_ROOT, Settings, with_engines
from tests.processors.strategies.events import bar, minute

README = (REPO_ROOT / "README.md").read_text()
CLOSES = ["10", "11", "12", "9", "13"]  # lookback 2: buy at 3, sell at 4 (limit 9), buy at 5


def readme_strategy() -> str:
    """The complete user strategy of the README's Strategies section."""
    section = README.split("\n### Strategies\n", 1)[1]
    return section.split("```python\n", 1)[1].split("\n```", 1)[0]


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The README's example as my_strategies.py in the current directory."""
    (tmp_path / "my_strategies.py").write_text(readme_strategy())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the loader adds the directory to it
    monkeypatch.delitem(sys.modules, "my_strategies", raising=False)
    return tmp_path


def _orders(engine: type[StrategyEngine], overrides: list[str]) -> list[tuple]:
    params = apply_overrides(with_engines(Settings().engine_params(), [engine]), overrides)
    bars = [bar(m, close) for m, close in enumerate(CLOSES, start=1)]
    result = run_replay([Source("market.bars.1m", event_columns("Bar", bars))], [engine],
                        params)
    return [(o.value.order_id, o.value.side, o.value.quantity, o.value.order_type,
             o.value.limit_price, o.value.ts_event) for o in result.outputs["logic.orders"]]


def test_the_readme_strategy_runs_from_its_module_with_set_parameters(user_module: Path) -> None:
    engine = load("my_strategies:Breakout")

    placed = _orders(engine, ["breakout.lookback=2", "breakout.quantity=5"])

    assert engine.name == "breakout"
    assert placed == [
        ("breakout:AAPL:1", "buy", 5, "market", None, minute(3)),
        ("breakout:AAPL:2", "sell", 5, "limit", Decimal("9"), minute(4)),
        ("breakout:AAPL:3", "buy", 5, "market", None, minute(5)),
    ]


def test_a_user_strategy_reads_its_parameters_from_the_environment(
    user_module: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NAUTILUS_BREAKOUT__LOOKBACK", "2")
    monkeypatch.setenv("NAUTILUS_BREAKOUT__QUANTITY", "7")
    engine = load("my_strategies:Breakout")

    placed = _orders(engine, ["breakout.quantity=3"])  # --set goes over the environment

    assert [(o[0], o[2]) for o in placed] == [
        ("breakout:AAPL:1", 3), ("breakout:AAPL:2", 3), ("breakout:AAPL:3", 3)]
    with pytest.raises(ConfigError, match="breakout has no parameter 'lookbak'"):
        _orders(engine, ["breakout.lookbak=3"])


def test_built_ins_load_by_name() -> None:
    assert load("sma_cross") is ENGINES["sma_cross"]
    assert load("vpin_guard") is ENGINES["vpin_guard"]


@pytest.mark.parametrize(("spec", "message"), [
    ("no_such_module:Breakout", "module 'no_such_module' not found"),
    ("my_strategies:Nope", "has no 'Nope'"),
    ("my_strategies:BreakoutParams", "is not a Strategy subclass"),
    ("my_strategies:Named", "the name of a registered engine"),
    ("my_strategies:Unnamed", "name must be lower case"),
    ("momentum", "unknown strategy 'momentum'; built-in: sma_cross, ml_signal, vpin_guard"),
    ("vpin", "unknown strategy 'vpin'"),
])
def test_what_cannot_be_loaded_is_a_clear_error(
    user_module: Path, spec: str, message: str
) -> None:
    with (user_module / "my_strategies.py").open("a") as module:
        module.write("\n\nclass Named(Breakout):\n    name = 'vpin'\n\n\n"
                     "class Unnamed(Strategy):\n    pass\n")

    with pytest.raises(StrategyLoadError, match=message):
        load(spec)


def test_the_replay_command_runs_a_user_strategy_with_set_parameters(user_module: Path) -> None:
    # one trade a minute: each closes the bar before it; the last bar closes at the end
    trades = user_module / "trades.csv"
    rows = [(minute(m - 1) + 1_000, "AAPL", close, 100) for m, close in enumerate(CLOSES, 1)]
    pd.DataFrame(rows, columns=["ts_event", "symbol", "price", "size"]).to_csv(trades,
                                                                               index=False)

    result = subprocess.run(
        [sys.executable, "-m", "streams", "replay", "--input", str(trades),
         "--engines", "bars,my_strategies:Breakout", "--set", "breakout.lookback=2",
         "--out", str(user_module / "out")],
        capture_output=True, text=True, timeout=120, cwd=user_module)

    assert result.returncode == 0, result.stderr
    placed = pd.read_csv(user_module / "out" / "logic.orders.csv")
    assert list(zip(placed["order_id"], placed["side"], placed["quantity"],
                    placed["ts_event"], strict=True)) == [
        ("breakout:AAPL:1", "buy", 100, minute(3)), ("breakout:AAPL:2", "sell", 100, minute(4)),
        ("breakout:AAPL:3", "buy", 100, minute(5))]
    assert 'breakout parameters from this process\'s settings, then --set breakout.lookback=2' \
        in result.stderr


def test_the_worker_runs_vpin_guard_by_default_and_sma_cross_only_when_named() -> None:
    by_default = [e.name for e in ENGINES.select(None)]
    named = [e.name for e in ENGINES.select(["bars", "sma_cross"])]

    assert "vpin_guard" in by_default and "sma_cross" not in by_default
    assert named == ["bars", "sma_cross"]
