"""VPIN (Easley, López de Prado & O'Hara 2012): order-flow toxicity per symbol, in event time.

Definition, with the parameters of `VpinParams`:

0. The tape is the symbol's trades without the prints flagged `unreported` (odd lots, combo
   legs, derivative and average-price trades), unless `include_unreported` is set.
1. Time bars: a trade belongs to bar `ts_event // (bar_seconds * 10**9)`; a bar's volume is
   the sum of its sizes, its close the price of its last trade (equal timestamps keep arrival
   order). Bars without trades do not exist.
2. The first bar of a symbol only sets the previous close; every later bar has
   ΔP = close - previous close.
3. σ is the sample standard deviation (ddof 1) of the symbol's last `sigma_bars` ΔP values,
   the current one included. A bar is classified once two ΔP values exist; before that its
   volume is not bucketed.
4. Bulk volume classification: buy fraction f = Φ(ΔP / σ), or 0.5 when σ = 0; buy volume is
   f × bar volume, sell volume the rest.
5. Buckets hold exactly V (`bucket_volume`, per symbol). Bar volume pours into the current
   bucket in bar order; a bar that overflows is split, each piece keeping f, and may fill
   several buckets.
6. When bucket τ completes, a VpinReading goes to logic.vpin: its buy and sell volume,
   ts_event of the last trade of the bar that completed it, and once τ >= n (`window`)
   vpin = Σ |sell - buy| over buckets τ-n+1 .. τ / (n·V) and vpin_cdf = the share of the
   symbol's last `cdf_window` VPIN values (this one included) that are <= it.
7. A CDF reaching `alert_cdf` raises one toxicity Alert on logic.risk.alerts; it is cleared
   when the CDF falls below `clear_cdf` (hysteresis: see alerts.py). Alerts wait until the
   symbol has `alert_min_history` VPIN values (a warm-up against a CDF of few values; 1
   gives the definition without it).

Bars close on a later trade of the symbol, when the clock passes the bar's end plus
`grace_ms` (`on_time`), or at the end of input (`flush`), with the same result; trades of a
closed bar are late, counted and dropped. `classification` = `tick` or `lee_ready` classifies
whole trades instead of bars (see classify.py and quotes.py); each trade then pours into the
buckets entirely as buy or sell.

Volumes are exact int64 (buy volume in units of 2**-20 share, see buckets.py), so the output
does not depend on how the input was cut into batches; the only floats, ΔP and σ, are summed
in a fixed order. State is per symbol in torch tensors on the injected device, and
snapshots to JSON-able dicts that restore exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from processors.vpin.params import VpinParams

if TYPE_CHECKING:
    from processors.vpin.engine import VpinEngine


def __getattr__(attr: str) -> type[VpinEngine]:
    """`VpinEngine` is imported on first use: it needs torch, its parameters do not."""
    if attr == "VpinEngine":
        from processors.vpin.engine import VpinEngine

        return VpinEngine
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = ["VpinEngine", "VpinParams"]
