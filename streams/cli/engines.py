"""The engine options `worker` and `replay` share, derived from the registry
(`processors.ENGINES`): the names `--engines` accepts and the parameters `--set` takes."""

from __future__ import annotations

import argparse

from processors import ENGINES
from streams.exceptions import ConfigError


def engine_names(text: str) -> list[str]:
    """`--engines`: comma-separated registered engine names; an unknown one is a usage error
    naming the known ones."""
    try:
        return ENGINES.names(text) or []
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def engines_help() -> str:
    """`--help` epilog: every engine and the parameters `--set` takes for it."""
    return ("engines and the parameters --set takes (env NAUTILUS_<ENGINE>__<PARAM>):\n"
            f"{ENGINES.describe()}")
