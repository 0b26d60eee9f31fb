"""Baseline: VPIN in a Quix Streams application, one event at a time, with its state store.

Quix keeps state in RocksDB with a changelog topic per store. Every trade updates its
symbol's open bar; a closed bar updates the VPIN state and its readings go to an output
topic. Runs in its own virtualenv (quixstreams pins its own confluent-kafka); started by
benchmarks/vpin_throughput.py with BASELINE_* variables, writes its events/s to
BASELINE_RESULT after BASELINE_COUNT events.
"""

import os
import time

import per_event_vpin as vpin
from quixstreams import Application, State

env = os.environ
BUCKET_VOLUME = int(env["BASELINE_BUCKET_VOLUME"])
seen = {"count": 0, "first": 0.0}


def compute_vpin(doc: dict, state: State) -> list[dict]:
    seen["first"] = seen["first"] or time.perf_counter()
    bar, closed = vpin.on_trade(state.get("bar"), doc["ts_event"], float(doc["price"]),
                                doc["size"])
    state.set("bar", bar)
    out = []
    if closed is not None:
        vpin_state = state.get("vpin") or vpin.new_state()
        out = vpin.on_bar(vpin_state, closed, BUCKET_VOLUME)
        state.set("vpin", vpin_state)
    seen["count"] += 1
    if seen["count"] == int(env["BASELINE_COUNT"]):
        with open(env["BASELINE_RESULT"], "w") as result:
            result.write(str(seen["count"] / (time.perf_counter() - seen["first"])))
    return out


def main() -> None:
    app = Application(broker_address=env["BASELINE_BROKERS"],
                      consumer_group=env["BASELINE_APP"], auto_offset_reset="earliest",
                      state_dir=env["BASELINE_DATADIR"])
    trades = app.topic(env["BASELINE_TOPIC"], key_deserializer="str", value_deserializer="json")
    readings = app.topic(env["BASELINE_OUT"], key_serializer="str", value_serializer="json")
    sdf = app.dataframe(trades).apply(compute_vpin, stateful=True, expand=True)
    sdf.to_topic(readings)
    app.run()


if __name__ == "__main__":
    main()
