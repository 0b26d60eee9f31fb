"""VPIN (bulk volume classification) one trade at a time, in plain Python, for the baselines.

The definition of issue 3 with the default parameters: 60-second bars, ΔP = close - previous
close, σ = sample std of the last 50 ΔP, f = Φ(ΔP/σ) (0.5 when σ = 0), buckets of exactly V,
VPIN over the last 50 buckets, its CDF over the last 1000 readings. State is two JSON-able
lists per symbol: the open bar (touched by every trade) and the VPIN state (touched when a bar
closes), so a baseline stores each in its own state entry, as a careful author would.
"""

import math
import statistics

BAR_NS = 60 * 10**9
WINDOW = 50
SIGMA_BARS = 50
CDF_WINDOW = 1000


def on_trade(bar: list | None, ts: int, price: float, size: int) -> tuple[list, list | None]:
    """The symbol's open bar [index, close, volume, last_ts] after `trade`, and the bar it
    closed (or None)."""
    index = ts // BAR_NS
    if bar is None or bar[0] != index:
        return [index, price, size, ts], bar
    return [index, price, bar[2] + size, ts], None


def new_state() -> dict:
    return {"prev": None, "dps": [], "buy": 0.0, "sell": 0.0, "fill": 0, "n": 0,
            "imb": [], "hist": []}


def on_bar(state: dict, bar: list, bucket_volume: int) -> list[dict]:
    """Classify a closed bar and pour it into buckets; the readings of completed buckets."""
    close, volume, last_ts = bar[1], bar[2], bar[3]
    if state["prev"] is None:
        state["prev"] = close
        return []
    dp = close - state["prev"]
    state["prev"] = close
    state["dps"] = (state["dps"] + [dp])[-SIGMA_BARS:]
    if len(state["dps"]) < 2:
        return []
    sigma = statistics.stdev(state["dps"])
    f = 0.5 if sigma == 0 else 0.5 * (1 + math.erf(dp / sigma / math.sqrt(2)))
    readings = []
    while volume > 0:
        take = min(volume, bucket_volume - state["fill"])
        state["buy"] += f * take
        state["sell"] += (1 - f) * take
        state["fill"] += take
        volume -= take
        if state["fill"] == bucket_volume:
            readings.append(_complete(state, bucket_volume, last_ts))
    return readings


def _complete(state: dict, bucket_volume: int, ts: int) -> dict:
    state["n"] += 1
    state["imb"] = (state["imb"] + [abs(state["sell"] - state["buy"])])[-WINDOW:]
    reading = {"bucket": state["n"], "ts_event": ts, "buy_volume": state["buy"],
               "sell_volume": state["sell"], "vpin": None, "vpin_cdf": None}
    if state["n"] >= WINDOW:
        vpin = sum(state["imb"]) / (WINDOW * bucket_volume)
        state["hist"] = (state["hist"] + [vpin])[-CDF_WINDOW:]
        reading["vpin"] = vpin
        reading["vpin_cdf"] = sum(v <= vpin for v in state["hist"]) / len(state["hist"])
    state["buy"], state["sell"], state["fill"] = 0.0, 0.0, 0
    return reading
