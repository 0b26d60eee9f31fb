"""The topic catalog (topics.yaml): which topics exist and what they carry.

The catalog is the one contract between engines. Everything that names a topic goes
through :class:`Catalog`, so a typo fails loudly instead of creating a stray topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from streams.exceptions import CatalogError

CleanupPolicy = Literal["delete", "compact"]


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping key given twice (YAML would keep the last)."""

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic as the catalog declares it."""

    name: str
    key: str
    value: str
    partitions: int
    retention_ms: int
    cleanup_policy: CleanupPolicy
    description: str
    replication: int = 1

    @property
    def broker_config(self) -> dict[str, str]:
        """Topic configs the broker must hold for this topic."""
        return {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
        }


class Catalog:
    """All topics of topics.yaml, by name, in file order."""

    def __init__(self, topics: list[TopicSpec]) -> None:
        self._topics = {t.name: t for t in topics}
        if len(self._topics) != len(topics):
            raise CatalogError("topics.yaml names a topic twice")

    @classmethod
    def load(cls, path: Path) -> Catalog:
        """Read and validate a catalog file."""
        try:
            doc = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506
        except FileNotFoundError as exc:
            raise CatalogError(f"topic catalog not found: {path}") from exc
        except yaml.YAMLError as exc:
            raise CatalogError(f"topic catalog {path} is not valid YAML: {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("topics"), dict):
            raise CatalogError(f"{path}: expected a mapping with a `topics` section")
        defaults = doc.get("defaults", {})
        symbol_partitions = int(defaults.get("symbol_partitions", 1))
        replication = int(defaults.get("replication", 1))
        topics = [
            _parse_topic(name, body, symbol_partitions, replication)
            for name, body in doc["topics"].items()
        ]
        return cls(topics)

    def __getitem__(self, name: str) -> TopicSpec:
        try:
            return self._topics[name]
        except KeyError:
            raise CatalogError(f"unknown topic {name!r}: not in topics.yaml") from None

    def get(self, name: str) -> TopicSpec | None:
        return self._topics.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._topics

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._topics.values())

    def __len__(self) -> int:
        return len(self._topics)

    @property
    def names(self) -> list[str]:
        return list(self._topics)


def _parse_topic(name: str, body: object, symbol_partitions: int, replication: int) -> TopicSpec:
    if not isinstance(body, dict):
        raise CatalogError(f"topic {name}: expected a mapping")
    missing = {"key", "value", "partitions", "retention_ms", "cleanup_policy", "description"}
    missing -= body.keys()
    if missing:
        raise CatalogError(f"topic {name}: missing {', '.join(sorted(missing))}")
    if not name.startswith(("market.", "logic.")):
        raise CatalogError(f"topic {name}: names start with market. or logic.")
    partitions = body["partitions"]
    if partitions == "symbol":
        partitions = symbol_partitions
    if type(partitions) is not int or partitions < 1:
        raise CatalogError(f"topic {name}: partitions must be a positive int or 'symbol'")
    retention_ms = body["retention_ms"]
    if type(retention_ms) is not int or retention_ms < -1:
        raise CatalogError(f"topic {name}: retention_ms must be an integer >= -1 (-1: forever)")
    if body["cleanup_policy"] not in ("delete", "compact"):
        raise CatalogError(f"topic {name}: cleanup_policy must be delete or compact")
    return TopicSpec(
        name=name,
        key=str(body["key"]),
        value=str(body["value"]),
        partitions=partitions,
        retention_ms=retention_ms,
        cleanup_policy=body["cleanup_policy"],
        description=str(body["description"]),
        replication=replication,
    )
