"""Parameters of the factors engine (`--set factors.catalog=PATH`, env
`NAUTILUS_FACTORS__CATALOG`), importable without the engine, as the settings need.

A catalog set by the user is read and checked when the parameters are made, so a mistake in
it stops the command before anything runs, with the file and the factor named. None (the
default, or an empty value) is the shipped catalog, factors.yaml at the repository root,
read when the engine starts.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from processors.factors.catalog import load_catalog

SHIPPED_CATALOG = Path(__file__).resolve().parents[2] / "factors.yaml"
EXAMPLE_CATALOG = Path(__file__).parent / "catalog.example.yaml"


class FactorParams(BaseModel):
    """Parameters of the factors engine: which catalog it evaluates."""

    # a catalog of short windows, whose factors have values within the few bars of the
    # engine conformance tests' samples
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra={"examples": [
        {"catalog": str(EXAMPLE_CATALOG)},
    ]})

    catalog: Path | None = Field(default=None, description="the factor catalog, a YAML file "
                                 "of named expressions (none: factors.yaml, Alpha158)")

    @field_validator("catalog", mode="before")
    @classmethod
    def _no_file(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("catalog")
    @classmethod
    def _readable(cls, path: Path | None) -> Path | None:
        if path is not None:
            load_catalog(path)  # a FactorCatalogError (a ValueError) naming file and factor
        return path

    @property
    def catalog_path(self) -> Path:
        """The catalog the engine evaluates."""
        return self.catalog or SHIPPED_CATALOG
