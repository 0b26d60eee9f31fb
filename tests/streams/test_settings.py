"""A wrong environment variable is one clear line naming it, through the real CLI."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest

from processors import ENGINES
from streams.settings import REPO_ROOT, EngineParams, Settings, engine_variable


@pytest.mark.parametrize(("variable", "value", "reason"), [
    ("NAUTILUS_VPIN__BUCKET_VOLUME", "oops",
     "input should be a valid integer, unable to parse string as an integer"),
    ("NAUTILUS_VPIN__WINDOW", "0", "input should be greater than or equal to 1"),
    ("NAUTILUS_API_PORT", "http", "input should be a valid integer, unable to parse string "
     "as an integer"),
    ("NAUTILUS_VPIN__CLEAR_CDF", "0.95", "clear_cdf 0.95 must not exceed alert_cdf 0.9"),
    ("NAUTILUS_VPIN__BUCKET_VOLUME", '{"default": 10',
     "not valid JSON (Expecting ',' delimiter: line 1 column 15 (char 14))"),
])
def test_a_bad_variable_is_one_line_naming_it_and_exit_2(
    base_env: dict[str, str], variable: str, value: str, reason: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "streams", "topics", "list"],
        env={**base_env, variable: value}, capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"nautilus-streams topics: error: invalid setting {variable}={value!r}: {reason}"
    ]


def test_a_bad_entry_of_a_json_variable_is_named_inside_it(base_env: dict[str, str]) -> None:
    value = '{"default": 100, "AAPL": "lots"}'
    result = subprocess.run(
        [sys.executable, "-m", "streams", "topics", "list"],
        env={**base_env, "NAUTILUS_VPIN__BUCKET_VOLUME": value},
        capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"nautilus-streams topics: error: invalid setting NAUTILUS_VPIN__BUCKET_VOLUME={value!r}:"
        " AAPL: input should be a valid integer, unable to parse string as an integer"
    ]


# ---- engine parameters: derived from the registry (processors.ENGINES) --------------------

def _engine_parameters() -> list[tuple[str, str]]:
    return [(engine, param) for engine, model in ENGINES.params_models().items()
            for param in model.model_fields]


@pytest.mark.parametrize("module", ["streams/settings.py", "streams/up.py"])
def test_settings_and_up_name_no_engine(module: str) -> None:
    # A new engine is its module plus one registry line: nothing here may name one.
    engine_modules = {f"processors.{name}" for name in ENGINES}
    tree = ast.parse((REPO_ROOT / module).read_text())
    imported = {node.module for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    variables = {node.value for node in ast.walk(tree)
                 if isinstance(node, ast.Constant) and isinstance(node.value, str)
                 and id(node) not in docstrings
                 and any(f"NAUTILUS_{name.upper()}__" in node.value for name in ENGINES)}

    assert {m for m in imported if m.startswith(tuple(engine_modules))} == set()
    assert variables == set()


def test_every_registered_engine_has_its_parameters_in_the_settings() -> None:
    fields = Settings.model_fields

    assert {name: fields[name].annotation for name in ENGINES} == ENGINES.params_models()
    assert Settings().engine_params() == EngineParams()


@pytest.mark.parametrize(("engine", "param"), _engine_parameters())
def test_every_engine_parameter_is_read_from_its_variable(
    monkeypatch: pytest.MonkeyPatch, engine: str, param: str
) -> None:
    # the documented value of .env.example, set, gives the parameter's default
    documented = _documented_variables()[engine_variable(engine, param)]
    monkeypatch.setenv(engine_variable(engine, param), documented)

    params = getattr(Settings().engine_params(), engine)

    assert getattr(params, param) == getattr(ENGINES.params_model(engine)(), param)


def _documented_variables() -> dict[str, str]:
    """`# NAME=value` lines of .env.example."""
    lines = (REPO_ROOT / ".env.example").read_text().splitlines()
    return dict(line.removeprefix("# ").split("=", 1) for line in lines
                if re.fullmatch(r"# [A-Z][A-Z0-9_]*=.*", line))


def test_every_engine_parameter_is_documented() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("\n### Engines\n", 1)[1]
    table = "| engine |" + section.split("\n| engine |", 1)[1].split("\n\n", 1)[0]
    rows = {line.split("|")[1].strip(" `"): line for line in table.splitlines()[2:]}

    undocumented = [engine_variable(e, p) for e, p in _engine_parameters()
                    if engine_variable(e, p) not in _documented_variables()]
    not_in_readme = [f"{e}.{p}" for e, p in _engine_parameters()
                     if f"`{p}`" not in rows.get(e, "")]

    assert undocumented == [] and not_in_readme == []
