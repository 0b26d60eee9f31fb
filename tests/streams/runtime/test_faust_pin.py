"""The runtime overrides private methods of Faust (streams/runtime/batching.py, recovery.py),
so the project pins faust-streaming to the one minor version those overrides are tested against."""

from __future__ import annotations

import tomllib
from importlib.metadata import version

from packaging.requirements import Requirement

from streams.settings import REPO_ROOT


def _faust_requirement() -> Requirement:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    found = [Requirement(r) for r in project["dependencies"]
             if Requirement(r).name == "faust-streaming"]
    assert len(found) == 1
    return found[0]


def test_faust_is_pinned_to_the_tested_minor_version() -> None:
    spec = _faust_requirement().specifier
    installed = version("faust-streaming")
    major, minor, *_ = installed.split(".")

    assert spec.contains(installed)
    assert not spec.contains(f"{major}.{int(minor) + 1}.0")
    assert not spec.contains(f"{major}.{int(minor) - 1}.99")
