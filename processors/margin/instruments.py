"""The margin engine's instruments file: per symbol, its contract multiplier, asset class and
scan range (the portfolio method's price move at its largest scan point).

A YAML list of entries (or the same list under `instruments:`), one per symbol:

    - {symbol: ESZ6, asset_class: future, multiplier: 50, scan_range: 0.06}
    - {symbol: AAPL}                     # an equity: multiplier 1, scan range 0.15

`asset_class` is `equity` (default) or `future`; `multiplier` > 0 (default 1); `scan_range`
in (0, 1], required for a future (its product's scan range, from its clearing house), 0.15
for an equity unless given (FINRA portfolio margin moves equities by up to +-15%). A symbol
not in the file is an equity with multiplier 1 and scan range 0.15. A file that cannot be
read, is not such a list, or has a bad entry is a ConfigError of one line naming the file
and the entry's line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from streams.exceptions import ConfigError

EQUITY_SCAN_RANGE = 0.15


class InstrumentSpec(BaseModel):
    """One entry of the file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = Field(min_length=1)
    asset_class: Literal["equity", "future"] = "equity"
    multiplier: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    scan_range: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _future_has_its_range(self) -> InstrumentSpec:
        if self.asset_class == "future" and self.scan_range is None:
            raise ValueError("a future needs its scan_range")
        return self


@dataclass(frozen=True, slots=True)
class Instrument:
    """What the margin methods need of a symbol."""

    multiplier: float = 1.0
    scan_range: float = EQUITY_SCAN_RANGE
    asset_class: Literal["equity", "future"] = "equity"


class Instruments:
    """Symbol -> Instrument, an equity with multiplier 1 and scan range 0.15 by default."""

    def __init__(self, specs: dict[str, Instrument] | None = None) -> None:
        self._specs = dict(specs or {})

    def __getitem__(self, symbol: str) -> Instrument:
        return self._specs.get(symbol, Instrument())

    def __len__(self) -> int:
        return len(self._specs)

    @classmethod
    def load(cls, path: Path | None) -> Instruments:
        """The file at `path` (none: every symbol the default)."""
        if path is None:
            return cls()
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"instruments file {path}: {exc.strerror or exc}") from None
        try:
            root = yaml.compose(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "not YAML"
            raise ConfigError(f"instruments file {path}{line}: {problem}") from None
        return cls(_entries(path, root))


def _entries(path: Path, root: yaml.Node | None) -> dict[str, Instrument]:
    if isinstance(root, yaml.MappingNode) and len(root.value) == 1 \
            and root.value[0][0].value == "instruments":
        root = root.value[0][1]
    if not isinstance(root, yaml.SequenceNode):
        line = f":{root.start_mark.line + 1}" if root is not None else ""
        raise ConfigError(f"instruments file {path}{line}: expected a list of entries "
                          "({symbol: ..., asset_class: ..., multiplier: ..., scan_range: ...})")
    specs: dict[str, Instrument] = {}
    for node in root.value:
        where = f"instruments file {path}:{node.start_mark.line + 1}"
        entry = yaml.safe_load(yaml.serialize(node))
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping with a symbol, got {entry!r}")
        try:
            spec = InstrumentSpec.model_validate(entry)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(x) for x in first["loc"])
            name = entry.get("symbol", "?")
            message = str(first["msg"]).removeprefix("Value error, ")
            raise ConfigError(f"{where}: {name}: {field + ': ' if field else ''}"
                              f"{message}") from None
        if spec.symbol in specs:
            raise ConfigError(f"{where}: {spec.symbol} is listed twice")
        specs[spec.symbol] = Instrument(
            multiplier=spec.multiplier, asset_class=spec.asset_class,
            scan_range=EQUITY_SCAN_RANGE if spec.scan_range is None else spec.scan_range)
    return specs
