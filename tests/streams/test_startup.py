"""Commands that run no engine start without torch: importing it takes seconds, and the CLI,
the settings and the API must not pay that on every call."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["streams.cli.main", "streams.settings", "api.main"])
def test_importing_does_not_import_torch(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import sys, {module}; print('torch' in sys.modules)"],
        capture_output=True, text=True, timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_engines_import_torch_when_looked_up() -> None:
    code = ("import sys; from processors import ENGINES; names = list(ENGINES); "
            "before = 'torch' in sys.modules; engine = ENGINES['vpin']; "
            "print(names, before, 'torch' in sys.modules, engine.__name__)")

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "['analytics', 'bars', 'execution', 'factors', 'features', 'margin', 'ml', "
        "'microstructure', 'portfolio', 'pretrade', 'risk', 'vpin', 'sma_cross', 'ml_signal', "
        "'vpin_guard'] False True VpinEngine")
