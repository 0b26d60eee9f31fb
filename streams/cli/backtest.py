"""`nautilus-streams backtest`: a strategy through the whole graph, in-process, replayed."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson

from streams.catalog import Catalog
from streams.cli.market_files import FORMATS_HELP, add_file_options
from streams.cli.replay import (
    add_sources,
    checked_topics,
    engine_parameters,
    ns_range,
    replay_files,
    replay_topics,
)
from streams.endpoints import reachable_kafka_brokers
from streams.exceptions import ConfigError
from streams.settings import get_settings, with_engines

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
    + FORMATS_HELP
)
EXAMPLES = (
    "examples:\n"
    "  nautilus-streams backtest -i bars.parquet --strategy sma_cross --out bt/\n"
    "  nautilus-streams backtest -i bars.csv --strategy sma_cross --set sma_cross.fast=5 "
    "--set execution.fee_bps=1 --out bt/\n"
    "  nautilus-streams backtest -i trades.csv --strategy mypkg.strat:MyStrategy --out bt/\n"
    "  nautilus-streams backtest --topic market.trades --from 2024-01-02T14:30:00Z "
    "--strategy vpin_guard --out bt/"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backtest", help="run a strategy through the whole graph over files or topic ranges",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=DESCRIPTION,
        epilog=EXAMPLES,
    )
    add_sources(p)
    p.add_argument("--strategy", required=True, metavar="NAME|module:Class",
                   help="a built-in strategy (sma_cross, vpin_guard) or module:Class of your "
                   "own. Example: --strategy sma_cross")
    p.add_argument("--out", type=Path, required=True,
                   help="directory for the output files and summary.json. Example: --out bt")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="NAME.PARAM=VALUE",
        help="set a parameter of the strategy, pretrade, execution, portfolio or another engine "
        "(repeatable). Example: --set sma_cross.fast=10")
    add_file_options(p)
    p.set_defaults(handler=_run, params="defaults")


def _run(args: argparse.Namespace) -> int:
    from processors.strategies import load as load_strategy
    from streams.backtest import backtest_engines, summarize, summary_document, summary_lines
    from streams.outputs import output_models, write_outputs

    settings = get_settings()
    catalog = Catalog.load(settings.topics_file)
    if not args.topics and (args.from_ts or args.to_ts):
        raise ConfigError("--from/--to go with --topic")
    span = ns_range(args.from_ts, args.to_ts)
    strategy = load_strategy(args.strategy)
    engines = backtest_engines(strategy)
    topics = checked_topics(args.topics, engines, catalog) if args.topics else []
    params = engine_parameters(args, engines, with_engines(settings.engine_params(), engines),
                               None)
    started = time.perf_counter()
    if topics:
        result = replay_topics(topics, span, engines, params, catalog,
                               reachable_kafka_brokers(settings))
    else:
        result = replay_files(args, engines, params)
    run_s = time.perf_counter() - started
    write_outputs(result.outputs, output_models(engines, catalog), args.out)
    summaries = summarize(result.outputs, params.portfolio.cash,
                          (getattr(params, strategy.name).account,))
    document = summary_document(summaries, {
        "strategy": args.strategy,
        "inputs": [str(p) for p in args.input] if args.input else topics,
        "parameters": {e.name: getattr(params, e.name).model_dump(mode="json")
                       for e in engines},
        "events_in": result.events_in,
    })
    (args.out / "summary.json").write_bytes(
        orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    rate = result.events_in / run_s if run_s > 0 else float("inf")
    print(f"{result.events_in:,} events in {run_s:.2f} s ({rate:,.0f} events/s); outputs "
          f"and summary.json in {args.out}", file=sys.stderr)
    for line in summary_lines(summaries):
        print(line)
    return 0
