"""A fitted factor model on the log and in the database: `factor_publish.publish` puts one
FactorReturns per day and one FactorExposure per symbol and day on the session's broker (read
back equal to the fit, the covariance as of each day), and the sink stores them on both
databases, a re-published fit replacing nothing."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import date

import numpy as np
import psycopg
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from processors.factor_model import FactorModelParams, FactorModelResult, estimate
from processors.factor_model import ewma_covariance as covariance_of
from streams import codec, kafka
from streams.exceptions import BrokerError, ConfigError
from streams.factor_publish import exposure_records, factor_returns_records, publish
from streams.feeds.daily_bars import read_daily_closes
from streams.feeds.reference import read_reference
from tests.api.data import write
from tests.processors.factor_model.synthetic import write_market

PARAMS = FactorModelParams(momentum_days=20, momentum_half_life=10, momentum_lag=2,
                           covariance_half_life=15)
DAYS, SYMBOLS = 40, 8  # 18 days fitted, from the 23rd (2022-02-02)


@pytest.fixture(scope="module")
def fit(tmp_path_factory: pytest.TempPathFactory) -> FactorModelResult:
    bars, reference = write_market(tmp_path_factory.mktemp("market"), days=DAYS,
                                   symbols=SYMBOLS)
    return estimate(read_daily_closes([bars]), read_reference(reference), PARAMS)


@pytest.fixture
def two_topics(kafka_brokers: str) -> Iterator[tuple[str, str]]:
    names = (f"test.{uuid.uuid4().hex[:12]}", f"test.{uuid.uuid4().hex[:12]}")
    client = AdminClient({"bootstrap.servers": kafka_brokers})
    for fut in client.create_topics([NewTopic(n, 1, 1) for n in names],
                                    request_timeout=10).values():
        fut.result()
    try:
        yield names
    finally:
        for fut in client.delete_topics(list(names), request_timeout=10).values():
            fut.result()


def test_published_records_read_back_equal_to_the_fit(
    kafka_brokers: str, two_topics: tuple[str, str], fit: FactorModelResult
) -> None:
    returns_topic, exposures_topic = two_topics
    sent = publish(kafka_brokers, fit, "style", PARAMS.covariance_half_life,
                   returns_topic=returns_topic, exposures_topic=exposures_topic)
    assert (sent.returns, sent.exposures) == (18, 18 * SYMBOLS)

    days = [codec.decode("FactorReturns", value)
            for _, _, _, value in kafka.read_all(kafka_brokers, returns_topic)]
    assert [d.day for d in days] == [t.date() for t in fit.factor_returns.index]
    assert days[0].day == date(2022, 2, 2) and days[0].ts_event == 1_643_846_400 * 10**9
    for record, (_, row) in zip(days, fit.factor_returns.iterrows(), strict=True):
        assert record.returns == row.to_dict() and record.symbols == SYMBOLS
    as_of_day_5 = covariance_of(fit.factor_returns.iloc[:6], PARAMS.covariance_half_life)
    np.testing.assert_allclose(
        [[days[5].covariance[a][b] for b in fit.factors] for a in fit.factors],
        as_of_day_5.to_numpy(), rtol=1e-12)

    exposures = [codec.decode("FactorExposure", value)
                 for _, _, _, value in kafka.read_all(kafka_brokers, exposures_topic)]
    by_key = {(e.day, e.symbol): e for e in exposures}
    assert len(by_key) == 18 * SYMBOLS
    residuals = fit.residuals.set_index(["date", "symbol"])
    for row in fit.exposures.itertuples():
        record = by_key[(row.date.date(), row.symbol)]
        assert record.exposures == {"momentum": row.momentum, "size": row.size,
                                    "value": row.value}
        assert (record.sector, record.market_cap) == (row.sector, row.market_cap)
        assert (record.residual, record.specific_variance) == tuple(
            residuals.loc[(row.date, row.symbol), ["residual", "specific_variance"]])


def test_publishing_to_a_missing_topic_is_one_line(kafka_brokers: str,
                                                   fit: FactorModelResult) -> None:
    with pytest.raises(BrokerError, match=r"topic test\.absent does not exist on broker"):
        publish(kafka_brokers, fit, "style", 15.0, returns_topic="test.absent")


def test_the_sink_stores_the_records_and_a_refit_replaces_them(
    any_database_url: str, fit: FactorModelResult
) -> None:
    model = f"m{uuid.uuid4().hex[:8]}"
    days = list(factor_returns_records(fit, model, PARAMS.covariance_half_life))
    exposures = list(exposure_records(fit, model))
    try:
        write(any_database_url, *days, *exposures)
        write(any_database_url, *days, *exposures)  # the same fit again: the same rows
        refit = days[-1].model_copy(update={"returns": {**days[-1].returns, "market": 0.5}})
        write(any_database_url, refit)
        with psycopg.connect(any_database_url) as conn:
            stored = conn.execute(
                "SELECT day, returns->>'market', covariance->'size'->>'momentum', symbols "
                "FROM factor_returns WHERE model = %s ORDER BY time", (model,)).fetchall()
            rows = conn.execute(
                "SELECT count(*), count(DISTINCT symbol), sum(residual) FROM factor_exposures"
                " WHERE model = %s", (model,)).fetchone()
    finally:
        with psycopg.connect(any_database_url) as conn:
            conn.execute("DELETE FROM factor_returns WHERE model = %s", (model,))
            conn.execute("DELETE FROM factor_exposures WHERE model = %s", (model,))
    assert [r[0] for r in stored] == [d.day for d in days]
    assert float(stored[-1][1]) == 0.5 and float(stored[0][1]) == days[0].returns["market"]
    assert float(stored[3][2]) == days[3].covariance["size"]["momentum"]
    assert stored[0][3] == SYMBOLS
    assert rows[0] == 18 * SYMBOLS and rows[1] == SYMBOLS
    assert rows[2] == pytest.approx(fit.residuals["residual"].sum(), abs=1e-12)


def test_a_symbol_the_wire_refuses_is_one_line_before_any_broker(
    fit: FactorModelResult,
) -> None:
    renamed = fit.exposures.assign(symbol=fit.exposures["symbol"].replace("S003", "S 003"))
    bad = dataclasses.replace(fit, exposures=renamed, residuals=fit.residuals.assign(
        symbol=fit.residuals["symbol"].replace("S003", "S 003")))
    with pytest.raises(ConfigError, match=r"cannot publish the factor model: symbol 'S 003'"):
        publish("127.0.0.1:1", bad, "style", 15.0)  # nothing listens there


def test_days_not_over_by_then_are_held_back(
    kafka_brokers: str, two_topics: tuple[str, str], fit: FactorModelResult
) -> None:
    returns_topic, exposures_topic = two_topics
    tenth_day_end = int(fit.factor_returns.index[9].value) + 86_400 * 10**9

    sent = publish(kafka_brokers, fit, "style", PARAMS.covariance_half_life,
                   ended_by_ns=tenth_day_end, returns_topic=returns_topic,
                   exposures_topic=exposures_topic)

    assert (sent.returns, sent.exposures, sent.held_back_days) == (10, 10 * SYMBOLS, 8)
    stamps = [codec.decode("FactorExposure", value).ts_event
              for _, _, _, value in kafka.read_all(kafka_brokers, exposures_topic)]
    assert max(stamps) == tenth_day_end
