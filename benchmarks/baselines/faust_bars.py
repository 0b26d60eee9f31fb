"""Baseline: 1-minute bars in a plain Faust agent, one event and one table update at a time.

Run by benchmarks/bars_throughput.py as `python faust_bars.py worker --without-web`; reads
BASELINE_* variables and writes its events/s to BASELINE_RESULT after BASELINE_COUNT events.
"""

import os
import time

import faust
import orjson

env = os.environ
app = faust.App(env["BASELINE_APP"], broker="kafka://" + env["BASELINE_BROKERS"],
                store="memory://", datadir=env["BASELINE_DATADIR"],
                value_serializer="raw", key_serializer="raw", web_enabled=False,
                broker_session_timeout=6, broker_rebalance_timeout=6,
                broker_heartbeat_interval=2, consumer_auto_offset_reset="earliest")
topic = app.topic(env["BASELINE_TOPIC"], value_serializer="raw", key_serializer="raw")
symbol_to_bar = app.Table("bars", default=None, value_type=bytes, key_type=bytes, partitions=6)
seen = {"count": 0, "first": 0.0}


@app.agent(topic)
async def aggregate(stream):  # type: ignore[no-untyped-def]
    async for key, raw in stream.items():
        doc = orjson.loads(raw)
        seen["first"] = seen["first"] or time.perf_counter()
        start = doc["ts_event"] - doc["ts_event"] % 60_000_000_000
        stored = symbol_to_bar.get(key)
        bar = orjson.loads(stored) if stored else None
        price = float(doc["price"])
        if bar is None or bar[0] != start:
            bar = [start, price, price, price, price, doc["size"]]
        else:
            bar = [start, bar[1], max(bar[2], price), min(bar[3], price), price,
                   bar[5] + doc["size"]]
        symbol_to_bar[key] = orjson.dumps(bar)
        seen["count"] += 1
        if seen["count"] == int(env["BASELINE_COUNT"]):
            rate = seen["count"] / (time.perf_counter() - seen["first"])
            with open(env["BASELINE_RESULT"], "w") as out:
                out.write(str(rate))


if __name__ == "__main__":
    app.main()
