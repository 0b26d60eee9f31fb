"""A fitted factor model as records on the log: one FactorReturns per day on
logic.factor.returns (keyed by the model's name) and one FactorExposure per symbol and day on
logic.factor.exposures (keyed by symbol), for `factors model --publish`.

Records are dated at the end of their UTC day (`ts_event` = `ts_init` = the next midnight:
the fit is a function of the day's bars, so a re-run gives the same records and the sink's
upserts change nothing). A day that has not ended by `ended_by_ns` (a fit of today's bars so
far) is held back: its records would be dated in the future, and engines that wait for event
time to pass a record's time (the risk engine) would wait until then. `publish` counts as done
only once the broker has acknowledged every record: a BrokerError in one line otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
from confluent_kafka import KafkaException
from pydantic import ValidationError

from processors.factor_model import FactorModelResult, ewma_covariances
from streams import codec, kafka
from streams.exceptions import BrokerError, ConfigError
from streams.schema import FactorExposure, FactorReturns

RETURNS_TOPIC = "logic.factor.returns"
EXPOSURES_TOPIC = "logic.factor.exposures"
DAY_NS = 86_400 * 1_000_000_000
TIMEOUT_S = 30.0


def day_end_ns(day: pd.Timestamp) -> int:
    """ns since the epoch of the midnight (UTC) that ends `day`."""
    return int(pd.Timestamp(day).normalize().value) + DAY_NS


def factor_returns_records(result: FactorModelResult, model: str,
                           covariance_half_life: float) -> Iterator[FactorReturns]:
    """One record per day fitted, with the EWMA covariance as of that day."""
    names = list(result.factors)
    returns = result.factor_returns
    covariances = ewma_covariances(returns.to_numpy(), covariance_half_life)
    members = result.exposures.groupby("date").size()
    for day, row, covariance in zip(returns.index, returns.to_numpy(), covariances,
                                    strict=True):
        ts = day_end_ns(day)
        yield FactorReturns(
            ts_event=ts, ts_init=ts, model=model, day=day.date(),
            returns=dict(zip(names, row.tolist(), strict=True)),
            covariance={a: dict(zip(names, r.tolist(), strict=True))
                        for a, r in zip(names, covariance, strict=True)},
            symbols=int(members[day]))


def exposure_records(result: FactorModelResult, model: str) -> Iterator[FactorExposure]:
    """One record per symbol of each day's regression: its styles, residual return and
    specific variance."""
    styles = [c for c in result.exposures.columns
              if c not in ("date", "symbol", "sector", "market_cap")]
    frame = result.exposures.merge(result.residuals, on=["date", "symbol"], validate="1:1")
    values = frame[styles].to_numpy()
    for i, (day, symbol, sector, cap, residual, variance) in enumerate(zip(
            frame["date"], frame["symbol"], frame["sector"], frame["market_cap"],
            frame["residual"], frame["specific_variance"], strict=True)):
        ts = day_end_ns(day)
        yield FactorExposure(
            ts_event=ts, ts_init=ts, model=model, symbol=symbol, day=day.date(),
            sector=sector, market_cap=float(cap),
            exposures=dict(zip(styles, values[i].tolist(), strict=True)),
            residual=float(residual), specific_variance=float(variance))


@dataclass(frozen=True, slots=True)
class Published:
    """How many records each topic took, and how many days were held back (not over yet)."""

    returns: int
    exposures: int
    held_back_days: int = 0


def publish(brokers: str, result: FactorModelResult, model: str, covariance_half_life: float,
            *, ended_by_ns: int | None = None, returns_topic: str = RETURNS_TOPIC,
            exposures_topic: str = EXPOSURES_TOPIC) -> Published:
    """Produce the model's records of the days ended by `ended_by_ns` (all: None) and wait
    until the broker has acknowledged all of them."""
    try:
        days = list(factor_returns_records(result, model, covariance_half_life))
        records = [(returns_topic, r.model, r) for r in days
                   if ended_by_ns is None or r.ts_event <= ended_by_ns]
        records += [(exposures_topic, e.symbol, e) for e in exposure_records(result, model)
                    if ended_by_ns is None or e.ts_event <= ended_by_ns]
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigError(f"cannot publish the factor model: {'.'.join(map(str, error['loc']))}"
                          f" {error['input']!r}: {error['msg']}") from None
    producer = kafka.producer(brokers, **{"message.timeout.ms": int(TIMEOUT_S * 1000),
                                          "allow.auto.create.topics": False})
    for topic in (returns_topic, exposures_topic):
        try:
            found = producer.list_topics(topic, timeout=TIMEOUT_S).topics.get(topic)
        except KafkaException as exc:
            raise BrokerError(f"broker {brokers} unreachable: {exc.args[0]}") from exc
        if found is None or found.error is not None:
            raise BrokerError(f"topic {topic} does not exist on broker {brokers} (run "
                              "`nautilus-streams topics apply`)")
    failures: list[str] = []
    counts = {returns_topic: 0, exposures_topic: 0}

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    for topic, key, record in records:
        while True:
            try:
                producer.produce(topic, codec.encode(record), key.encode(),
                                 on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                producer.poll(0.1)
        counts[topic] += 1
    left = producer.flush(TIMEOUT_S + 1.0)
    if failures or left:
        problem = failures[0] if failures else f"{left} records not acknowledged"
        raise BrokerError(f"broker {brokers} did not take every factor model record: "
                          f"{problem} ({len(failures) + left} of {len(records)})")
    return Published(counts[returns_topic], counts[exposures_topic],
                     len(days) - counts[returns_topic])

