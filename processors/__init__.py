"""The engines: pure classes, batch in, outputs out. Nothing here imports Faust.

`ENGINES` maps each engine's name to its class; the runtime and replay look engines up here.
"""

from processors.bars import BarEngine
from processors.base import Emit, Engine
from processors.microstructure import MicrostructureEngine
from processors.vpin import VpinEngine

ENGINES: dict[str, type[Engine]] = {
    engine.name: engine for engine in (BarEngine, MicrostructureEngine, VpinEngine)
}

__all__ = ["ENGINES", "Emit", "Engine", "BarEngine", "MicrostructureEngine", "VpinEngine"]
