"""A wrong environment variable is one clear line naming it, through the real CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest


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
