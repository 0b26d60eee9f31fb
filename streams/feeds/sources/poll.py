"""Polling sources onto the log, idempotently: what the topic already holds is not published
again, so polling twice publishes nothing new.

What is known is read back from the topic itself at the start of each poll (its records of
this source, by their natural key: the sink's upsert key, `Stored.key`), not kept in a state
file. The topic is the truth downstream reads: a state file could claim records the topic
lost (the embedded broker keeps its log in memory, a topic can be recreated) and they would
never be published again; and after a crash, whatever was delivered is on the topic and the
rest is published by the next poll, neither lost nor doubled. market.macro is one small
partition (tens of thousands of records for FRED's default set), read in well under a second.

An item (a series) is fetched completely before any of its records is produced; an item that
fails (a SourceError: HTTP refused or retries used up, a malformed or partial payload) is
reported and skipped, publishing nothing of it, and the poll goes on with the next item.
`poll_once(settings)` polls every registered source whose configuration is set and says
which are off: what `up` calls periodically.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException, Message

from streams import kafka
from streams.catalog import Catalog
from streams.codec import decode, encode
from streams.endpoints import reachable_kafka_brokers
from streams.exceptions import BrokerError, ConfigError, DecodeError
from streams.feeds.sources import SOURCE_MODULES, load_source
from streams.feeds.sources.base import Source, SourceRecord, read_config
from streams.feeds.sources.exceptions import SourceError
from streams.feeds.sources.http import HttpFetcher, HttpPolicy, Sleep, TokenBucket
from streams.schema import DailyPrice, Fundamental, MacroObservation
from streams.schema.storage import TIME_COLUMN
from streams.settings import Settings

log = logging.getLogger(__name__)

FLUSH_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One item of a poll: records fetched, published (new), skipped as already on the topic,
    values the source marked missing; `error` when the item failed (nothing published)."""

    item: str
    fetched: int = 0
    published: int = 0
    known: int = 0
    missing: int = 0
    error: str | None = None


@dataclass(slots=True)
class SourceSummary:
    """A source's poll in all; `off` says why it did not run."""

    source: str
    off: str | None = None
    items: int = 0
    fetched: int = 0
    published: int = 0
    known: int = 0
    missing: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    delivery_errors: int = 0

    def add(self, result: ItemResult) -> None:
        self.items += 1
        self.fetched += result.fetched
        self.published += result.published
        self.known += result.known
        self.missing += result.missing
        if result.error is not None:
            self.failed[result.item] = result.error

    @property
    def ok(self) -> bool:
        return not self.failed and not self.delivery_errors

    def line(self) -> str:
        """The summary as one line."""
        if self.off is not None:
            return f"{self.source}: off ({self.off})"
        return (f"{self.source}: {self.items} item(s), {self.fetched} record(s) fetched, "
                f"{self.published} published, {self.known} skipped as known, "
                f"{self.missing} missing value(s), {len(self.failed)} failed, "
                f"{self.delivery_errors} delivery error(s)")


def open_source(cls: type[Source], settings: Settings, environ: Mapping[str, str], *,
                sleep: Sleep = time.sleep) -> Source | str:
    """The source ready to fetch, or why it is off (its required variables unset)."""
    config = read_config(cls, environ)
    if isinstance(config, str):
        return config
    bucket = TokenBucket(cls.requests_per_s, cls.burst, sleep=sleep)
    http = HttpFetcher(cls.name, HttpPolicy.from_settings(settings), bucket,
                       headers=cls.http_headers(config), sleep=sleep)
    return cls(config, http)


def poll_once(settings: Settings, *, brokers: str | None = None,
              environ: Mapping[str, str] | None = None,
              topic_map: Mapping[str, str] | None = None) -> list[SourceSummary]:
    """Poll every registered source once: those configured fetch their default items and
    publish what is new; the others are skipped with one log line each saying why (a
    variable set to a wrong value: an error line). Broker errors propagate. `brokers`:
    default, those of the settings or of a running `up`; `environ`: os.environ;
    `topic_map` renames topics (tests, staging)."""
    environ = os.environ if environ is None else environ
    catalog = Catalog.load(settings.topics_file)
    summaries = []
    for name in SOURCE_MODULES:
        try:
            cls = load_source(name)
        except ModuleNotFoundError as exc:
            summaries.append(_off(name, f"needs the package {exc.name}"))
            continue
        try:
            source = open_source(cls, settings, environ)
        except ConfigError as exc:  # set but wrong: loud, yet the other sources still run
            log.error("source misconfigured source=%s error=%s", name, exc)
            summaries.append(SourceSummary(name, off=f"misconfigured: {exc}"))
            continue
        if isinstance(source, str):
            summaries.append(_off(name, source))
            continue
        brokers = brokers or reachable_kafka_brokers(settings)
        with source.http:
            summaries.append(poll_source(source, brokers, catalog, topic_map=topic_map))
    return summaries


def source_states(environ: Mapping[str, str]) -> dict[str, str | None]:
    """Each registered source: None when it is configured (a poll runs it), else why it is
    off (its variables unset, its package missing, or a variable set to a wrong value). Reads
    only `environ`; nothing goes out."""
    states: dict[str, str | None] = {}
    for name in SOURCE_MODULES:
        try:
            config = read_config(load_source(name), environ)
        except ModuleNotFoundError as exc:
            states[name] = f"needs the package {exc.name}"
        except ConfigError as exc:
            states[name] = f"misconfigured: {exc}"
        else:
            states[name] = config if isinstance(config, str) else None
    return states


def _off(name: str, reason: str) -> SourceSummary:
    log.info("source off source=%s reason=%s", name, reason)
    return SourceSummary(name, off=reason)


def poll_source(source: Source, brokers: str, catalog: Catalog, *,
                items: Iterable[str] | None = None, since: dt.date | None = None,
                topic_map: Mapping[str, str] | None = None,
                progress: Callable[[ItemResult], None] | None = None) -> SourceSummary:
    """Fetch `items` (default: the source's) and publish the records its topics do not hold
    yet, each to the topic of its model among the source's `topics` (renamed by `topic_map`
    in tests), keyed by the catalog's key."""
    known = Known(dated_when_seen=source.dated_when_seen)
    publishers: dict[str, _Publisher] = {}
    summary = SourceSummary(source.name)
    try:
        for catalog_topic in source.topics:
            spec, topic = catalog[catalog_topic], (topic_map or {}).get(catalog_topic,
                                                                        catalog_topic)
            read_known(known, brokers, topic, spec.value, source.name)
            publishers[spec.value] = _Publisher(brokers, topic, spec.key)
        source.resume(known.vintages)
        for item in items if items is not None else source.items():
            result = _poll_item(source, item, since, known, publishers)
            summary.add(result)
            if progress is not None:
                progress(result)
    finally:
        summary.delivery_errors = sum(p.close() for p in publishers.values())
    log.info("source poll done %s", summary.line())
    return summary


def _poll_item(source: Source, item: str, since: dt.date | None, known: Known,
               publishers: Mapping[str, _Publisher]) -> ItemResult:
    try:
        fetched = source.fetch(item, since=since, ts_init=time.time_ns())
    except SourceError as exc:
        log.error("source item failed source=%s item=%s error=%s", source.name, item, exc)
        return ItemResult(item, error=str(exc))
    new = [admitted for admitted in map(known.admit, fetched.records) if admitted is not None]
    for model, publisher in publishers.items():
        publisher.send([record for record in new if type(record).__name__ == model])
    return ItemResult(item, fetched=len(fetched.records), published=len(new),
                      known=len(fetched.records) - len(new), missing=fetched.missing)


def natural_key(record: SourceRecord) -> Hashable:
    """What identifies a record: its model's stored key (`time` being its ts_event)."""
    stored = type(record).STORED
    assert stored is not None
    return tuple(record.ts_event if f == TIME_COLUMN else getattr(record, f) for f in stored.key)


class Known:
    """What the topics hold of one source, to publish only what is new: the natural keys of
    its records, of each macro series' period the newest vintage (realtime_start, value), and
    of each symbol's day of daily prices the newest record.

    A macro record is new when its key is, and its value differs from the newest vintage
    before it: a source without vintages of its own (DBnomics dates values from the series'
    indexing, Trading Economics from its LastUpdate) would otherwise publish every unchanged
    value again as a new vintage each time the series is re-indexed; FRED's vintages are
    changes already, so none of its records is left out by this.

    A daily price (dated at its day's end) is new when its day is; a day held with other
    values is a correction the vendor made since: admitted as a new record dated when it was
    fetched (its ts_init), so a replay sees the first values until then and the corrected
    ones after, as for a revision. A day without its actions (a vendor series without them)
    whose prices are those held says nothing new, even where the held day has its actions.

    With `dated_when_seen` (a source that dates figures when it first sees them: Alpha
    Vantage), a figure whose value and unit are those of its newest held record is not new:
    a poll whose own state was lost (a new cache directory) does not publish every unchanged
    figure again under a new date.
    """

    def __init__(self, *, dated_when_seen: bool = False) -> None:
        self.dated_when_seen = dated_when_seen
        self.keys: set[Hashable] = set()
        self.vintages: dict[tuple[str, dt.date], tuple[dt.date, float]] = {}
        self.days: dict[tuple[str, dt.date], DailyPrice] = {}
        self.figures: dict[tuple[str, str, str, dt.date], Fundamental] = {}

    def admit(self, record: SourceRecord) -> SourceRecord | None:
        """The record to publish for a fetched `record` (it, or it re-dated as a correction),
        taken as held; None when it, or the same values, are held already."""
        if isinstance(record, Fundamental) and self.dated_when_seen:
            held_figure = self.figures.get(_figure(record))
            if held_figure is not None and (held_figure.value, held_figure.unit) == (
                    record.value, record.unit):
                return None
        if isinstance(record, DailyPrice):
            held = self.days.get((record.symbol, record.date))
            if held is not None and _same_day(held, record):
                return None
            if held is not None:
                record = record.model_copy(update={"ts_event": max(record.ts_init,
                                                                   held.ts_event + 1)})
        return record if self.add(record) else None

    def add(self, record: SourceRecord) -> bool:
        """Take `record` as held; False when it was (or an unchanged vintage of it was)."""
        key = natural_key(record)
        if key in self.keys:
            return False
        self.keys.add(key)
        if isinstance(record, DailyPrice):
            day = (record.symbol, record.date)
            held = self.days.get(day)
            if held is None or held.ts_event < record.ts_event:
                self.days[day] = record
            return True
        if isinstance(record, Fundamental) and self.dated_when_seen:
            held_figure = self.figures.get(_figure(record))
            if held_figure is None or held_figure.ts_event < record.ts_event:
                self.figures[_figure(record)] = record
            return True
        if not isinstance(record, MacroObservation):
            return True
        period = (record.series, record.date)
        newest = self.vintages.get(period)
        if newest is None or newest[0] < record.realtime_start:
            if newest is not None and newest[1] == record.value:
                return False  # the value known since newest[0]: nothing new since
            self.vintages[period] = (record.realtime_start, record.value)
        return True


def _same_day(held: DailyPrice, fetched: DailyPrice) -> bool:
    """Whether `fetched` says what `held` says of its day (no actions: nothing of them)."""
    prices = ("open", "high", "low", "close", "volume")
    compared = prices if fetched.dividend is None and fetched.split is None else (
        *prices, "dividend", "split")
    return all(getattr(held, name) == getattr(fetched, name) for name in compared)


def _figure(record: Fundamental) -> tuple[str, str, str, dt.date]:
    return (record.symbol, record.field, record.period, record.period_end)


def read_known(known: Known, brokers: str, topic: str, model: str, source: str) -> None:
    """Add to `known` what `topic` holds now of the records of `source`."""
    for _, offset, _, value in kafka.read_all(brokers, topic):
        try:
            record = decode(model, value)
        except DecodeError as exc:  # not ours to judge here: the sink dead-letters it
            log.debug("unreadable record skipped topic=%s offset=%d error=%s", topic, offset, exc)
            continue
        if getattr(record, "source", None) == source:
            known.add(record)  # type: ignore[arg-type]


class _Publisher:
    """One idempotent producer; each item's records are flushed before the next item."""

    def __init__(self, brokers: str, topic: str, key_field: str) -> None:
        self._producer = kafka.producer(brokers)
        self._topic, self._key_field = topic, key_field
        self.delivery_errors = 0
        try:
            meta = self._producer.list_topics(topic, timeout=kafka.TIMEOUT_S)
        except KafkaException as exc:
            raise BrokerError(f"broker {brokers} unreachable: {exc.args[0]}") from exc
        if topic not in meta.topics or meta.topics[topic].error is not None:
            raise BrokerError(f"topic {topic} does not exist on broker {brokers}: "
                              "run `nautilus-streams topics apply`")

    def send(self, records: list[SourceRecord]) -> None:
        for record in records:
            key = str(getattr(record, self._key_field)).encode()
            while True:
                try:
                    self._producer.produce(self._topic, encode(record), key,
                                           on_delivery=self._on_delivery)
                    break
                except BufferError:
                    self._producer.poll(0.05)  # local queue full: let deliveries drain it
        self._flush()

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.delivery_errors += 1
            log.error("delivery failed topic=%s key=%r error=%s", msg.topic(), msg.key(), err)

    def _flush(self) -> None:
        left = self._producer.flush(FLUSH_TIMEOUT_S)
        if left:
            log.warning("flush timed out undelivered=%d", left)
            self.delivery_errors += left

    def close(self) -> int:
        """Flush what is left; the delivery errors in all (they are published next poll)."""
        self._flush()
        return self.delivery_errors
