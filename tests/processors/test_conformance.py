"""Every registered engine keeps the engine contract (processors/base.py), on realistic input.

Parametrized over the registry (`processors.ENGINES`) and fed the samples of the topics each
engine reads (tests/processors/samples.py), so a new engine is checked without editing this
file. The contract: outputs do not depend on how the input was cut into batches (flush
included); the state of every key snapshots to JSON and restores into a fresh engine that
then goes on exactly as the uninterrupted one; a forgotten key leaves no state behind; and
`take_dirty` names exactly the keys whose snapshot changed (the runtime persists only those).
An engine with broadcast inputs gets them again from the start after a restore, as the
runtime re-reads them on every start: the re-read must emit nothing and leave the restored
state as it was.

Outputs are compared per (topic, key), in order: an engine may interleave different keys'
outputs differently in one batch than in several.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator

import pytest
import torch
from pydantic import BaseModel

from processors import ENGINES, Emit, Engine
from processors.base import FeedTuning, State
from streams.clock import TestClock
from streams.codec import decode_columns, encode
from streams.feeds.sim import volume_per_s
from tests.processors.samples import SYMBOLS, catalog, merged_input

Batch = tuple[str, dict]
Outputs = dict[tuple[str, str], list[dict]]
CUTS = 5  # snapshot/restore and forget at this many points of the stream
Config = tuple[str, int]  # an engine and its parameters: 0 defaults, n its n-th example


def _configurations() -> list[tuple[str, int]]:
    """(engine, n): its defaults (0), and the examples its parameter model gives (1..)."""
    return [(name, n) for name in ENGINES
            for n in range(1 + len(_examples(ENGINES.params_model(name))))]


def _examples(model: type[BaseModel]) -> list[dict]:
    extra = model.model_config.get("json_schema_extra")
    return list(extra.get("examples", [])) if isinstance(extra, dict) else []


def _params(name: str, example: int) -> BaseModel:
    """Default parameters or example `example` (1-based), sized to the sample feed where
    the engine sizes itself to feeds."""
    model = ENGINES.params_model(name)
    params = model(**_examples(model)[example - 1]) if example else model()
    if isinstance(params, FeedTuning):
        params = params.tuned_for_feed(volume_per_s(SYMBOLS, 6.0))
    return params


def _engine(config: Config) -> Engine:
    name, example = config
    return ENGINES[name](_params(name, example), TestClock(0), torch.device("cpu"))


def _batches(config: Config, size: int | None) -> list[Batch]:
    """The engine's inputs merged in event time, cut into batches of `size` events (None:
    as long as the topic does not change) of one topic each, decoded as the runtime does."""
    batches: list[Batch] = []
    for topic, run in _runs(merged_input(ENGINES[config[0]].inputs)):
        step = size or len(run)
        for lo in range(0, len(run), step):
            columns, rejected = decode_columns(catalog()[topic].value,
                                               [encode(ev) for ev in run[lo: lo + step]])
            assert not rejected
            batches.append((topic, columns))
    return batches


def _runs(stream: list) -> Iterator[tuple[str, list]]:
    """Maximal runs of consecutive events of one topic."""
    run: list = []
    for i, (topic, ev) in enumerate(stream):
        run.append(ev)
        if i + 1 == len(stream) or stream[i + 1][0] != topic:
            yield topic, run
            run = []


def _broadcast(config: Config, batches: list[Batch]) -> list[Batch]:
    """The batches of the engine's broadcast inputs among `batches`."""
    return [b for b in batches if b[0] in ENGINES[config[0]].broadcast_inputs]


def _collect(outputs: Outputs, emits: list[Emit]) -> None:
    for emit in emits:
        outputs[(emit.topic, emit.key)].append(emit.value.model_dump(mode="json"))


def _snapshots(engine: Engine) -> dict[str, str]:
    """Every key's state as the runtime stores it: JSON (so it must be JSON-able)."""
    return {key: json.dumps(engine.snapshot(key), sort_keys=True)
            for key in engine.keys()}  # noqa: SIM118 (an engine, not a dict)


def _run(engine: Engine, batches: list[Batch], outputs: Outputs | None = None) -> Outputs:
    outputs = defaultdict(list) if outputs is None else outputs
    for topic, columns in batches:
        _collect(outputs, engine.process(topic, columns))
    _collect(outputs, engine.flush())
    return outputs


CONFIGS = _configurations()
IDS = [f"{name}-{'defaults' if n == 0 else f'example {n}'}" for name, n in CONFIGS]


@pytest.fixture(scope="module")
def uninterrupted() -> dict[Config, tuple[Outputs, dict[str, str]]]:
    """Each configuration's outputs and final states over its input in batches of 7."""
    done = {}
    for config in CONFIGS:
        engine = _engine(config)
        done[config] = (dict(_run(engine, _batches(config, 7))), _snapshots(engine))
    return done


def test_the_samples_make_every_engine_publish_on_every_output(uninterrupted: dict) -> None:
    for name in ENGINES:
        published = {topic for config, (outputs, _) in uninterrupted.items()
                     if config[0] == name for topic, _ in outputs}
        assert published == set(ENGINES[name].outputs), name
    assert all(len(states) >= 2 for _, states in uninterrupted.values())


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
@pytest.mark.parametrize("size", [1, None], ids=["batches of 1", "whole runs"])
def test_outputs_do_not_depend_on_the_batch_size(
    config: Config, size: int | None, uninterrupted: dict
) -> None:
    engine = _engine(config)

    outputs = _run(engine, _batches(config, size))

    assert (dict(outputs), _snapshots(engine)) == uninterrupted[config]


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_a_restored_engine_goes_on_as_the_uninterrupted_one(
    config: Config, uninterrupted: dict
) -> None:
    batches = _batches(config, 7)
    for cut in range(1, len(batches), max(1, len(batches) // CUTS)):
        # Arrange: run to the cut, snapshot every key through JSON
        before = _engine(config)
        outputs: Outputs = defaultdict(list)
        for topic, columns in batches[:cut]:
            _collect(outputs, before.process(topic, columns))
        saved: dict[str, State] = {k: json.loads(s) for k, s in _snapshots(before).items()}

        # Act: restore into a fresh engine, re-read the broadcast inputs as the runtime does
        # on a start, and go on
        after = _engine(config)
        for key, state in saved.items():
            after.restore(key, state)
        for topic, columns in _broadcast(config, batches[:cut]):
            assert after.process(topic, columns) == [], f"re-read {topic} at cut {cut}"
        assert _snapshots(after) == _snapshots(before), f"re-read broadcast, cut at {cut}"
        _run(after, batches[cut:], outputs)

        # Assert
        assert (dict(outputs), _snapshots(after)) == uninterrupted[config], f"cut at {cut}"


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_a_forgotten_key_has_no_state_and_the_others_keep_theirs(config: Config) -> None:
    batches = _batches(config, 7)
    engine = _engine(config)
    for topic, columns in batches[: len(batches) // 2]:
        engine.process(topic, columns)
    engine.take_dirty()
    keys = sorted(engine.keys())
    kept = _snapshots(engine)

    engine.forget(keys[0])

    assert keys[0] not in engine.keys()  # noqa: SIM118
    assert keys[0] not in engine.take_dirty()
    with pytest.raises(KeyError):
        engine.snapshot(keys[0])
    assert _snapshots(engine) == {k: s for k, s in kept.items() if k != keys[0]}
    # its slot, if any, is clean: the key restored gives back exactly what it had
    engine.restore(keys[0], json.loads(kept[keys[0]]))
    assert _snapshots(engine) == kept


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_a_key_forgotten_mid_stream_starts_afresh(config: Config) -> None:
    # Arrange: the reference is a fresh engine fed only the second half (and the first
    # half's broadcast inputs, which the runtime re-reads whole on every start)
    batches = _batches(config, 7)
    half = len(batches) // 2
    reference = _engine(config)
    _run(reference, _broadcast(config, batches[:half]) + batches[half:])

    # Act: forget every key at half-time, then go on
    engine = _engine(config)
    for topic, columns in batches[:half]:
        engine.process(topic, columns)
    for key in list(engine.keys()):
        engine.forget(key)
    assert engine.keys() == []
    _run(engine, batches[half:])

    # Assert
    assert _snapshots(engine) == _snapshots(reference)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_take_dirty_names_the_keys_whose_state_changed(config: Config) -> None:
    # Every key whose snapshot changed (the runtime persists only these: one left out is lost
    # on a restart), and no key the step did not touch; a touched key whose state came out
    # the same (a trade the tick rule cannot classify yet) only costs a rewrite.
    # A broadcast batch (no key column) may touch every key.
    engine = _engine(config)
    cls = ENGINES[config[0]]
    states = _snapshots(engine)
    steps = [(f"batch {i} of {topic}",
              None if topic in cls.broadcast_inputs else set(columns[cls.key_field]),
              lambda t=topic, c=columns: engine.process(t, c))
             for i, (topic, columns) in enumerate(_batches(config, 7))]
    steps.append(("flush", set(states), engine.flush))
    for step, keys, act in steps:
        touched = set(engine.keys()) if keys is None else keys
        act()

        now = _snapshots(engine)
        changed = {k for k, s in now.items() if states.get(k) != s}
        dirty = engine.take_dirty()
        assert changed <= dirty <= changed | touched, step
        states = now
