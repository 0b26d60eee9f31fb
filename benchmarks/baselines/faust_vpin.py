"""Baseline: VPIN in a plain Faust agent, one event at a time, state in Faust tables.

Every trade updates its symbol's open bar in one table; a closed bar updates the VPIN state
in a second table and publishes its readings. Run by benchmarks/vpin_throughput.py as
`python faust_vpin.py worker --without-web`; reads BASELINE_* variables and writes its
events/s to BASELINE_RESULT after BASELINE_COUNT events.
"""

import orjson
import per_event_vpin as vpin
from faust_baseline import RateReport, env, make_app

BUCKET_VOLUME = int(env["BASELINE_BUCKET_VOLUME"])
app = make_app()
trades = app.topic(env["BASELINE_TOPIC"], value_serializer="raw", key_serializer="raw")
readings = app.topic(env["BASELINE_OUT"], value_serializer="raw", key_serializer="raw")
symbol_to_bar = app.Table("bar", default=None, value_type=bytes, key_type=bytes, partitions=6)
symbol_to_vpin = app.Table("vpin", default=None, value_type=bytes, key_type=bytes, partitions=6)
report = RateReport()


@app.agent(trades)
async def compute_vpin(stream):  # type: ignore[no-untyped-def]
    async for key, raw in stream.items():
        doc = orjson.loads(raw)
        stored = symbol_to_bar.get(key)
        bar, closed = vpin.on_trade(orjson.loads(stored) if stored else None,
                                    doc["ts_event"], float(doc["price"]), doc["size"])
        symbol_to_bar[key] = orjson.dumps(bar)
        if closed is not None:
            stored = symbol_to_vpin.get(key)
            state = orjson.loads(stored) if stored else vpin.new_state()
            for reading in vpin.on_bar(state, closed, BUCKET_VOLUME):
                await readings.send(key=key, value=orjson.dumps(reading))
            symbol_to_vpin[key] = orjson.dumps(state)
        report.seen()


if __name__ == "__main__":
    app.main()
