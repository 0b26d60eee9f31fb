"""A per-user registry of running `up` stacks, so other commands find one from any folder.

A running `up` writes `<stacks dir>/<pid>.json` (its pid, state dir and start time) next to
its `endpoints.json` and removes it when it stops. An entry whose process is gone (an `up`
killed outright) is stale: ignored, and deleted when seen. The directory is
NAUTILUS_STACKS_DIR, by default `$XDG_STATE_HOME/nautilus-streams/stacks`
(`~/.local/state/nautilus-streams/stacks`). Entries hold no secrets: the addresses stay in
the state dir's `endpoints.json`, readable by its user only.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)


def default_dir() -> Path:
    """`$XDG_STATE_HOME/nautilus-streams/stacks`, XDG_STATE_HOME defaulting to ~/.local/state."""
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "nautilus-streams" / "stacks"


@dataclass(frozen=True, slots=True)
class StackEntry:
    """One running `up`: its process, its state dir and when it became ready (ns)."""

    pid: int
    state_dir: str
    started_ns: int

    def register(self, stacks_dir: Path) -> Path:
        """Write this entry; returns its path (remove it with `unregister`)."""
        stacks_dir.mkdir(parents=True, exist_ok=True)
        path = stacks_dir / f"{self.pid}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)) + "\n")
        tmp.replace(path)
        return path


def unregister(path: Path) -> None:
    path.unlink(missing_ok=True)


def running(stacks_dir: Path) -> list[StackEntry]:
    """The registered stacks whose process is alive, newest first; stale entries are deleted."""
    entries = []
    for path in sorted(stacks_dir.glob("*.json")):
        try:
            entry = StackEntry(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue  # being written, or not ours
        if pid_alive(entry.pid):
            entries.append(entry)
        else:
            log.debug("stale stack entry removed path=%s pid=%d", path, entry.pid)
            path.unlink(missing_ok=True)
    return sorted(entries, key=lambda e: (e.started_ns, e.pid), reverse=True)


def new_entry(state_dir: Path) -> StackEntry:
    """The entry of this process's `up` for `state_dir`."""
    return StackEntry(os.getpid(), str(state_dir), time.time_ns())


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
