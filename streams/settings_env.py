"""Reading settings from the environment, and saying which variable is wrong.

pydantic-settings parses the variable of a mapping or list field (`NAUTILUS_VPIN__BUCKET_VOLUME`)
as JSON first and, when that fails, raises an error naming only the top field ("vpin") with a
JSON traceback. `EnvSource` leaves such a value as text instead, so validation judges it like
any other value (a plain number is a valid bucket volume) and reports where it is wrong.
`describe_errors` turns validation errors into `VARIABLE='value': reason`, naming the variable
the user set rather than the field path (`NAUTILUS_VPIN__BUCKET_VOLUME`, not
`vpin.bucket_volume.default`); values of secret fields are not shown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import EnvSettingsSource


class EnvSource(EnvSettingsSource):
    """The environment source, passing values that are not JSON on to validation as text."""

    def decode_complex_value(self, field_name: str, field: FieldInfo | None, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)  # type: ignore[arg-type]
        except ValueError:
            return value


def describe_errors(
    exc: ValidationError, prefix: str, secret_fields: set[str], env: Mapping[str, str]
) -> str:
    """One `VARIABLE='value': reason` per error, joined by '; '."""
    set_vars = {name.upper(): value for name, value in env.items()}
    return "; ".join(
        _describe(error, prefix, secret_fields, set_vars) for error in exc.errors()
    )


def _describe(
    error: Any, prefix: str, secret_fields: set[str], set_vars: dict[str, str]
) -> str:
    loc = [str(part) for part in error["loc"]]
    reason = str(error["msg"]).removeprefix("Value error, ")
    reason = reason[:1].lower() + reason[1:]
    hidden = bool(loc) and loc[0] in secret_fields
    for depth in range(len(loc), 0, -1):  # the most specific variable that is set
        name = prefix + "__".join(loc[:depth]).upper()
        if name in set_vars:
            return _at_variable(name, set_vars[name], loc[depth:], reason, hidden)
    # a whole-model check (clear_cdf > alert_cdf): name the variables set inside that model
    inside = prefix + "__".join(loc).upper() + "__"
    given = sorted(name for name in set_vars if loc and name.startswith(inside))
    if given:
        return f"{', '.join(_shown(n, set_vars[n], hidden) for n in given)}: {reason}"
    return f"{prefix}{'__'.join(loc).upper()}: {reason}"


def _at_variable(name: str, value: str, inner: list[str], reason: str, hidden: bool) -> str:
    shown = _shown(name, value, hidden)
    if not value.lstrip().startswith(("{", "[")):
        return f"{shown}: {reason}"  # a plain value has no inside (`default` is ours)
    broken = _json_error(value)
    if broken is not None:
        return f"{shown}: not valid JSON ({broken})"
    return f"{shown}: {'.'.join(inner) + ': ' if inner else ''}{reason}"


def _json_error(value: str) -> str | None:
    try:
        json.loads(value)
    except ValueError as exc:
        return str(exc)
    return None


def _shown(name: str, value: str, hidden: bool) -> str:
    return f"{name} (value hidden)" if hidden else f"{name}={value!r}"


def secret_field_names(fields: Mapping[str, FieldInfo]) -> set[str]:
    """Fields whose values must never be printed."""
    return {name for name, field in fields.items() if SecretStr in _types(field.annotation)}


def _types(annotation: Any) -> tuple[Any, ...]:
    return (annotation, *getattr(annotation, "__args__", ()))
