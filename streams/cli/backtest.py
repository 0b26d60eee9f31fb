"""`nautilus-streams backtest`: a strategy through the whole graph, in-process, replayed."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from streams.catalog import Catalog
from streams.cli.market_files import FORMATS_HELP, add_file_options, file_options
from streams.cli.replay import (
    add_params_option,
    add_sources,
    checked_topics,
    engine_parameters,
    ns_range,
    params_live,
)
from streams.endpoints import reachable_kafka_brokers
from streams.exceptions import ConfigError
from streams.settings import get_settings, with_engines

if TYPE_CHECKING:
    from streams.backtest_run import BacktestSpec
    from streams.sweep import Axis

# What --metric can draw: a column of every sweep table (the summary's figures, and the
# analytics engine's final `performance` figures).
SWEEP_METRICS = ("sharpe", "sortino", "calmar", "total_return", "annual_return",
                 "annual_volatility", "max_drawdown", "var_95", "cvar_95", "hit_rate",
                 "profit_factor", "avg_win", "avg_loss", "exposure", "final_equity", "fills",
                 "fees", "turnover", "snapshot_max_drawdown")

DESCRIPTION = (
    "Run a strategy through the whole engine graph in-process, in event time, with a test\n"
    "clock: bars, vpin and microstructure (when the input has trades or depth), features,\n"
    "the strategy, pre-trade risk, paper execution, the portfolio, margin (logic.margin,\n"
    "margin-call alerts) and analytics (logic.analytics: empyrical's figures of the\n"
    "period returns). Every output topic is written to OUT as in `replay`\n"
    "(<topic>.parquet and <topic>.csv), with OUT/summary.json: per account the starting\n"
    "cash, final equity, total return, fills, fees, turnover, max drawdown and\n"
    "`performance` (Sharpe, Sortino, Calmar, max drawdown, VaR, ... over periods of\n"
    "analytics.period_seconds, default one UTC day). The same input gives the same files,\n"
    "byte for byte.\n\n"
    "--strategy takes a built-in name or module:Class of your own (a subclass of\n"
    "processors.strategies.Strategy importable from the current directory or the\n"
    "environment); --set NAME.PARAM=VALUE sets its parameters, and pretrade.*,\n"
    "execution.*, portfolio.*, margin.* and analytics.* those of pre-trade risk (limits are\n"
    "off unless set), the paper venue, the accounting, the margin and the analytics.\n\n"
    "--report adds OUT/report.html, a page with every chart and table that opens offline.\n"
    "--sweep NAME.PARAM=V1,V2,... (repeatable) runs the grid of values, --jobs at a time in\n"
    "worker processes, into OUT/sweep.parquet and OUT/sweep.csv (one row per run, in grid\n"
    "order, the same with any --jobs) and OUT/runs/<n>/. On a terminal a progress bar shows\n"
    "the replay's stages (events done of each stage's input) or the sweep's runs done;\n"
    "stderr that is not a terminal gets no bar.\n\n"
    + FORMATS_HELP
)
EXAMPLES = (
    "examples:\n"
    "  nautilus-streams backtest -i bars.parquet --strategy sma_cross --out bt/\n"
    "  nautilus-streams backtest -i bars.csv --strategy sma_cross --set sma_cross.fast=5 "
    "--set execution.fee_bps=1 --out bt/\n"
    "  nautilus-streams backtest -i trades.csv --strategy mypkg.strat:MyStrategy --out bt/\n"
    "  nautilus-streams backtest --topic market.trades --from 2024-01-02T14:30:00Z "
    "--strategy vpin_guard --out bt/\n"
    "  nautilus-streams backtest -i bars.csv --strategy sma_cross --report --out bt/\n"
    "  nautilus-streams backtest -i bars.csv --strategy sma_cross --sweep sma_cross.fast=5,10,20 "
    "--sweep sma_cross.slow=30,50,100 --jobs 3 --report --out sweep/"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backtest", help="run a strategy through the whole graph over files or topic ranges",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=DESCRIPTION,
        epilog=EXAMPLES,
    )
    add_sources(p)
    p.add_argument("--strategy", required=True, metavar="NAME|module:Class",
                   help="a built-in strategy (sma_cross, ml_signal, vpin_guard) or "
                   "module:Class of your own. Example: --strategy sma_cross")
    p.add_argument("--out", type=Path, required=True,
                   help="directory for the output files and summary.json. Example: --out bt")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="NAME.PARAM=VALUE",
        help="set a parameter of the strategy, pretrade, execution, portfolio or another engine "
        "(repeatable). Example: --set sma_cross.fast=10")
    p.add_argument("--report", action="store_true",
                   help="also write OUT/report.html: one self-contained page (opens offline) "
                   "with equity and drawdown, each symbol's closes with the fills and VPIN, "
                   "returns by month or day, rolling Sharpe, the metrics and the fills; with "
                   "--sweep, a heatmap of --metric over the first two swept parameters and "
                   "the table of runs")
    p.add_argument(
        "--sweep", dest="sweeps", action="append", default=[],
        metavar="NAME.PARAM=V1,V2,...",
        help="run the backtest once per combination of the values (repeatable: the cartesian "
        "grid, the first option slowest); writes OUT/sweep.parquet and OUT/sweep.csv (one "
        "row per run: run number, the parameters, then the metrics) and each run's outputs "
        "and summary.json under OUT/runs/<n>/. Example: --sweep sma_cross.fast=5,10,20 "
        "--sweep sma_cross.slow=30,50,100")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="with --sweep: runs at a time, each in its own process (default 1; at "
                   "most the CPUs). The table is the same with any N. Example: --jobs 4")
    p.add_argument("--metric", default="sharpe", choices=SWEEP_METRICS, metavar="NAME",
                   help="with --sweep --report: the figure the heatmap shows (default sharpe; "
                   f"one of {', '.join(SWEEP_METRICS)})")
    add_params_option(p)
    add_file_options(p)
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from streams.backtest import summary_lines
    from streams.backtest_run import BacktestSpec, run_backtest, spec_engines, write_run
    from streams.feeds.progress import Progress
    from streams.progress_bars import StageBar
    from streams.sweep import Axis

    settings = get_settings()
    catalog = Catalog.load(settings.topics_file)
    if not args.topics and (args.from_ts or args.to_ts):
        raise ConfigError("--from/--to go with --topic")
    axes = [Axis.parse(text) for text in args.sweeps]
    spec = BacktestSpec(
        strategy=args.strategy, overrides=tuple(args.overrides),
        inputs=tuple(args.input or ()), file_options=file_options(args), strict=args.strict,
        topics=tuple(args.topics or ()), span=ns_range(args.from_ts, args.to_ts))
    engines = spec_engines(spec)
    live = params_live(args)
    if spec.topics:
        checked_topics(list(spec.topics), engines, catalog)
    if spec.topics or live:
        spec = replace(spec, brokers=reachable_kafka_brokers(settings))
    params = engine_parameters(args, engines, with_engines(settings.engine_params(), engines),
                               spec.brokers if live else None)
    spec = replace(spec, params_json=params.model_dump_json())  # a sweep's runs start from them
    engines = spec_engines(spec)  # the served model (--params live) may need other inputs
    if axes:
        return _sweep(args, spec, axes)
    started = time.perf_counter()
    # the reading line too only on a terminal: a log gets the bad rows' summary, no progress
    reading = Progress() if spec.inputs and sys.stderr.isatty() else None
    try:
        with StageBar() as stages:
            run = run_backtest(spec, engines, params, reading=reading, stages=stages)
    finally:
        if reading is not None:
            reading.close()
    for line in run.bad_rows:
        print(line, file=sys.stderr)
    run_s = time.perf_counter() - started
    write_run(run, engines, args.out, report=args.report)
    events_in = run.result.events_in
    rate = events_in / run_s if run_s > 0 else float("inf")
    report = ", report.html" if args.report else ""
    print(f"{events_in:,} events in {run_s:.2f} s ({rate:,.0f} events/s); outputs, "
          f"summary.json{report} in {args.out}", file=sys.stderr)
    for line in summary_lines(run.summaries):
        print(line)
    return 0


def _sweep(args: argparse.Namespace, spec: BacktestSpec, axes: list[Axis]) -> int:
    from streams.progress_bars import runs_bar
    from streams.report import sweep_page, write_page
    from streams.sweep import job_count, run_sweep, sweep_grid, table_columns, write_table

    points = sweep_grid(axes, spec)
    jobs = job_count(args.jobs, len(points))
    print(f"sweep: {len(points)} runs of {' x '.join(a.name for a in axes)}, {jobs} at a time; "
          f"each run's outputs in {args.out / 'runs'}/<n>", file=sys.stderr)
    started = time.perf_counter()
    with runs_bar(len(points)) as bar:
        rows = run_sweep(spec, axes, points, jobs, args.out, on_done=bar.update)
    parquet, csv = write_table(rows, args.out)
    if args.report:
        columns = table_columns(rows)
        if args.metric not in columns:
            raise ConfigError(f"--metric {args.metric}: the runs have no such column; they "
                              f"have {', '.join(c for c in columns if c != 'run')}")
        write_page(sweep_page(rows, columns, [a.name for a in axes], args.metric,
                              {"strategy": spec.strategy, "inputs": spec.source_names}),
                   args.out)
    print(f"{len(points)} runs in {time.perf_counter() - started:.2f} s; table in {parquet}, "
          f"{csv.name}{', report.html' if args.report else ''}", file=sys.stderr)
    for row in rows:
        print(_sweep_line(row, [a.name for a in axes]))
    return 0


def _sweep_line(row: dict[str, object], parameters: list[str]) -> str:
    """`run 3: sma_cross.fast=10 sma_cross.slow=30: equity 998,470.00 (-0.1530%), 12 fills,
    sharpe -0.2591, max drawdown -0.8346%` (the table has every figure)."""
    def figure(name: str, spec: str) -> str:
        value = row.get(name)
        return format(value, spec) if isinstance(value, int | float) else "n/a"

    point = " ".join(f"{name}={row[name]}" for name in parameters)
    return (f"run {row['run']}: {point}: equity {figure('final_equity', ',.2f')} "
            f"({figure('total_return', '+.4%')}), {row['fills']} fills, sharpe "
            f"{figure('sharpe', '.4f')}, max drawdown {figure('max_drawdown', '.4%')}")
