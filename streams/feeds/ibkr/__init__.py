"""Interactive Brokers: live trades, quotes and depth from TWS / IB Gateway (ib_async).

- `instruments`: what to subscribe to, from flags or a YAML / CSV file.
- `qualify`: one contract per instrument (ambiguity, expired futures), liquid `hours`.
- `mapping`: IB ticks to Trade / Quote, and the outage alerts (pure).
- `book`: a depth subscription's book with IB's row semantics.
- `client`: the ib_async binding (contracts; a client that hands over what TWS sends).
- `receive`: what arrives, stamped with its arrival, as market events.
- `config`: connection settings, line budget, retry and staleness times, reconnect backoff.
- `lines`, `subscriptions`: the line budget, IB's pacing, refusals and retries.
- `state`: IB's refusal and connectivity codes, counters, subscriptions.
- `outages`: what is down, for which symbols, raised and cleared as alerts.
- `feed`: sessions, keep-alive, reconnects, notices, staleness, health.
- `publisher`: publishing to the market.* topics (through `publish`, bounded) and to logic.*.

Needs the `ibkr` extra: `pip install 'nautilus-streams[ibkr]'`.
"""

from streams.feeds.ibkr.config import IbkrConfig
from streams.feeds.ibkr.feed import IbkrFeed
from streams.feeds.ibkr.instruments import Instrument, collect, load_instruments
from streams.feeds.ibkr.publisher import KafkaPublisher

__all__ = ["IbkrConfig", "IbkrFeed", "Instrument", "KafkaPublisher", "collect", "load_instruments"]
