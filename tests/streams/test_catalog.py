"""The topic catalog: topics.yaml is the contract, malformed catalogs fail loudly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from streams.catalog import Catalog, TopicSpec
from streams.exceptions import CatalogError
from streams.schema import MODELS

TOPICS_YAML = Path(__file__).resolve().parents[2] / "topics.yaml"

REQUIRED_TOPICS = [
    "market.trades", "market.quotes", "market.depth", "market.bars.1m", "market.executions",
    "market.macro", "market.fundamentals", "logic.vpin", "logic.microstructure", "logic.features",
    "logic.signals",
    "logic.predictions", "logic.risk.alerts", "logic.margin", "logic.orders",
    "logic.positions", "logic.portfolio", "logic.analytics", "logic.engine.health",
    "logic.metrics", "logic.deadletter",
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load(TOPICS_YAML)


_DROP = object()  # marks a field to leave out of a topic body


def _topic_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "key": "symbol", "value": "Trade", "partitions": "symbol", "retention_ms": 1000,
        "cleanup_policy": "delete", "description": "test topic",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not _DROP}


def _write_catalog(tmp_path: Path, topics: dict[str, object], **defaults: object) -> Path:
    path = tmp_path / "topics.yaml"
    doc = {"defaults": {"symbol_partitions": 4, "replication": 1, **defaults}, "topics": topics}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# ---- the real catalog ------------------------------------------------------------------


def test_topics_yaml_loads_in_file_order(catalog: Catalog) -> None:
    # Arrange
    in_file = list(yaml.safe_load(TOPICS_YAML.read_text())["topics"])

    # Act
    names = catalog.names

    # Assert
    assert names == in_file
    assert len(catalog) == len(in_file)
    assert [spec.name for spec in catalog] == in_file


@pytest.mark.parametrize("name", REQUIRED_TOPICS)
def test_required_topic_exists(catalog: Catalog, name: str) -> None:
    assert name in catalog
    assert catalog[name].name == name


def test_only_margin_and_positions_are_compacted(catalog: Catalog) -> None:
    compacted = {spec.name for spec in catalog if spec.cleanup_policy == "compact"}

    assert compacted == {"logic.margin", "logic.positions"}


def test_compacted_topics_keep_records_forever_and_tell_the_broker(catalog: Catalog) -> None:
    spec = catalog["logic.positions"]

    assert spec.retention_ms == -1
    assert spec.broker_config == {"cleanup.policy": "compact", "retention.ms": "-1"}


def test_symbol_keyed_topics_share_one_partition_count(catalog: Catalog) -> None:
    # Arrange
    declared = yaml.safe_load(TOPICS_YAML.read_text())
    symbol_partitions = declared["defaults"]["symbol_partitions"]

    # Act
    counts = {spec.partitions for spec in catalog if spec.key == "symbol"}

    # Assert
    assert counts == {symbol_partitions}
    assert catalog["market.trades"].partitions == catalog["logic.vpin"].partitions


def test_every_value_model_exists_in_schema(catalog: Catalog) -> None:
    unknown = {spec.name: spec.value for spec in catalog if spec.value not in MODELS}

    assert unknown == {}


def test_unknown_topic_lookup_raises_catalog_error(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match="market.trade'"):
        catalog["market.trade"]


def test_contains_is_false_for_unknown_topic(catalog: Catalog) -> None:
    assert "market.trade" not in catalog


# ---- malformed catalogs ----------------------------------------------------------------


def test_minimal_catalog_resolves_symbol_partitions_and_replication(tmp_path: Path) -> None:
    # Arrange
    path = _write_catalog(
        tmp_path,
        {"market.trades": _topic_body(), "logic.margin": _topic_body(partitions=3)},
        replication=2,
    )

    # Act
    catalog = Catalog.load(path)

    # Assert
    assert catalog["market.trades"] == TopicSpec(
        name="market.trades", key="symbol", value="Trade", partitions=4, retention_ms=1000,
        cleanup_policy="delete", description="test topic", replication=2,
    )
    assert catalog["logic.margin"].partitions == 3


@pytest.mark.parametrize(
    "field", ["key", "value", "partitions", "retention_ms", "cleanup_policy", "description"]
)
def test_missing_field_raises(tmp_path: Path, field: str) -> None:
    path = _write_catalog(tmp_path, {"market.trades": _topic_body(**{field: _DROP})})

    with pytest.raises(CatalogError, match=f"missing {field}"):
        Catalog.load(path)


@pytest.mark.parametrize("policy", ["compacted", "Delete", "compact,delete", None])
def test_bad_cleanup_policy_raises(tmp_path: Path, policy: object) -> None:
    path = _write_catalog(tmp_path, {"market.trades": _topic_body(cleanup_policy=policy)})

    with pytest.raises(CatalogError, match="cleanup_policy"):
        Catalog.load(path)


@pytest.mark.parametrize("partitions", [0, -3, "many", 2.5, None])
def test_bad_partitions_raise(tmp_path: Path, partitions: object) -> None:
    path = _write_catalog(tmp_path, {"market.trades": _topic_body(partitions=partitions)})

    with pytest.raises(CatalogError, match="partitions"):
        Catalog.load(path)


def test_topic_name_outside_market_and_logic_raises(tmp_path: Path) -> None:
    path = _write_catalog(tmp_path, {"trades": _topic_body()})

    with pytest.raises(CatalogError, match="market. or logic."):
        Catalog.load(path)


def test_topic_body_that_is_not_a_mapping_raises(tmp_path: Path) -> None:
    path = _write_catalog(tmp_path, {"market.trades": ["symbol", "Trade"]})

    with pytest.raises(CatalogError, match="expected a mapping"):
        Catalog.load(path)


@pytest.mark.parametrize(
    "text", ["", "- a\n- b\n", "topics: [market.trades]\n", "defaults: {}\n"]
)
def test_document_without_topics_mapping_raises(tmp_path: Path, text: str) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text(text)

    with pytest.raises(CatalogError, match="topics"):
        Catalog.load(path)


def test_invalid_yaml_raises(tmp_path: Path) -> None:
    path = tmp_path / "topics.yaml"
    path.write_text("topics:\n  market.trades: {key: symbol\n")

    with pytest.raises(CatalogError, match="not valid YAML"):
        Catalog.load(path)


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        Catalog.load(tmp_path / "nope.yaml")


def test_same_topic_twice_in_a_list_raises() -> None:
    spec = TopicSpec(
        name="market.trades", key="symbol", value="Trade", partitions=1, retention_ms=1,
        cleanup_policy="delete", description="",
    )

    with pytest.raises(CatalogError, match="twice"):
        Catalog([spec, spec])


def test_non_integer_retention_raises_catalog_error(tmp_path: Path) -> None:
    # SOURCE BUG: `int(body["retention_ms"])` lets a ValueError escape instead of CatalogError.
    path = _write_catalog(tmp_path, {"market.trades": _topic_body(retention_ms="7 days")})

    with pytest.raises(CatalogError, match="retention_ms"):
        Catalog.load(path)


def test_duplicate_topic_key_in_yaml_raises(tmp_path: Path) -> None:
    # SOURCE BUG: yaml.safe_load keeps the last of two equal keys without a word, so a pasted
    # topic silently replaces the first one and Catalog's own "names a topic twice" check can
    # never fire from a file.
    path = tmp_path / "topics.yaml"
    path.write_text(
        "topics:\n"
        "  market.trades: {key: symbol, value: Trade, partitions: 6, retention_ms: 1,\n"
        "                  cleanup_policy: delete, description: first}\n"
        "  market.trades: {key: symbol, value: Quote, partitions: 6, retention_ms: 1,\n"
        "                  cleanup_policy: delete, description: second}\n"
    )

    with pytest.raises(CatalogError, match="market.trades"):
        Catalog.load(path)
