"""What the per-event Faust baselines share: the app from BASELINE_* variables, and the
events/s report written to BASELINE_RESULT once BASELINE_COUNT events went through."""

import os
import time

import faust

env = os.environ


def make_app() -> faust.App:
    return faust.App(env["BASELINE_APP"], broker="kafka://" + env["BASELINE_BROKERS"],
                     store="memory://", datadir=env["BASELINE_DATADIR"],
                     value_serializer="raw", key_serializer="raw", web_enabled=False,
                     broker_session_timeout=6, broker_rebalance_timeout=6,
                     broker_heartbeat_interval=2, consumer_auto_offset_reset="earliest")


class RateReport:
    """Call `seen()` once per event; writes the rate after the last expected one."""

    def __init__(self) -> None:
        self.count, self.first = 0, 0.0
        self.expected = int(env["BASELINE_COUNT"])

    def seen(self) -> None:
        self.first = self.first or time.perf_counter()
        self.count += 1
        if self.count == self.expected:
            with open(env["BASELINE_RESULT"], "w") as out:
                out.write(str(self.count / (time.perf_counter() - self.first)))
