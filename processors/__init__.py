"""The engines: pure classes, batch in, outputs out. Nothing here imports Faust.

`ENGINES` maps each engine's name to its class; the runtime and replay look engines up here.
An engine module is imported when its class is first looked up, not with this package:
the VPIN engine keeps its state in torch tensors, and torch takes seconds to import, which
commands that run no engine (and `streams.settings`, which reads the parameter models)
must not pay.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from processors.base import Emit, Engine
from streams.exceptions import ConfigError

if TYPE_CHECKING:
    from processors.bars import BarEngine
    from processors.features import FeaturesEngine
    from processors.microstructure import MicrostructureEngine
    from processors.vpin import VpinEngine


class EngineRegistry(Mapping[str, type[Engine]]):
    """Engine name -> class, each class imported from its module on first lookup."""

    def __init__(self, locations: dict[str, str]) -> None:
        self._locations = locations  # name -> "module:ClassName"

    def __getitem__(self, name: str) -> type[Engine]:
        module, _, cls_name = self._locations[name].partition(":")
        cls: type[Engine] = getattr(importlib.import_module(module), cls_name)
        if cls.name != name:
            raise TypeError(f"engine registered as {name!r} is named {cls.name!r}")
        return cls

    def __iter__(self) -> Iterator[str]:
        return iter(self._locations)

    def __len__(self) -> int:
        return len(self._locations)

    def select(self, names: list[str] | None) -> list[type[Engine]]:
        """Engine classes by name (all when None or empty); unknown names are a ConfigError."""
        if not names:
            return [self[name] for name in self]
        unknown = [n for n in names if n not in self._locations]
        if unknown:
            raise ConfigError(
                f"unknown engine(s) {', '.join(unknown)}; known: {', '.join(self._locations)}"
            )
        return [self[n] for n in names]


_LOCATIONS = {
    "bars": "processors.bars:BarEngine",
    "features": "processors.features:FeaturesEngine",
    "microstructure": "processors.microstructure:MicrostructureEngine",
    "vpin": "processors.vpin.engine:VpinEngine",
}
ENGINES = EngineRegistry(_LOCATIONS)
_CLASS_NAMES = {location.partition(":")[2]: name for name, location in _LOCATIONS.items()}


def __getattr__(attr: str) -> type[Engine]:
    """`from processors import VpinEngine` imports the engine's module then."""
    if attr in _CLASS_NAMES:
        return ENGINES[_CLASS_NAMES[attr]]
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = ["ENGINES", "Emit", "Engine", "BarEngine", "FeaturesEngine", "MicrostructureEngine", "VpinEngine"]
