"""Where the broker, database and API are: the environment, or a running `up`.

`nautilus-streams up` writes `<state dir>/endpoints.json` with `kafka`, `database_url` and
`api`. Every other command uses KAFKA_BROKERS / DATABASE_URL when set and otherwise finds
the running `up` through that file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from streams.exceptions import ConfigError
from streams.settings import Settings

ENDPOINTS_FILE = "endpoints.json"


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
        except (FileNotFoundError, ValueError, TypeError):
            return None
        return endpoints if _alive(endpoints.pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _no_up(state_dir: Path, what: str) -> ConfigError:
    return ConfigError(
        f"no {what}: set {'KAFKA_BROKERS' if what == 'broker' else 'DATABASE_URL'}, "
        f"or start the embedded services with `nautilus-streams up` "
        f"(looked for {state_dir / ENDPOINTS_FILE})"
    )


def kafka_brokers(settings: Settings) -> str:
    """Bootstrap servers: KAFKA_BROKERS, or the broker of a running `up`."""
    if settings.kafka_brokers:
        return settings.kafka_brokers
    endpoints = Endpoints.read(settings.state_dir)
    if endpoints is None:
        raise _no_up(settings.state_dir, "broker")
    return endpoints.kafka


def database_url(settings: Settings) -> str:
    """PostgreSQL URL: DATABASE_URL, or the database of a running `up`."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    endpoints = Endpoints.read(settings.state_dir)
    if endpoints is None:
        raise _no_up(settings.state_dir, "database")
    return endpoints.database_url
