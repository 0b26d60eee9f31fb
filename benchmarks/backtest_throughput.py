"""Throughput of a backtest of sma_cross, against vectorbt, backtrader and NautilusTrader on
the same data in the same run (issue 13, section 8).

  (a) a bar file (default 20 symbols x 50,000 1-minute bars) through `sma_cross` (fast 10,
      slow 30, quantity 100, slippage 2 bp, fee 1 bp, one account of 1,000,000):
      - ours: `nautilus-streams backtest`'s graph in-process (bars from the file, features,
        sma_cross, pretrade, execution, portfolio), in event time;
      - vectorbt `Portfolio.from_signals`, vectorized (benchmarks/sma_cross_peers.py): its
        fills, cash and equity are the reference ours must equal;
      - backtrader, event-driven, next-open market fills (benchmarks/backtrader_sma_cross.py);
      - NautilusTrader 1.221.0 from its own virtualenv (`--nautilus-python`, made by
        `make bench`): BacktestEngine, bars as external 1-minute bars
        (benchmarks/baselines/nautilus_sma_cross.py);
  (b) a trade tape (default 1,000,000 trades over the same symbols) through bars + features +
      sma_cross + pretrade + execution + portfolio here, and in NautilusTrader (trade ticks
      aggregated by its engine into 1-MINUTE-LAST-INTERNAL bars).

Each rate is input rows over the whole run: reading the Parquet file, building the peer's
objects, the backtest; not generating the data. vectorbt compiles its numba functions on
first use, so it runs once on a small file first, untimed. Fills are compared (ours against
vectorbt, backtrader against vectorbt; NautilusTrader's bar fills are at the deciding bar's
close, the last bar's order included, so only their count is shown); a disagreement is
printed and the exit status is 1. A part that cannot run here prints n/a and why. The last
line is the key=value summary.
Usage: python -m benchmarks.backtest_throughput [--symbols 20 --bars 50000 --trades 1000000]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

from benchmarks.backtest_data import make_bars, make_trades, write
from benchmarks.sma_cross_peers import (
    Fill,
    PeerRun,
    SmaCrossRun,
    backtrader_sma_cross,
    differences,
    vectorbt_sma_cross,
)
from streams.settings import REPO_ROOT

NAUTILUS_BASELINE = Path(__file__).parent / "baselines" / "nautilus_sma_cross.py"
STRATEGY = "sma_cross"


def ours_missing() -> str | None:
    """Why our backtest cannot run in this checkout (the strategy or the accounting engines
    are not there yet), or None."""
    try:
        from processors import ENGINES
        from processors.strategies import load as load_strategy
        from streams.backtest import ACCOUNTING_ENGINES
    except ImportError as error:
        return f"our backtest is not importable: {error}"
    missing = [name for name in ACCOUNTING_ENGINES if name not in ENGINES]
    if missing:
        return f"engine(s) not registered: {', '.join(missing)}"
    load_strategy(STRATEGY)
    return None


def ours_sma_cross(path: Path, run: SmaCrossRun, name: str) -> PeerRun:
    """Our whole backtest graph over `path` (bars or trades), as `nautilus-streams backtest
    --input PATH --strategy sma_cross` runs it, with `run`'s parameters."""
    from processors.strategies import load as load_strategy
    from streams.backtest import EXECUTIONS_TOPIC, PORTFOLIO_TOPIC, backtest_engines
    from streams.feeds.badrows import BadRows
    from streams.feeds.files import FileOptions
    from streams.params import apply_overrides
    from streams.replay import file_runs, replay_runs
    from streams.schema import Execution, PortfolioSnapshot
    from streams.settings import EngineParams

    engines = backtest_engines(load_strategy(STRATEGY))
    params = apply_overrides(EngineParams(), [
        f"{STRATEGY}.fast={run.fast}", f"{STRATEGY}.slow={run.slow}",
        f"{STRATEGY}.quantity={run.quantity}", f"execution.slippage_bps={run.slippage_bps}",
        f"execution.fee_bps={run.fee_bps}", f"portfolio.cash={run.cash}"])
    topics = {t for e in engines for t in e.inputs}
    started = time.perf_counter()
    runs = file_runs([path], FileOptions(), BadRows(strict=True), topics=topics)
    result = replay_runs(runs, engines, params)
    seconds = time.perf_counter() - started
    executions = cast(list[Execution],
                      [e.value for e in result.outputs.get(EXECUTIONS_TOPIC, [])])
    fills = [Fill(x.ts_event, x.symbol, x.side, int(x.quantity), float(x.price),
                  float(x.commission)) for x in executions]
    snapshots = sorted(cast(list[PortfolioSnapshot],
                            [e.value for e in result.outputs.get(PORTFOLIO_TOPIC, [])]),
                       key=lambda s: s.ts_event)
    cash = float(snapshots[-1].cash) if snapshots else run.cash
    equity = float(snapshots[-1].equity) if snapshots else run.cash
    rows = _rows(path)
    return PeerRun(name, rows, seconds, fills, cash, equity)


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def nautilus_sma_cross(python: str, kind: str, path: Path, run: SmaCrossRun, tmp: Path
                       ) -> PeerRun:
    """The NautilusTrader baseline in its own interpreter; its log is kept in `tmp`."""
    result, log = tmp / f"nautilus-{kind}.json", tmp / f"nautilus-{kind}.log"
    cmd = [python, str(NAUTILUS_BASELINE), "--kind", kind, "--input", str(path),
           "--result", str(result), "--fast", str(run.fast), "--slow", str(run.slow),
           "--quantity", str(run.quantity), "--fee-bps", str(run.fee_bps),
           "--cash", str(run.cash), "--tie", repr(run.tie_tolerance)]
    with log.open("wb") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"NautilusTrader baseline ({kind}) failed with status "
                         f"{done.returncode}:\n{log.read_text()[-3000:]}")
    doc = json.loads(result.read_text())
    return PeerRun(f"nautilus {kind}", doc["rows"], doc["seconds"],
                   [Fill(*f) for f in doc["fills"]], doc["cash"], doc["equity"])


def report(peer: PeerRun, unit: str, reference: PeerRun | None = None) -> bool:
    """Print one peer's line; with a reference, whether its fills, cash and equity equal the
    reference's (printing the first differences). False when they differ."""
    line = (f"{peer.peer}: {peer.events_per_s:,.0f} {unit}/s ({peer.events:,} in "
            f"{peer.seconds:.2f} s), {len(peer.fills):,} fills, cash {peer.cash:,.2f}, "
            f"equity {peer.equity:,.2f}")
    if reference is None:
        print(line)
        return True
    found = differences(peer, reference)
    print(f"{line}; fills, cash and equity {'equal' if not found else 'DIFFER from'} "
          f"{reference.peer}'s")
    for difference in found[:10]:
        print(f"  {difference}")
    return not found


def rate(peer: PeerRun | None) -> str:
    return f"{peer.events_per_s:.0f}" if peer is not None else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--bars", type=int, default=50_000, help="1-minute bars per symbol")
    parser.add_argument("--trades", type=int, default=1_000_000,
                        help="trades in the tape, over all symbols")
    parser.add_argument("--nautilus-python", default=str(REPO_ROOT / ".bench-nautilus/bin/python"),
                        help="interpreter of a virtualenv with nautilus_trader==1.221.0")
    args = parser.parse_args()
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # a line per peer as it finishes
    run = SmaCrossRun()
    ok = True
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        print(f"generating {args.symbols} x {args.bars:,} bars and {args.trades:,} trades")
        bars = write(make_bars(args.symbols, args.bars), tmp / "bars.parquet")
        trades = write(make_trades(args.symbols, args.trades), tmp / "trades.parquet")
        vectorbt_sma_cross(write(make_bars(2, 100), tmp / "warm-up.parquet"), run)

        vectorbt = vectorbt_sma_cross(bars, run)
        report(vectorbt, "bars")
        backtrader = None
        if importlib.util.find_spec("backtrader") is None:
            print("backtrader: n/a (not installed: `make install` adds it with the dev tools)")
        else:
            backtrader = backtrader_sma_cross(bars, run)
            ok &= report(backtrader, "bars", vectorbt)

        nautilus_bars = nautilus_trades = None
        if not Path(args.nautilus_python).exists():
            print(f"nautilus: n/a ({args.nautilus_python} not found: `make bench` makes it)")
        else:
            nautilus_bars = nautilus_sma_cross(args.nautilus_python, "bars", bars, run, tmp)
            report(nautilus_bars, "bars")
            nautilus_trades = nautilus_sma_cross(args.nautilus_python, "trades", trades, run,
                                                 tmp)
            report(nautilus_trades, "trades")

        ours_bars = ours_trades = None
        missing = ours_missing()
        if missing:
            print(f"ours: n/a ({missing})")
        else:
            ours_bars = ours_sma_cross(bars, run, "ours bars")
            ok &= report(ours_bars, "bars", vectorbt)
            ours_trades = ours_sma_cross(trades, run, "ours trades")
            report(ours_trades, "trades")

    print(
        f"bt_bars_per_s={rate(ours_bars)} vectorbt_bars_per_s={rate(vectorbt)} "
        f"backtrader_bars_per_s={rate(backtrader)} nautilus_bars_per_s={rate(nautilus_bars)} "
        f"bt_trades_per_s={rate(ours_trades)} nautilus_trades_per_s={rate(nautilus_trades)}"
    )
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
