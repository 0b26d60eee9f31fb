"""Interactive Brokers: live trades, quotes and depth from TWS / IB Gateway (ib_async).

- `instruments`: what to subscribe to, from flags or a YAML / CSV file.
- `mapping`: IB ticks to Trade / Quote / DepthSnapshot, and the outage alerts (pure).
- `client`: the ib_async binding (contracts; a client that keeps IB's venue times).
- `config`: connection settings and the reconnect backoff.
- `state`: IB's refusal and connectivity codes, counters, subscriptions, outages.
- `feed`: sessions, keep-alive, reconnects, subscription limits, health.
- `sink`: publishing to the market.* topics (through `publish`) and to logic.*.

Needs the `ibkr` extra: `pip install 'nautilus-streams[ibkr]'`.
"""

from streams.feeds.ibkr.config import IbkrConfig
from streams.feeds.ibkr.feed import IbkrFeed
from streams.feeds.ibkr.instruments import Instrument, collect, load_instruments
from streams.feeds.ibkr.sink import KafkaSink

__all__ = ["IbkrConfig", "IbkrFeed", "Instrument", "KafkaSink", "collect", "load_instruments"]
