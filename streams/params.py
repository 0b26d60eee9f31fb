"""`--set ENGINE.PARAM=VALUE` overrides on top of the engine parameters from settings.

Paths are dotted: `bars.grace_ms=5000`; a path into a mapping parameter adds or replaces one
entry (`vpin.bucket_volume.AAPL=25000`). Values are parsed as JSON when they can be
(numbers, true/false, null, lists), otherwise kept as strings; the engine's parameter model
validates the result, so a bad value fails with the parameter's own message.
"""

from __future__ import annotations

import json

from pydantic import ValidationError

from streams.exceptions import ConfigError
from streams.settings import EngineParams


def parse_override(text: str) -> tuple[list[str], object]:
    path, sep, raw = text.partition("=")
    if not sep or not path.strip():
        raise ConfigError(f"--set expects ENGINE.PARAM=VALUE, got {text!r}")
    parts = [p.strip() for p in path.split(".")]
    if len(parts) < 2 or not all(parts):
        raise ConfigError(f"--set path must be ENGINE.PARAM[.KEY], got {path!r}")
    try:
        value: object = json.loads(raw)
    except ValueError:
        value = raw
    return parts, value


def apply_overrides(params: EngineParams, overrides: list[str]) -> EngineParams:
    """A new EngineParams with every override applied, validated by the engines' models."""
    doc = params.model_dump()
    for text in overrides:
        parts, value = parse_override(text)
        engine, param = parts[0], parts[1]
        if engine not in doc:
            raise ConfigError(f"--set {text}: unknown engine {engine!r}; known: {', '.join(doc)}")
        if param not in doc[engine]:
            known = ", ".join(doc[engine]) or "none"
            raise ConfigError(f"--set {text}: {engine} has no parameter {param!r}; known: {known}")
        node = doc
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                if part not in node:
                    raise ConfigError(f"--set {text}: {engine} has no parameter {part!r}")
                child = {} if child is None else child
                if not isinstance(child, dict):
                    raise ConfigError(f"--set {text}: {part!r} is not a mapping")
                node[part] = child
            node = child
        node[parts[-1]] = value
    try:
        return EngineParams.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"--set: {loc}: {first['msg']}") from None
