"""Baseline: 1-minute bars in a plain Faust agent, one event and one table update at a time.

Run by benchmarks/bars_throughput.py as `python faust_bars.py worker --without-web`; reads
BASELINE_* variables and writes its events/s to BASELINE_RESULT after BASELINE_COUNT events.
"""

import orjson
from faust_baseline import RateReport, env, make_app

app = make_app()
topic = app.topic(env["BASELINE_TOPIC"], value_serializer="raw", key_serializer="raw")
symbol_to_bar = app.Table("bars", default=None, value_type=bytes, key_type=bytes, partitions=6)
report = RateReport()


@app.agent(topic)
async def aggregate(stream):  # type: ignore[no-untyped-def]
    async for key, raw in stream.items():
        doc = orjson.loads(raw)
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
        report.seen()


if __name__ == "__main__":
    app.main()
