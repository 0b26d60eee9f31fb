"""The factor catalog: a YAML file of named factor expressions (factors.yaml at the
repository root by default).

    factors:
      - name: MA5
        expression: Mean($close, 5)/$close
        description: mean close of the last 5 bars over the close

Names are identifiers, unique in the file; an expression is in Qlib's notation
(processors/factors/expressions.py); a description is one line. Adding a factor is adding
an entry: nothing else changes. Every error names the file and the factor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from processors.factors.exceptions import ExpressionError, FactorCatalogError
from processors.factors.expressions import Node, lookback, parse

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_KEYS = ("name", "expression", "description")


@dataclass(frozen=True, slots=True)
class Factor:
    name: str
    expression: str
    description: str
    tree: Node

    @property
    def history(self) -> int:
        """Bars it reads, the current one included: it has a value from its symbol's
        `history`-th bar on (where its arithmetic defines one)."""
        return lookback(self.tree) + 1


@dataclass(frozen=True, slots=True)
class Catalog:
    path: Path
    factors: tuple[Factor, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.factors)


def load_catalog(path: Path) -> Catalog:
    """Read and check the catalog at `path`; a FactorCatalogError says what is wrong."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise FactorCatalogError(f"factor catalog {path}: cannot read it: {e}") from None
    entries = document.get("factors") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise FactorCatalogError(f"factor catalog {path}: wants a non-empty list under "
                                 "`factors:`")
    factors: list[Factor] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        factor = _factor(path, position, entry)
        if factor.name in seen:
            raise FactorCatalogError(f"factor catalog {path}: factor {factor.name} is "
                                     "defined twice")
        seen.add(factor.name)
        factors.append(factor)
    return Catalog(path, tuple(factors))


def _factor(path: Path, position: int, entry: object) -> Factor:
    where = f"factor catalog {path}, entry {position}"
    if not isinstance(entry, dict) or set(entry) != set(_KEYS):
        raise FactorCatalogError(f"{where}: wants exactly the keys {', '.join(_KEYS)}")
    name, expression, description = (entry[key] for key in _KEYS)
    if not isinstance(name, str) or not _NAME.match(name):
        raise FactorCatalogError(f"{where}: name {name!r} is not an identifier")
    where = f"factor catalog {path}, factor {name}"
    if not isinstance(description, str) or not description.strip() or "\n" in description:
        raise FactorCatalogError(f"{where}: wants a one-line description")
    if not isinstance(expression, str):
        raise FactorCatalogError(f"{where}: the expression must be text")
    try:
        tree = parse(expression)
    except ExpressionError as e:
        raise FactorCatalogError(f"{where}: {expression!r}: {e}") from None
    return Factor(name, expression, description, tree)
