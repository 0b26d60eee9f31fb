"""Trading strategies: the `Strategy` base class, the built-ins, and loading user strategies.

A strategy subclasses `Strategy` (callbacks on_start, on_bar, on_features, on_vpin,
on_order_event, on_fill, on_stop; `order_factory`, `submit_order`, `order_target`,
`publish_signal`; `position`, `open_orders`, `exposure`; `clock`; `params` from its
`params_model`; `on_save` / `on_load`). `engine_class(cls)` makes it an engine of the graph:
the same class runs in replay, backtest and the worker. Built-ins are registered engines
(`processors.ENGINES`: `sma_cross`, `vpin_guard`), so `--set sma_cross.fast=10` and
`NAUTILUS_SMA_CROSS__FAST` set their parameters; `load(spec)` gives the engine of a built-in
by name or of a user's strategy by `module:Class`.
"""

from __future__ import annotations

from processors.strategies.engine import StrategyEngine, engine_class
from processors.strategies.exceptions import StrategyLoadError
from processors.strategies.loading import builtin_names, load
from processors.strategies.strategy import OrderFactory, Strategy, StrategyParams

__all__ = ["OrderFactory", "Strategy", "StrategyEngine", "StrategyLoadError", "StrategyParams",
           "builtin_names", "engine_class", "load"]
