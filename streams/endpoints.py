"""Where the broker, database and API are: the environment, or a running `up`.

`nautilus-streams up` writes `<state dir>/endpoints.json` with `kafka`, `database_url` and
`api`, and registers itself in the per-user registry of running stacks (streams/stacks.py).
Every other command uses KAFKA_BROKERS / DATABASE_URL when set; otherwise the `up` of its
state dir (NAUTILUS_STATE_DIR, default `./.nautilus`), else, unless NAUTILUS_STATE_DIR is set,
a running `up` from the registry, wherever it was started (the newest if several run, with a
warning naming the others). An error names every place it looked.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from streams import kafka, stacks
from streams.exceptions import BrokerError, ConfigError
from streams.settings import Settings

log = logging.getLogger(__name__)
ENDPOINTS_FILE = "endpoints.json"
_warned_choices: set[tuple[str, ...]] = set()  # several stacks: say which, once per process


@dataclass(frozen=True, slots=True)
class Endpoints:
    kafka: str
    database_url: str
    api: str
    pid: int

    def write(self, state_dir: Path) -> Path:
        path = state_dir / ENDPOINTS_FILE
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        # It may hold a database password: readable by this user only.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, state_dir: Path) -> Endpoints | None:
        """The endpoints of a running `up`, or None (no file, or its process is gone)."""
        path = state_dir / ENDPOINTS_FILE
        try:
            doc = json.loads(path.read_text())
            endpoints = cls(**doc)
        except (OSError, ValueError, TypeError):
            return None
        return endpoints if stacks.pid_alive(endpoints.pid) else None


@dataclass(frozen=True, slots=True)
class RunningUp:
    """A running `up` found for a command, and its state dir."""

    endpoints: Endpoints
    state_dir: Path


def running_up(settings: Settings) -> RunningUp | None:
    """The `up` other commands talk to (see the module docstring), or None."""
    own = settings.state_dir.expanduser().absolute()
    endpoints = Endpoints.read(own)
    if endpoints is not None:
        return RunningUp(endpoints, own)
    if "state_dir" in settings.model_fields_set:  # chosen explicitly: that one or none
        return None
    found = []
    for entry in stacks.running(stacks_dir(settings)):
        state_dir = Path(entry.state_dir)
        endpoints = Endpoints.read(state_dir)
        if endpoints is not None and endpoints.pid == entry.pid:
            found.append(RunningUp(endpoints, state_dir))
    if len(found) > 1:
        _say_which(found)
    return found[0] if found else None


def stacks_dir(settings: Settings) -> Path:
    return (settings.stacks_dir or stacks.default_dir()).expanduser()


def _say_which(found: list[RunningUp]) -> None:
    dirs = tuple(str(f.state_dir) for f in found)
    if dirs in _warned_choices:
        return
    _warned_choices.add(dirs)
    log.warning("%d `up` stacks are running; using the newest, %s (pid %d); set "
                "NAUTILUS_STATE_DIR to choose another: %s", len(found), dirs[0],
                found[0].endpoints.pid, ", ".join(dirs[1:]))


def _no_up(settings: Settings, what: str) -> ConfigError:
    own = settings.state_dir.expanduser().absolute() / ENDPOINTS_FILE
    if "state_dir" in settings.model_fields_set:
        looked = f"{own} (NAUTILUS_STATE_DIR)"
    else:
        looked = f"{own} and the running stacks registered in {stacks_dir(settings)}"
    variable = "KAFKA_BROKERS" if what == "broker" else "DATABASE_URL"
    return ConfigError(
        f"no {what}: set {variable}, or start the embedded services with "
        f"`nautilus-streams up` (no running `up` found; looked in {looked})"
    )


def _kafka_brokers(settings: Settings) -> tuple[str, str]:
    """Bootstrap servers and where they came from."""
    if settings.kafka_brokers:
        variable = "KAFKA_BROKERS" if os.environ.get("KAFKA_BROKERS") else "NAUTILUS_KAFKA_BROKERS"
        return settings.kafka_brokers, variable
    found = running_up(settings)
    if found is None:
        raise _no_up(settings, "broker")
    return found.endpoints.kafka, f"of the `up` in {found.state_dir}"


def kafka_brokers(settings: Settings) -> str:
    """Bootstrap servers: KAFKA_BROKERS, or the broker of a running `up`."""
    return _kafka_brokers(settings)[0]


def reachable_kafka_brokers(settings: Settings) -> str:
    """`kafka_brokers`, checked first: a BrokerError in one line naming the address, where it
    came from and why, instead of librdkafka's retries (for commands, not per request)."""
    brokers, source = _kafka_brokers(settings)
    problem = kafka.broker_problem(brokers)
    if problem is not None:
        raise BrokerError(f"broker {brokers} ({source}) unreachable: {problem}")
    return brokers


def database_url(settings: Settings) -> str:
    """PostgreSQL URL: DATABASE_URL, or the database of a running `up`."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    found = running_up(settings)
    if found is None:
        raise _no_up(settings, "database")
    return found.endpoints.database_url
