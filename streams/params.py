"""Engine parameters for a run: `--set ENGINE.PARAM=VALUE` overrides on top of the parameters
from settings, and the parameters a worker published with its health (`replay --params live`).

Paths are dotted: `bars.grace_ms=5000`; a path into a mapping parameter adds or replaces one
entry (`vpin.bucket_volume.AAPL=25000`). Values are parsed as JSON when they can be
(numbers, true/false, null, lists), otherwise kept as strings; the engine's parameter model
validates the result, so a bad value fails with the parameter's own message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from dataclasses import dataclass

from pydantic import JsonValue, ValidationError

from streams import codec, kafka
from streams.exceptions import BrokerError, ConfigError, DecodeError
from streams.schema import EngineHealth
from streams.settings import EngineParams

log = logging.getLogger(__name__)
HEALTH_TOPIC = "logic.engine.health"


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
    """A new EngineParams (of `params`' class: it may carry unregistered engines, see
    `streams.settings.with_engines`) with every override applied, validated by the engines'
    models."""
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
        return type(params).model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(f"--set: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    """`path.to.param: message` of the first validation error."""
    first = exc.errors()[0]
    return f"{'.'.join(str(x) for x in first['loc'])}: {first['msg']}"


@dataclass(frozen=True, slots=True)
class PublishedParams:
    """The parameters one engine worker ran with, from its health record."""

    engine: str
    worker: str
    ts_ns: int  # when the worker published them
    values: dict[str, JsonValue]


def published_params(brokers: str, engines: Collection[str]) -> dict[str, PublishedParams]:
    """For each of `engines` that has one, the parameters of its newest health record on
    logic.engine.health that carries parameters. The topic is read from its end backwards,
    only as far as needed; a topic that cannot be read gives none (logged)."""
    found: dict[str, PublishedParams] = {}
    try:
        for window in kafka.read_backwards(brokers, HEALTH_TOPIC):
            found.update(_newest_params(window, set(engines) - found.keys()))
            if found.keys() >= set(engines):
                break
    except BrokerError as exc:
        log.warning("engine parameters unavailable topic=%s error=%s", HEALTH_TOPIC, exc)
    return found


def _newest_params(
    records: list[tuple[int, int, bytes | None, bytes]], engines: set[str]
) -> dict[str, PublishedParams]:
    """The newest (by ts_event) health record with parameters of each of `engines`."""
    newest: dict[str, PublishedParams] = {}
    for _, _, key, value in records:
        engine = key.decode(errors="replace") if key is not None else ""
        if engine not in engines:
            continue
        try:
            health = codec.decode("EngineHealth", value)
        except DecodeError:
            continue
        assert isinstance(health, EngineHealth)
        if health.params is not None and (
            engine not in newest or health.ts_event >= newest[engine].ts_ns
        ):
            newest[engine] = PublishedParams(engine, health.worker, health.ts_event,
                                             health.params)
    return newest


def with_published(params: EngineParams, published: dict[str, PublishedParams]) -> EngineParams:
    """`params` with each published engine's parameters in place of its own."""
    doc = params.model_dump()
    for engine, pub in published.items():
        try:
            EngineParams.model_validate({engine: pub.values})
        except ValidationError as exc:
            raise ConfigError(
                f"the {engine} parameters worker {pub.worker} published do not fit this "
                f"version ({_first_error(exc)}); use --params defaults"
            ) from None
        doc[engine] = pub.values
    return type(params).model_validate(doc)
