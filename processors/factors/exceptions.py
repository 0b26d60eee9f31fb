"""Errors of the factors package, under the platform's root exception."""

from __future__ import annotations

from streams.exceptions import ConfigError


class FactorError(ConfigError, ValueError):
    """Root of the factors package's errors. A ValueError too, so a parameter model that
    loads the catalog reports it as an invalid value."""


class ExpressionError(FactorError):
    """An expression does not parse, or names an unknown operator or field, or gives an
    operator the wrong arguments; the message says where (the character's offset)."""


class FactorCatalogError(FactorError):
    """The factor catalog cannot be used: the file is missing or malformed, a name is
    repeated or not an identifier, or a factor's expression is wrong. The message names the
    file and the factor."""
