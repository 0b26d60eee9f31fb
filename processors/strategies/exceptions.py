"""Errors of the strategies package, under the platform's root exception."""

from __future__ import annotations

from streams.exceptions import ConfigError


class StrategyLoadError(ConfigError):
    """A strategy named on the command line cannot be loaded: its module does not import,
    it has no such class, or the class is not a usable `Strategy`."""
