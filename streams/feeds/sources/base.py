"""The interface of a data source: what one module implements (see the package docstring).

A source has a `name` (the records' `source` field and its `feed` command), the `topics` it
publishes to (one per record model it makes), a rate limit, a config model read from the
environment, and two methods:
`items()`, what a poll fetches by default (FRED series, EDGAR tickers), and `fetch(item)`,
every record of one item, complete or not at all (a SourceError).
"""

from __future__ import annotations

import datetime as dt
import re
import typing
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from streams.exceptions import ConfigError
from streams.feeds.sources.http import HttpFetcher
from streams.schema import DailyPrice, Filing, Fundamental, MacroObservation

SourceRecord = MacroObservation | Fundamental | Filing | DailyPrice
TICKER = re.compile(r"[A-Z][A-Z0-9.-]{0,9}")  # as exchanges and the SEC write them: BRK-B


class SourceConfig(BaseModel):
    """A source's settings, read from the environment: each field names its variable as its
    `validation_alias` (`FRED_API_KEY`); a field without a default is required, and the
    source is off while one is unset. Keys are `SecretStr`."""

    model_config = ConfigDict(frozen=True, extra="ignore")


ConfigT = TypeVar("ConfigT", bound=SourceConfig)


@dataclass(frozen=True, slots=True)
class Fetched:
    """Every record of one item, and how many values the source marked missing (no record)."""

    item: str
    records: list[SourceRecord]
    missing: int = 0


class Source(ABC, Generic[ConfigT]):
    """One provider of data beyond the tape. Subclasses set the class attributes and
    implement `items` and `fetch`; `http` is their only way out to the network."""

    name: ClassVar[str]  # lower-case, the records' `source` (`fred`)
    topics: ClassVar[tuple[str, ...]]  # market.macro, .fundamentals, .filings, .prices.1d
    config_model: ClassVar[type[SourceConfig]]
    requests_per_s: ClassVar[float]  # the provider's documented limit, or below it
    burst: ClassVar[int] = 1
    dated_when_seen: ClassVar[bool] = False  # figures dated when first seen (poll.Known)

    def __init__(self, config: ConfigT, http: HttpFetcher) -> None:
        self.config, self.http = config, http

    @classmethod
    def http_headers(cls, config: SourceConfig) -> Mapping[str, str]:
        """Headers sent with every request of the source (EDGAR: a User-Agent from its
        config); none by default."""
        return {}

    def resume(self, held: Mapping[tuple[str, dt.date], tuple[dt.date, float]]) -> None:
        """Before a poll, what the topic holds of this source's macro series: each (series,
        period)'s newest vintage (realtime_start, value). A source that can ask its provider
        only for what is newer (FRED) keeps it; by default it is not needed."""

    @abstractmethod
    def items(self) -> list[str]:
        """What a poll fetches when not told: the configured series, tickers, ..."""

    @abstractmethod
    def fetch(self, item: str, *, since: dt.date | None, ts_init: int) -> Fetched:
        """Every record of `item` (periods from `since` on when given), `ts_init` on each;
        a SourceError when any part of it cannot be had: then none of it is published."""


def parse_tickers(text: str) -> tuple[str, ...]:
    """A comma-separated ticker list (a variable, `--tickers`): `aapl, BRK-B` -> ("AAPL",
    "BRK-B"); a ValueError naming what is not a ticker."""
    tickers = tuple(t.strip().upper() for t in text.split(",") if t.strip())
    bad = [t for t in tickers if not TICKER.fullmatch(t)]
    if bad:
        raise ValueError(f"not a ticker: {', '.join(bad)}")
    return tickers


def read_config(source: type[Source], environ: Mapping[str, str]) -> SourceConfig | str:
    """The source's config from `environ`, or why the source is off: the required variables
    that are unset (empty counts as unset). A variable set to a wrong value is a
    ConfigError naming it (its value shown unless it is a secret)."""
    model = source.config_model
    given = {k: v for k, v in environ.items() if v != ""}
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        errors = exc.errors()
    missing = [str(e["loc"][0]) for e in errors if e["type"] == "missing"]
    wrong = [e for e in errors if e["type"] != "missing"]
    if wrong:
        problems = "; ".join(_problem(model, e["loc"][0], e["msg"], given) for e in wrong)
        raise ConfigError(f"source {source.name}: invalid setting {problems}")
    return f"{', '.join(missing)} not set"


def _problem(model: type[SourceConfig], variable: object, message: str,
             given: Mapping[str, str]) -> str:
    secret = any(f.validation_alias == variable
                 and SecretStr in (f.annotation, *typing.get_args(f.annotation))
                 for f in model.model_fields.values())
    shown = "" if secret else f"={given.get(str(variable))!r}"
    return f"{variable}{shown}: {message[:1].lower()}{message[1:]}"
