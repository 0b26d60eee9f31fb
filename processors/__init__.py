"""The engines: pure classes, batch in, outputs out. Nothing here imports Faust.

`ENGINES` is the one place an engine is registered: one line per engine naming its class and
its parameter model. Everything else follows from it: the engine fields of the settings and
their `NAUTILUS_<ENGINE>__<PARAM>` variables, `--set ENGINE.PARAM=VALUE`, the engine lists
and `--help` of `worker` and `replay`, and the engine conformance tests. The class declares
the rest (inputs by its `@handles` methods, outputs, state key; see `processors.base`).
An engine registered with `default=False` (a strategy one chooses: `sma_cross`) runs only
when `--engines` names it; `--engines` also takes a user strategy as `module:Class`
(`processors.strategies.load`).

Modules are imported on first use, not with this package: the VPIN engine keeps its state in
torch tensors, and torch takes seconds to import, which commands that run no engine (and
`streams.settings`, which reads the parameter models) must not pay. So a parameter model
lives where importing it does not import torch (`processors/vpin/params.py`).
"""

from __future__ import annotations

import importlib
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel

from processors.base import Emit, Engine
from streams.exceptions import ConfigError

if TYPE_CHECKING:
    from processors.bars import BarEngine
    from processors.execution.engine import ExecutionEngine
    from processors.factors.engine import FactorsEngine
    from processors.features import FeaturesEngine
    from processors.margin.engine import MarginEngine
    from processors.microstructure import MicrostructureEngine
    from processors.ml.engine import MlEngine
    from processors.portfolio import PortfolioEngine
    from processors.risk import RiskEngine
    from processors.strategies.ml_signal import MlSignalEngine
    from processors.strategies.sma_cross import SmaCrossEngine
    from processors.strategies.vpin_guard import VpinGuardEngine
    from processors.vpin import VpinEngine


@dataclass(frozen=True, slots=True)
class Registration:
    """One engine: its name, and where its class and its parameter model are
    (`"module:Name"`), so either is imported only when asked for; `default`: whether it runs
    when no engines are named (`worker`, hence `up`, and `replay`)."""

    name: str
    engine: str
    params: str
    default: bool = True

    @property
    def class_name(self) -> str:
        return self.engine.partition(":")[2]


def _load(location: str) -> type:
    module, _, attr = location.partition(":")
    loaded: type = getattr(importlib.import_module(module), attr)
    return loaded


class EngineRegistry(Mapping[str, type[Engine]]):
    """Engine name -> class, each class imported from its module on first lookup."""

    def __init__(self, *registrations: Registration) -> None:
        self._registrations = {r.name: r for r in registrations}
        if len(self._registrations) != len(registrations):
            raise TypeError("an engine name is registered twice")

    def __getitem__(self, name: str) -> type[Engine]:
        registration = self._registrations[name]
        cls: type[Engine] = _load(registration.engine)
        if cls.name != name:
            raise TypeError(f"engine registered as {name!r} is named {cls.name!r}")
        if cls.params_model is not self.params_model(name):
            raise TypeError(f"engine {name!r} takes {cls.params_model.__name__}, registered "
                            f"with {registration.params}")
        return cls

    def __iter__(self) -> Iterator[str]:
        return iter(self._registrations)

    def __len__(self) -> int:
        return len(self._registrations)

    def params_model(self, name: str) -> type[BaseModel]:
        """The parameter model of engine `name`, imported without its engine (no torch)."""
        model: type[BaseModel] = _load(self._registrations[name].params)
        return model

    def params_models(self) -> dict[str, type[BaseModel]]:
        """Engine name -> parameter model, in registration order."""
        return {name: self.params_model(name) for name in self}

    def class_names(self) -> dict[str, str]:
        """Engine class name -> engine name (`from processors import VpinEngine`)."""
        return {r.class_name: name for name, r in self._registrations.items()}

    def defaults(self) -> list[str]:
        """The engines that run when none are named."""
        return [name for name, r in self._registrations.items() if r.default]

    def names(self, text: str | None) -> list[str] | None:
        """A comma-separated list of engine names checked against the registry, and user
        strategies as `module:Class` (None when empty: the defaults); an unknown name is a
        ConfigError naming the known ones."""
        names = [n.strip() for n in (text or "").split(",") if n.strip()]
        return self._known(names) or None

    def select(self, names: list[str] | None) -> list[type[Engine]]:
        """Engine classes by name or `module:Class` (the defaults when None or empty);
        unknown names are a ConfigError."""
        from processors.strategies import load

        return [load(name) if ":" in name else self[name]
                for name in self._known(names or []) or self.defaults()]

    def _known(self, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in self._registrations and ":" not in n]
        if unknown:
            raise ConfigError(
                f"unknown engine(s) {', '.join(unknown)}; known: {', '.join(self)}, or a "
                "strategy as module:Class"
            )
        return names

    def describe(self) -> str:
        """Each engine with the parameters `--set` takes, one line each (for `--help`)."""
        return "\n".join(
            textwrap.fill(f"{name}: {', '.join(model.model_fields) or 'no parameters'}",
                          width=88, initial_indent="  ", subsequent_indent="    ")
            for name, model in self.params_models().items()
        )


ENGINES = EngineRegistry(
    Registration("analytics", "processors.analytics.engine:AnalyticsEngine",
                 "processors.analytics.params:AnalyticsParams"),
    Registration("bars", "processors.bars:BarEngine", "processors.bars:BarParams"),
    Registration("execution", "processors.execution.engine:ExecutionEngine",
                 "processors.execution.params:ExecutionParams"),
    Registration("factors", "processors.factors.engine:FactorsEngine",
                 "processors.factors.params:FactorParams", default=False),
    Registration("features", "processors.features:FeaturesEngine",
                 "processors.features:FeatureParams"),
    Registration("margin", "processors.margin.engine:MarginEngine",
                 "processors.margin.params:MarginParams"),
    Registration("ml", "processors.ml.engine:MlEngine", "processors.ml.params:MlParams",
                 default=False),
    Registration("microstructure", "processors.microstructure:MicrostructureEngine",
                 "processors.microstructure:MicrostructureParams"),
    Registration("portfolio", "processors.portfolio:PortfolioEngine",
                 "processors.portfolio:PortfolioParams"),
    Registration("pretrade", "processors.pretrade.engine:PretradeEngine",
                 "processors.pretrade.params:PretradeParams"),
    Registration("risk", "processors.risk.engine:RiskEngine", "processors.risk.params:RiskParams"),
    Registration("vpin", "processors.vpin.engine:VpinEngine", "processors.vpin.params:VpinParams"),
    Registration("sma_cross", "processors.strategies.sma_cross:SmaCrossEngine",
                 "processors.strategies.sma_cross:SmaCrossParams", default=False),
    Registration("ml_signal", "processors.strategies.ml_signal:MlSignalEngine",
                 "processors.strategies.ml_signal:MlSignalParams", default=False),
    Registration("vpin_guard", "processors.strategies.vpin_guard:VpinGuardEngine",
                 "processors.strategies.vpin_guard:VpinGuardParams"),
)


def __getattr__(attr: str) -> type[Engine]:
    """`from processors import VpinEngine` imports the engine's module then."""
    engine = ENGINES.class_names().get(attr)
    if engine is not None:
        return ENGINES[engine]
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = ["ENGINES", "Emit", "Engine", "BarEngine", "ExecutionEngine", "FactorsEngine",
           "FeaturesEngine", "MarginEngine", "MicrostructureEngine", "MlEngine",
           "MlSignalEngine", "PortfolioEngine", "RiskEngine", "SmaCrossEngine", "VpinEngine",
           "VpinGuardEngine", "Registration"]
