"""Stress scenarios: relative price shocks per symbol or per group, read from YAML files.

A file names groups of symbols and one or more scenarios:

    groups:                      # optional: group -> its symbols
      us_tech: [AAPL, MSFT, NVDA]
    scenarios:                   # scenario -> its shocks (relative price moves, -0.2 = -20%)
      equity_crash:
        description: broad sell-off   # optional, for people
        default: -0.15           # optional: every symbol no other entry names (else 0)
        groups: {us_tech: -0.25} # optional: every symbol of the group
        symbols: {NQZ6: -0.22}   # optional: these symbols; beats its groups and the default

A symbol's shock is its own entry, else its group's, else the default, else 0. A scenario
that shocks two groups sharing a symbol by different amounts is refused (which applies would
be a guess), as are a group the file does not define, a shock below -1 (a price below zero),
unknown keys and a scenario name that another file also uses. The loss of a position worth v
(quantity x mark) is -v x shock, summed over the account's positions: positive is a loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

SHIPPED = Path(__file__).parent / "scenarios"
Shock = float


class _ScenarioSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    default: Shock = Field(default=0.0, ge=-1, allow_inf_nan=False)
    groups: dict[str, Shock] = Field(default_factory=dict)
    symbols: dict[str, Shock] = Field(default_factory=dict)


class _FileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    groups: dict[str, list[str]] = Field(default_factory=dict)
    scenarios: dict[str, _ScenarioSpec] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One stress scenario: every symbol's relative price shock."""

    name: str
    default: Shock
    shocks: dict[str, Shock]  # symbols with a shock of their own or of a group

    def shock(self, symbol: str) -> Shock:
        return self.shocks.get(symbol, self.default)

    def loss(self, values: dict[str, float]) -> float:
        """The loss (positive) of positions worth `values` (symbol -> quantity x mark)."""
        return 0.0 - sum(value * self.shock(symbol) for symbol, value in sorted(values.items()))


def scenario_path(name: str) -> Path:
    """A shipped file by bare name (`equity_crash`), else the path given."""
    if "/" not in name and "\\" not in name and not name.endswith((".yaml", ".yml")):
        return SHIPPED / f"{name}.yaml"
    return Path(name)


def load_scenarios(names: tuple[str, ...] | list[str]) -> list[Scenario]:
    """Every scenario of the files `names`, in file order then file order within each; a
    ValueError naming the file and what is wrong otherwise."""
    scenarios: list[Scenario] = []
    for name in names:
        path = scenario_path(name)
        for scenario in _load_file(path):
            if any(s.name == scenario.name for s in scenarios):
                raise ValueError(f"stress scenarios {path}: scenario {scenario.name!r} is "
                                 "also in an earlier file")
            scenarios.append(scenario)
    return scenarios


def _load_file(path: Path) -> list[Scenario]:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ValueError(f"stress scenarios {path}: cannot read it ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"stress scenarios {path}: not YAML ({_first_line(exc)})") from None
    try:
        spec = _FileSpec.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "the file"
        raise ValueError(f"stress scenarios {path}: {where}: {error['msg']}") from None
    return [_scenario(path, name, s, spec.groups) for name, s in spec.scenarios.items()]


def _scenario(path: Path, name: str, spec: _ScenarioSpec,
              groups: dict[str, list[str]]) -> Scenario:
    shocks: dict[str, Shock] = {}
    source: dict[str, str] = {}
    for group, shock in spec.groups.items():
        if group not in groups:
            raise ValueError(f"stress scenarios {path}: scenario {name!r} shocks group "
                             f"{group!r}, which the file's groups do not define")
        for symbol in groups[group]:
            if symbol in shocks and shocks[symbol] != shock:
                raise ValueError(f"stress scenarios {path}: scenario {name!r} shocks "
                                 f"{symbol} by {source[symbol]} ({shocks[symbol]}) and by "
                                 f"{group} ({shock}); give {symbol} a shock of its own")
            shocks[symbol], source[symbol] = shock, group
    shocks.update(spec.symbols)
    low = {s: v for s, v in shocks.items() if v < -1}
    if low:
        raise ValueError(f"stress scenarios {path}: scenario {name!r} shocks below -1 "
                         f"(a price below zero): {low}")
    return Scenario(name, spec.default, shocks)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
