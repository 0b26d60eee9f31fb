"""Stress scenario files (processors/risk/stress.py): shocks per symbol and per group, the
loss -sum(v x shock), and one-line errors naming the file for what the format refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from processors.risk.stress import SHIPPED, load_scenarios

FILE = """\
groups:
  tech: [AAPL, MSFT]
  index: [ESZ6]
scenarios:
  crash:
    description: tech worst, MSFT worse still
    default: -0.10
    groups: {tech: -0.20, index: -0.15}
    symbols: {MSFT: -0.30}
  rotation:
    groups: {tech: -0.05}
    symbols: {XOM: 0.04}
"""


def write(tmp_path: Path, text: str, name: str = "shocks.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_symbol_takes_its_own_shock_else_its_groups_else_the_default(tmp_path: Path) -> None:
    crash, rotation = load_scenarios([write(tmp_path, FILE)])

    assert [crash.shock(s) for s in ("MSFT", "AAPL", "ESZ6", "EURUSD")] == [
        -0.30, -0.20, -0.15, -0.10]
    assert [rotation.shock(s) for s in ("AAPL", "XOM", "ESZ6")] == [-0.05, 0.04, 0.0]


def test_the_loss_is_minus_value_times_shock_summed(tmp_path: Path) -> None:
    crash, rotation = load_scenarios([write(tmp_path, FILE)])
    # $10,000 AAPL, -$4,000 MSFT (short), $2,000 EURUSD, -$1,000 XOM
    values = {"AAPL": 10_000.0, "MSFT": -4_000.0, "EURUSD": 2_000.0, "XOM": -1_000.0}

    # crash: 10,000 x 0.20 - 4,000 x 0.30 + 2,000 x 0.10 - 1,000 x 0.10 = 2,000 - 1,200 + 100
    assert crash.loss(values) == pytest.approx(900.0)
    # rotation: 10,000 x 0.05 - 4,000 x 0.05 + 0, and the XOM short loses 1,000 x 0.04
    assert rotation.loss(values) == pytest.approx(500 - 200 + 40)


def test_the_shipped_files_load_and_name_their_scenarios() -> None:
    scenarios = load_scenarios(["equity_crash", "sector_rotation"])

    assert [s.name for s in scenarios] == ["equity_crash", "sector_rotation"]
    crash, rotation = scenarios
    assert (crash.shock("AAPL"), crash.shock("ESZ6"), crash.shock("EURUSD")) == (
        -0.15, -0.12, -0.02)
    assert (rotation.shock("NQZ6"), rotation.shock("JPM"), rotation.shock("EURUSD")) == (
        -0.05, 0.06, 0.0)
    assert {p.name for p in SHIPPED.glob("*.yaml")} == {"equity_crash.yaml",
                                                         "sector_rotation.yaml"}


@pytest.mark.parametrize(("text", "says"), [
    ("scenarios: {a: {groups: {nope: -0.1}}}\n", "shocks group 'nope', which the file's "
     "groups do not define"),
    ("groups: {x: [AAPL], y: [AAPL, MSFT]}\nscenarios: {a: {groups: {x: -0.1, y: -0.2}}}\n",
     "scenario 'a' shocks AAPL by x (-0.1) and by y (-0.2); give AAPL a shock of its own"),
    ("scenarios: {a: {symbols: {AAPL: -1.5}}}\n", "shocks below -1"),
    ("scenarios: {a: {default: -2}}\n", "scenarios.a.default: Input should be greater than"),
    ("scenarios: {a: {shock: -0.1}}\n", "scenarios.a.shock: Extra inputs are not permitted"),
    ("scenarios: {}\n", "scenarios: Dictionary should have at least 1 item"),
    ("groups: [AAPL]\nscenarios: {a: {}}\n", "groups: Input should be a valid dictionary"),
    ("scenarios: {a: {default: -0.1}\n", "not YAML"),
])
def test_a_bad_file_is_one_line_naming_it(tmp_path: Path, text: str, says: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ValueError, match="stress scenarios") as caught:
        load_scenarios([path])

    message = str(caught.value)
    assert message.startswith(f"stress scenarios {path}: ") and "\n" not in message
    assert says in message


def test_a_missing_file_and_a_name_used_twice_are_refused(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match=rf"^stress scenarios {missing}: cannot read it "):
        load_scenarios([missing])
    with pytest.raises(ValueError, match="no_such_name.yaml: cannot read it"):
        load_scenarios(["no_such_name"])  # a bare name is a shipped file

    first = write(tmp_path, "scenarios: {crash: {default: -0.1}}\n", "a.yaml")
    second = write(tmp_path, "scenarios: {crash: {default: -0.2}}\n", "b.yaml")
    with pytest.raises(ValueError, match=f"{second}: scenario 'crash' is also in an earlier"):
        load_scenarios([first, second])
