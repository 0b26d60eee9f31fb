"""Parameters of the factors engine (`--set factors.catalog=PATH`, env
`NAUTILUS_FACTORS__CATALOG`), importable without the engine, as the settings need.

The default catalog, factors.yaml at the repository root, is read when the engine starts;
a catalog set by the user is read and checked when the parameters are made, so a mistake in
it stops the command before anything runs, with the file and the factor named.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from processors.factors.catalog import load_catalog

DEFAULT_CATALOG = Path(__file__).resolve().parents[2] / "factors.yaml"
EXAMPLE_CATALOG = Path(__file__).parent / "catalog.example.yaml"


class FactorParams(BaseModel):
    """Parameters of the factors engine: which catalog it evaluates."""

    # a catalog of short windows, whose factors have values within the few bars of the
    # engine conformance tests' samples
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra={"examples": [
        {"catalog": str(EXAMPLE_CATALOG)},
    ]})

    catalog: Path = Field(default=DEFAULT_CATALOG, description="the factor catalog, a YAML "
                          "file of named expressions (format in factors.yaml)")

    @field_validator("catalog")
    @classmethod
    def _readable(cls, path: Path) -> Path:
        load_catalog(path)  # a FactorCatalogError (a ValueError) naming the file and factor
        return path
