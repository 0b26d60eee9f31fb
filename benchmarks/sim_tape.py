"""A trade tape of the simulated market (streams/feeds/sim.py) as a file `replay`,
`backtest` and `feed file` read: `python -m benchmarks.sim_tape --minutes 600 --out tape.parquet`.

Columns `ts_event`, `symbol`, `price` (exact decimal text), `size`, `aggressor`; trades only
(no quotes or depth), in time order. The same seed gives the same tape; another seed another
market of the same kind (random walks with informed-flow episodes), e.g. to train on one
and backtest on the other.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from streams.feeds.sim import MINUTE_NS, SimMarket
from streams.schema import Trade

START_NS = 1_700_000_040 * 10**9  # a whole minute (2023-11-14 22:14 UTC)


def write_tape(symbols: list[str], minutes: int, trades_per_s: float, seed: int,
               out: Path) -> int:
    """Write the tape; returns its trade count."""
    market = SimMarket(symbols, seed=seed, trades_per_s=trades_per_s, quote_every=0,
                       depth_every=0)
    end = START_NS + minutes * MINUTE_NS
    columns: dict[str, list] = {"ts_event": [], "symbol": [], "price": [], "size": [],
                                "aggressor": []}
    for event in market.events(START_NS):
        if event.ts_event >= end:
            break
        assert isinstance(event, Trade)
        columns["ts_event"].append(event.ts_event)
        columns["symbol"].append(event.symbol)
        columns["price"].append(str(event.price))
        columns["size"].append(event.size)
        columns["aggressor"].append(event.aggressor)
    pq.write_table(pa.table(columns), out)
    return len(columns["ts_event"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", default="ESZ6,AAPL,NQZ6,MSFT",
                        help="comma-separated (default ESZ6,AAPL,NQZ6,MSFT)")
    parser.add_argument("--minutes", type=int, default=600, help="of event time (default 600)")
    parser.add_argument("--rate", type=float, default=20.0,
                        help="trades per second over all symbols (default 20)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    count = write_tape(args.symbols.split(","), args.minutes, args.rate, args.seed, args.out)
    print(f"{count:,} trades of {args.symbols} over {args.minutes} minutes in {args.out}")


if __name__ == "__main__":
    main()
