"""Load on the API and the sink, on embedded PostgreSQL and broker.

Loads a million 1-minute bars (with their 5m/1h/1d rollups) and a million VPIN readings for
50 symbols, serves the API with `nautilus-streams api --workers N` (`--api-workers`, default
1 server process), and drives, with
concurrent keep-alive clients from this process, for a few seconds each:

- `/health` (no token, no database): the framework's floor on this machine, the baseline;
- `/api/v1/vpin/latest` (all 50 symbols): token check, one skip-scan query (one token drives
  all the load, so its rate limit is off here: NAUTILUS_API_RATE_PER_S=0);
- `/api/v1/bars?interval=5m` over one day of one symbol (288 bars).

Then the sink: 200,000 trades on a topic written by `Sink` into the trades table, against a
plain binary COPY of the same rows into an empty copy of that table (the database's floor).

Prints requests/s and p50/p99 latency per route and rows/s; the last line is
`vpin_latest_rps=… vpin_latest_p99_ms=… bars_day_rps=… bars_day_p99_ms=… health_rps=…
sink_rows_per_s=… copy_rows_per_s=… ratio=… api_workers=… cores=…` (ratio = vpin_latest_rps /
health_rps); with `--sink-only` (no bars, no API) it is `sink_rows_per_s=… copy_rows_per_s=…
cores=…`. The
load generator shares the machine's cores with the server: on 2 cores both are bounded by it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import aiohttp
import httpx
import numpy as np
import psycopg

from benchmarks.harness import create_topic, make_trades, produce
from streams.embedded import EmbeddedBroker, EmbeddedPostgres, free_port
from streams.sink.rollups import ROLLUPS
from streams.sink.runner import Sink, SinkConfig
from streams.sink.tables import TABLES, Route
from streams.storage import migrate as migrations
from streams.storage import tokens

SYMBOLS = [f"SYM{i:02d}" for i in range(50)]
MINUTE_NS = 60 * 10**9
START_NS = 1_700_006_400 * 10**9  # 2023-11-15T00:00:00Z
DAY_NS = 1_440 * MINUTE_NS


def load_bars(conn: psycopg.Connection, per_symbol: int) -> None:
    rng = np.random.default_rng(1)
    with conn.cursor().copy(
        "COPY bars_1m (time, symbol, bar_id, start_ns, ts_event, ts_init, open, high, low,"
        " close, volume, trade_count, vwap) FROM STDIN"
    ) as copy:
        for symbol in SYMBOLS:
            closes = np.round(100 + np.cumsum(rng.normal(0, 0.05, per_symbol)), 2)
            for m, close in enumerate(closes.tolist()):
                start = START_NS + m * MINUTE_NS
                copy.write_row((
                    f"{np.datetime64(start, 'ns').astype('datetime64[us]')}Z", symbol,
                    f"{symbol}@1m@{start}", start, start + MINUTE_NS - 1, start + MINUTE_NS,
                    f"{close:.2f}", f"{close + 0.05:.2f}", f"{close - 0.05:.2f}", f"{close:.2f}",
                    100 + m % 50, 10, close,
                ))
    for rollup, width in ROLLUPS.items():
        conn.execute(
            f"INSERT INTO {rollup} SELECT date_bin('{width}', time, 'epoch'), symbol,"
            " (array_agg(open ORDER BY time))[1], max(high), min(low),"
            " (array_agg(close ORDER BY time DESC))[1], sum(volume), sum(trade_count),"
            f" sum(vwap * volume) / sum(volume) FROM bars_1m GROUP BY 1, 2"
        )


def load_vpin(conn: psycopg.Connection, per_symbol: int) -> None:
    with conn.cursor().copy(
        "COPY vpin_readings (time, symbol, bucket, ts_event, ts_init, bucket_volume,"
        " buy_volume, sell_volume, vpin, vpin_cdf) FROM STDIN"
    ) as copy:
        for symbol in SYMBOLS:
            for b in range(1, per_symbol + 1):
                ts = START_NS + b * 10**9
                copy.write_row((
                    f"{np.datetime64(ts, 'ns').astype('datetime64[us]')}Z", symbol, b, ts, ts,
                    10_000, 5_500.0, 4_500.0, 0.2 if b >= 50 else None,
                    0.5 if b >= 50 else None,
                ))


async def drive(url: str, headers: dict[str, str], clients: int, seconds: float) -> tuple:
    """Requests/s and p50/p99 latency (ms) of `clients` concurrent loops for `seconds`."""
    latencies: list[float] = []
    failures = 0
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:

        async def loop(deadline: float) -> None:
            nonlocal failures
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    failures += response.status != 200
                latencies.append(time.perf_counter() - started)

        await loop(time.perf_counter() + 1)  # warm up: connections, the token cache
        latencies.clear()
        started = time.perf_counter()
        await asyncio.gather(*(loop(started + seconds) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{failures} requests to {url} failed")
    cuts = statistics.quantiles(latencies, n=100)
    return len(latencies) / elapsed, cuts[49] * 1e3, cuts[98] * 1e3


def serve(database_url: str, tmp: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port("127.0.0.1")
    env = {**os.environ, "DATABASE_URL": database_url, "KAFKA_BROKERS": "127.0.0.1:1",
           "NAUTILUS_STATE_DIR": str(tmp), "NAUTILUS_LOG_LEVEL": "WARNING",
           "NAUTILUS_API_RATE_PER_S": "0"}  # one token makes every request
    log = (tmp / "api.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "streams", "api", "--port", str(port),
                             "--workers", str(workers)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/health", timeout=1)
            return proc, base
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"the API did not start; see {tmp / 'api.log'}") from None
            time.sleep(0.2)


def sink_rates(database_url: str, brokers: str, trades: int) -> tuple[float, float]:
    """rows/s of the sink writing `trades` trades, and of a plain COPY of the same rows."""
    records = make_trades(trades, span_s=3_600)
    topic = create_topic(brokers, "bench.sink", partitions=1)
    produce(brokers, records, topic)
    table = TABLES["Trade"]
    sink = Sink(SinkConfig(brokers=brokers, database_url=database_url,
                           group=f"bench-{uuid.uuid4().hex[:6]}"), [Route(topic, "Trade", table)])
    stopping = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stopping,), daemon=True)
    counters = sink.health.counters  # rows committed so far; read without querying the table
    with psycopg.connect(database_url, autocommit=True) as conn:
        before = conn.execute("SELECT count(*) FROM trades").fetchone()[0]
        thread.start()
        # timed from its first committed batch: joining the consumer group is not writing
        while (first := counters.events_out) == 0:
            time.sleep(0.001)
        started = time.perf_counter()
        while counters.events_out < trades:
            time.sleep(0.005)
        sink_s = time.perf_counter() - started
        stopping.set()
        thread.join(30)
        written = conn.execute("SELECT count(*) FROM trades").fetchone()[0] - before
        assert written == trades, f"the sink wrote {written} of {trades} trades"
        rows = conn.execute("SELECT * FROM trades ORDER BY time LIMIT %s OFFSET %s",
                            (trades, before)).fetchall()
        conn.execute("CREATE TABLE trades_copy (LIKE trades INCLUDING ALL)")
        types = [oid for (oid,) in conn.execute(
            "SELECT atttypid::int FROM pg_attribute WHERE attrelid = 'trades_copy'::regclass"
            " AND attnum > 0 AND NOT attisdropped ORDER BY attnum").fetchall()]
        started = time.perf_counter()
        with conn.cursor().copy("COPY trades_copy FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(types)  # the sink's format too
            for row in rows:
                copy.write_row(row)
        copy_s = time.perf_counter() - started
    return (trades - first) / sink_s, len(rows) / copy_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000,
                        help="bars and VPIN readings each, over 50 symbols (default 1,000,000)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=10.0, help="per route")
    parser.add_argument("--sink-trades", type=int, default=200_000)
    parser.add_argument("--api-workers", type=int, default=1, help="API server processes")
    parser.add_argument("--sink-only", action="store_true",
                        help="only the sink and its COPY baseline (no API load, no bars)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        with EmbeddedPostgres(tmp / "pg") as db, EmbeddedBroker(tmp / "broker.log") as broker:
            migrations.migrate(db.url)
            results = {} if args.sink_only else api_rates(db.url, tmp, args)
            sink_rps, copy_rps = sink_rates(db.url, broker.bootstrap, args.sink_trades)
            print(f"sink: {sink_rps:,.0f} rows/s; plain COPY of the same rows: "
                  f"{copy_rps:,.0f} rows/s")

    figures = ""
    if results:
        latest, bars, health = results["vpin_latest"], results["bars_day"], results["health"]
        figures = (
            f"vpin_latest_rps={latest[0]:.0f} vpin_latest_p50_ms={latest[1]:.1f} "
            f"vpin_latest_p99_ms={latest[2]:.1f} bars_day_rps={bars[0]:.0f} "
            f"bars_day_p99_ms={bars[2]:.1f} health_rps={health[0]:.0f} "
        )
    figures += f"sink_rows_per_s={sink_rps:.0f} copy_rows_per_s={copy_rps:.0f} "
    if results:
        figures += (f"ratio={results['vpin_latest'][0] / results['health'][0]:.2f} "
                    f"api_workers={args.api_workers} ")
    print(figures + f"cores={os.cpu_count()}")


def api_rates(database_url: str, tmp: Path, args: argparse.Namespace
              ) -> dict[str, tuple[float, float, float]]:
    """Requests/s, p50 and p99 (ms) per route, on bars and VPIN readings loaded first."""
    per_symbol = args.rows // len(SYMBOLS)
    started = time.perf_counter()
    with psycopg.connect(database_url) as conn:
        load_bars(conn, per_symbol)
        load_vpin(conn, per_symbol)
        conn.execute("ANALYZE")
    print(f"loaded {per_symbol * len(SYMBOLS):,} bars (+ rollups) and as many VPIN "
          f"readings in {time.perf_counter() - started:.0f} s", flush=True)
    token, _ = tokens.create_token(database_url, "read", "api-load")
    proc, base = serve(database_url, tmp, args.api_workers)
    auth = {"Authorization": f"Bearer {token}"}
    day = START_NS + DAY_NS
    routes = {
        "health": (f"{base}/health", {}),
        "vpin_latest": (f"{base}/api/v1/vpin/latest", auth),
        "bars_day": (f"{base}/api/v1/bars?symbol=SYM07&interval=5m&from={day}"
                     f"&to={day + DAY_NS}&limit=1000", auth),
    }
    results = {}
    try:
        for name, (url, headers) in routes.items():
            results[name] = asyncio.run(drive(url, headers, args.clients, args.seconds))
            rps, p50, p99 = results[name]
            print(f"{name}: {rps:,.0f} requests/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms "
                  f"({args.clients} clients)", flush=True)
    finally:
        proc.terminate()
        proc.wait(10)
    return results


if __name__ == "__main__":
    main()
