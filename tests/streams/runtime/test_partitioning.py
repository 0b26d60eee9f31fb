"""Where an engine's state lives: input routes, and the refusal of bindings that cannot fit
their state key (a one-line error naming engine, topic and key)."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import NewTopic

from processors import ENGINES, BarEngine, MicrostructureEngine
from processors.base import Columns, Emit, handles
from streams import kafka
from streams.catalog import Catalog, TopicSpec
from streams.exceptions import ConfigError
from streams.runtime.partitioning import (
    InputRoute,
    ensure_repartition_topics,
    plan_state,
    repartition_topic,
)
from tests.conftest import TOPICS_YAML
from tests.streams.runtime.account_fills import AccountFillsEngine

CATALOG = Catalog.load(TOPICS_YAML)


def test_engines_keyed_like_their_inputs_read_them_directly() -> None:
    bars = plan_state(BarEngine, CATALOG, "app")
    micro = plan_state(MicrostructureEngine, CATALOG, "app")

    assert bars.routes == (InputRoute("market.trades", "market.trades"),)
    assert bars.partitions == 6 and not bars.repartitioned
    assert {r.consumed for r in micro.routes} == {"market.depth", "market.quotes"}
    assert not micro.repartitioned


def test_an_engine_keyed_otherwise_reads_through_its_repartition_topic() -> None:
    plan = plan_state(AccountFillsEngine, CATALOG, "app")

    assert plan.routes == (
        InputRoute("market.executions", "app-account_fills-market.executions-repartition"),
    )
    assert plan.key_field == "account" and plan.partitions == 6


class _AccountsFromTrades(AccountFillsEngine):
    name = "accounts_from_trades"

    @handles("market.trades")
    def on_trades(self, columns: Columns) -> list[Emit]:
        return []


def test_a_key_field_the_input_model_lacks_is_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        plan_state(_AccountsFromTrades, CATALOG, "app")

    assert str(refused.value) == (
        "engine accounts_from_trades keys its state by 'account', but topic market.trades "
        "carries Trade, which has no field 'account'; if every instance needs all of it, "
        "declare it @handles('market.trades', broadcast=True)"
    )


def test_a_broadcast_input_is_read_whole_beside_the_re_keyed_fills() -> None:
    # the portfolio: fills re-keyed by account, bars (no account) read whole by every worker
    plan = plan_state(ENGINES["portfolio"], CATALOG, "app")

    assert plan.routes == (
        InputRoute("market.executions", "app-portfolio-market.executions-repartition"),
        InputRoute("market.bars.1m", "market.bars.1m", broadcast=True),
    )
    assert plan.partitions == 6
    assert plan.consumed_topics == {"app-portfolio-market.executions-repartition"}
    assert [r.topic for r in plan.repartitioned] == ["market.executions"]


class _OnlyBroadcast(AccountFillsEngine):
    name = "only_broadcast"

    @handles("market.executions", broadcast=True)
    def on_executions(self, columns: Columns) -> list[Emit]:  # declared broadcast here
        return []


def test_an_engine_with_only_broadcast_inputs_is_refused() -> None:
    with pytest.raises(ConfigError) as refused:
        plan_state(_OnlyBroadcast, CATALOG, "app")

    assert str(refused.value) == (
        "engine only_broadcast reads only broadcast inputs (market.executions); it needs a "
        "keyed input to give its state keys ('account')"
    )


class _TwoAccountInputs(AccountFillsEngine):
    name = "two_account_inputs"

    @handles("logic.positions")
    def on_positions(self, columns: Columns) -> list[Emit]:
        return []

    @handles("logic.margin")
    def on_margin(self, columns: Columns) -> list[Emit]:
        return []


def _spec(name: str, key: str, value: str, partitions: int) -> TopicSpec:
    return TopicSpec(name=name, key=key, value=value, partitions=partitions,
                     retention_ms=-1, cleanup_policy="compact", description="")


def test_inputs_keyed_by_the_state_key_with_different_partition_counts_are_refused() -> None:
    catalog = Catalog([
        _spec("market.executions", "symbol", "Execution", 6),
        _spec("logic.positions", "account", "Position", 3),
        _spec("logic.margin", "account", "MarginState", 4),
    ])

    with pytest.raises(ConfigError) as refused:
        plan_state(_TwoAccountInputs, catalog, "app")

    assert str(refused.value) == (
        "engine two_account_inputs keys its state by 'account', but its inputs keyed by "
        "'account' are not co-partitioned (logic.positions has 3, logic.margin has 4 "
        "partitions); give them one partition count in topics.yaml"
    )


def test_the_repartition_topic_follows_a_direct_input_of_the_state_key() -> None:
    catalog = Catalog([
        _spec("market.executions", "symbol", "Execution", 6),
        _spec("logic.positions", "account", "Position", 3),
        _spec("logic.margin", "account", "MarginState", 3),
    ])

    plan = plan_state(_TwoAccountInputs, catalog, "app")

    assert plan.partitions == 3
    assert [r.repartitioned for r in plan.routes] == [True, False, False]


def test_a_repartition_topic_of_another_partition_count_on_the_broker_is_refused(
    kafka_brokers: str,
) -> None:
    app_id = f"test-plan-{uuid.uuid4().hex[:8]}"
    plan = plan_state(AccountFillsEngine, CATALOG, app_id)
    topic = repartition_topic(app_id, "account_fills", "market.executions")
    client = kafka.admin(kafka_brokers)
    for fut in client.create_topics([NewTopic(topic, 2, 1)]).values():
        fut.result()

    with pytest.raises(ConfigError) as refused:
        ensure_repartition_topics(plan, CATALOG, kafka_brokers)

    assert str(refused.value).startswith(
        f"engine account_fills: repartition topic {topic} (input market.executions re-keyed "
        "by 'account') has 2 partitions on the broker, its state needs 6"
    )


def test_missing_repartition_topics_are_created_with_the_state_partitions(
    kafka_brokers: str,
) -> None:
    plan = plan_state(AccountFillsEngine, CATALOG, f"test-plan-{uuid.uuid4().hex[:8]}")

    ensure_repartition_topics(plan, CATALOG, kafka_brokers)
    ensure_repartition_topics(plan, CATALOG, kafka_brokers)  # idempotent

    (route,) = plan.routes
    assert kafka.topic_partitions(kafka.admin(kafka_brokers))[route.consumed] == 6
