"""Finding a running `up` through the per-user registry, with real processes standing in for
the `up`s (the registry only looks at whether a pid is alive)."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams import stacks
from streams.endpoints import Endpoints, kafka_brokers, running_up
from streams.exceptions import ConfigError
from streams.settings import Settings


@pytest.fixture
def live_pids() -> Iterator[list[int]]:
    """Two processes that run until the test ends."""
    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
             for _ in range(2)]
    try:
        yield [p.pid for p in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _fake_up(root: Path, name: str, pid: int, started_ns: int, registry: Path) -> Path:
    state_dir = root / name / ".nautilus"
    Endpoints(f"{name}:9092", f"postgresql://{name}", f"http://{name}", pid).write(state_dir)
    stacks.StackEntry(pid, str(state_dir), started_ns).register(registry)
    return state_dir


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no `up` of its own, and no service settings."""
    for variable in ("KAFKA_BROKERS", "NAUTILUS_KAFKA_BROKERS", "NAUTILUS_STATE_DIR"):
        monkeypatch.delenv(variable, raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_the_newest_of_several_running_ups_is_used_and_named(
    tmp_path: Path, elsewhere: Path, live_pids: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    registry = tmp_path / "stacks"
    older = _fake_up(tmp_path, "older", live_pids[0], 1, registry)
    newer = _fake_up(tmp_path, "newer", live_pids[1], 2, registry)
    gone = _fake_up(tmp_path, "gone", _dead_pid(), 3, registry)  # an `up` killed outright

    with caplog.at_level(logging.WARNING, logger="streams.endpoints"):
        found = running_up(Settings(stacks_dir=registry))

    assert found is not None and found.state_dir == newer
    assert kafka_brokers(Settings(stacks_dir=registry)) == "newer:9092"
    (warning,) = [r.getMessage() for r in caplog.records]
    assert str(newer) in warning and str(older) in warning and str(gone) not in warning
    assert sorted(p.name for p in registry.iterdir()) == sorted(
        f"{pid}.json" for pid in live_pids)  # the stale entry is gone


def test_an_explicit_state_dir_is_the_only_place_looked(
    tmp_path: Path, elsewhere: Path, live_pids: list[int]
) -> None:
    registry = tmp_path / "stacks"
    _fake_up(tmp_path, "running", live_pids[0], 1, registry)
    chosen = tmp_path / "chosen"

    with pytest.raises(ConfigError) as error:
        kafka_brokers(Settings(stacks_dir=registry, state_dir=chosen))

    assert f"looked in {chosen / 'endpoints.json'} (NAUTILUS_STATE_DIR)" in str(error.value)


def test_without_a_running_up_the_error_names_every_place_looked(
    tmp_path: Path, elsewhere: Path
) -> None:
    registry = tmp_path / "stacks"
    _fake_up(tmp_path, "gone", _dead_pid(), 1, registry)

    with pytest.raises(ConfigError) as error:
        kafka_brokers(Settings(stacks_dir=registry))

    assert str(error.value) == (
        "no broker: set KAFKA_BROKERS, or start the embedded services with `nautilus-streams "
        f"up` (no running `up` found; looked in {elsewhere / '.nautilus' / 'endpoints.json'} "
        f"and the running stacks registered in {registry})"
    )
