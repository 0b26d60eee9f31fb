"""Data beyond the tape: sources polled over HTTP (FRED, EDGAR, Alpha Vantage, ...) that
publish macro observations to market.macro, company figures to market.fundamentals, SEC
filings to market.filings and vendors' daily prices to market.prices.1d.

- `base`: the interface, `Source` (name, topics, rate limit, config model; `items()` and
  `fetch(item, since=, ts_init=)` returning `Fetched`) and `SourceConfig`.
- `http`: the one HTTP client: token-bucket rate limit, retries with backoff and full jitter
  (Retry-After honoured), timeouts, conditional requests over an on-disk cache (`cache`),
  pagination helpers.
- `poll`: publishing what is new, idempotently; `poll_once(settings)` for scheduled polling.
- one module per source: `fred`, `edgar`, `alphavantage`, `dbnomics`, `yahoo` (unofficial),
  `datagov`, `tradingeconomics`; `parsing`: what they share reading payloads.

Adding a source is one module and one line:

1. `streams/feeds/sources/<name>.py` defines a `SourceConfig` subclass (each field names its
   environment variable as `validation_alias`; required ones without a default: the source
   is off, with one log line, while they are unset), a `Source` subclass whose `name` is
   `<name>`, and `SOURCE = ThatClass`. Its `fetch` goes out only through `self.http` and
   returns every record of the item or raises a SourceError (nothing of the item is then
   published); `http_headers(config)` gives headers for every request (a User-Agent).
2. Add `"<name>"` to `SOURCE_MODULES` below.

Then document its variables in .env.example and give it a `feed` subcommand
(streams/cli/feed_sources.py: an entry of `LISTED_SOURCES` when its items are one variable's
comma-separated list, its option standing for that variable; a parser of its own otherwise).
Modules are imported when used, so a source that needs an optional package is off, saying
which, where it is missing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.feeds.sources.base import Source

SOURCE_MODULES: tuple[str, ...] = (
    "fred",
    "edgar",
    "alphavantage",
    "dbnomics",
    "yahoo",
    "datagov",
    "tradingeconomics",
)


def load_source(name: str) -> type[Source]:
    """The Source class of module `name` of this package (ModuleNotFoundError when it needs
    a package that is not installed)."""
    module = importlib.import_module(f"{__name__}.{name}")
    return module.SOURCE  # type: ignore[no-any-return]
