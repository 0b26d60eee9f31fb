"""Strategies by name or by `module:Class`, for `backtest --strategy` and `--engines`.

A name is a registered engine that runs a strategy (`sma_cross`, `vpin_guard`); `module:Class`
imports a user's `Strategy` subclass without any change to the platform. Modules are found on
the Python path and in the current directory (as `uvicorn main:app` finds them).
"""

from __future__ import annotations

import importlib
import os
import sys

from processors.strategies.engine import StrategyEngine, engine_class
from processors.strategies.exceptions import StrategyLoadError
from processors.strategies.strategy import Strategy, StrategyParams


def load(spec: str) -> type[StrategyEngine]:
    """The engine class that runs strategy `spec`: a built-in's name or `module:Class`.

    A StrategyLoadError (a ConfigError: one line on the CLI) says what is wrong: an unknown
    name (listing the built-ins), a module that does not import, a missing class, a class
    that is not a Strategy subclass, or a name taken by another engine.
    """
    from processors import ENGINES

    spec = spec.strip()
    module_name, colon, class_name = spec.partition(":")
    if not colon:
        if spec in builtin_names():
            return ENGINES[spec]  # type: ignore[return-value]
        raise StrategyLoadError(
            f"unknown strategy {spec!r}; built-in: {', '.join(builtin_names())}, "
            "or give a user strategy as module:Class (e.g. mypkg.strat:MyStrategy)")
    if not module_name or not class_name:
        raise StrategyLoadError(f"strategy {spec!r}: expected module:Class, "
                                "e.g. mypkg.strat:MyStrategy")
    strategy = _import_class(module_name, class_name)
    try:
        engine = engine_class(strategy)
    except TypeError as exc:
        raise StrategyLoadError(f"strategy {spec}: {exc}") from None
    if engine.name in ENGINES and ENGINES[engine.name] is not engine:
        raise StrategyLoadError(f"strategy {spec} is named {engine.name!r}, the name of a "
                                "registered engine; give its class another `name`")
    return engine


def builtin_names() -> list[str]:
    """The registered engines that run strategies (told by their parameter model, which
    imports without the engines)."""
    from processors import ENGINES

    return [name for name in ENGINES if issubclass(ENGINES.params_model(name), StrategyParams)]


def _import_class(module_name: str, class_name: str) -> type[Strategy]:
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = f"module {exc.name!r} not found" if exc.name else str(exc)
        where = "" if exc.name != module_name.split(".")[0] else (
            " (on the Python path or in the current directory)")
        raise StrategyLoadError(f"strategy {module_name}:{class_name}: {missing}{where}"
                                ) from None
    found = getattr(module, class_name, None)
    if found is None:
        raise StrategyLoadError(f"strategy {module_name}:{class_name}: module {module_name!r} "
                                f"({module.__file__}) has no {class_name!r}")
    if not (isinstance(found, type) and issubclass(found, Strategy)):
        raise StrategyLoadError(
            f"strategy {module_name}:{class_name} is not a Strategy subclass "
            "(subclass processors.strategies.Strategy)")
    return found
