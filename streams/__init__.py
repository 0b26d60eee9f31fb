"""Nautilus Streams platform: settings, catalog, event schema, codec, clock, runtime, CLI.

Holds no trading logic; engines live in :mod:`processors`.
"""

__version__ = "0.1.0"
