"""`nautilus-streams factors model`: the daily cross-sectional factor model over daily closes
(bar files, the database's bars_1d or a vendor's adjusted daily prices) and a reference-data
file (processors/factor_model), written to files and, with --publish, to logic.factor.returns
and logic.factor.exposures (streams/factor_publish.py)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import textwrap
import time
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from processors.factor_model import DailyCloses, FactorModelParams, FactorModelResult, estimate
from processors.factor_model.params import DEFAULT_MODEL_NAME
from streams.endpoints import database_url, reachable_kafka_brokers
from streams.exceptions import ConfigError
from streams.factor_publish import EXPOSURES_TOPIC, RETURNS_TOPIC, publish
from streams.feeds.daily_bars import (
    adjusted_daily_closes,
    database_daily_closes,
    read_daily_closes,
)
from streams.feeds.reference import read_reference
from streams.feeds.sources.parsing import day_end_ns
from streams.settings import get_settings

OUTPUTS = {
    "factor_returns.csv": "date, then one column per factor: market, the sectors (by name), "
                          "momentum, size, value (when the reference has value descriptors)",
    "exposures.csv": "date, symbol, sector, market_cap, then the style exposures, per symbol "
                     "of each day's regression",
    "residuals.csv": "date, symbol, residual: the symbol's return the factors do not "
                     "explain; specific_variance: the EWMA of its squared residuals up to the "
                     "day (half-life covariance_half_life)",
    "factor_covariance.csv": "factor, then one column per factor: the EWMA covariance of the "
                             "daily factor returns as of the last day",
    "model.json": "the parameters, factors, days fitted and symbols left out",
}
DESCRIPTION = """\
Fit toraniko's daily style factor model: exposures to the market, each sector and the
styles momentum, size and value; factor returns per day by weighted least squares
(weights sqrt(market cap), sector returns summing to zero, styles fitted on what the
market and sectors leave); residual returns per symbol; and an EWMA covariance of the
factor returns. Definitions: README "Factor model".

Bar files: CSV (.csv, .csv.gz) or Parquet with symbol, close and date (YYYY-MM-DD) or
ts_event [, start_ns] (1-minute bar files as `feed file` reads them): each symbol's day
closes at its last bar of the UTC day. --from-database reads the same closes from the
database's bars_1d instead. --from-prices SOURCE reads the vendor's daily prices
(market.prices.1d, the database's daily_prices; a day's newest row), each close adjusted
for the dividends and splits after its day as CRSP does; a symbol whose series lacks them
is an error; --as-of keeps what was known by the end of a day. Reference file: CSV with
symbol, sector, market_cap [, book_to_price, sales_to_price, cash_flow_to_price]; bar
symbols without a row are left out (model.json lists them).

Writes to --out:
""" + "".join(textwrap.fill(what, 88, initial_indent=f"  {name:<22} ",
                           subsequent_indent=" " * 25) + "\n" for name, what in OUTPUTS.items())
EXAMPLES = """\
examples:
  nautilus-streams factors model --bars daily/ --reference reference.csv --out fm
  nautilus-streams factors model --bars bars_1m.csv.gz --reference ref.csv --out fm \\
      --set momentum_days=252 --set covariance_half_life=60
  nautilus-streams factors model --bars daily/ --reference reference.csv --out fm --publish
  nautilus-streams factors model --from-database --reference reference.csv --out fm
  nautilus-streams factors model --from-prices alphavantage --reference reference.csv --out fm
  nautilus-streams factors model --from-prices alphavantage --as-of 2024-06-28 \\
      --reference reference.csv --out fm
"""


def register(sub: argparse._SubParsersAction) -> None:
    factors = sub.add_parser("factors", help="factor models over daily bars",
                             description="Factor models over daily bars.")
    commands = factors.add_subparsers(dest="factors_command", metavar="SUBCOMMAND",
                                      required=True)
    model = commands.add_parser(
        "model", help="fit the daily cross-sectional style factor model (toraniko) to files",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=DESCRIPTION,
        epilog=EXAMPLES)
    source = model.add_mutually_exclusive_group(required=True)
    source.add_argument("--bars", type=Path, action="append", metavar="FILE_OR_DIR",
                        help="a bar file, or a directory of them (repeatable). "
                        "Example: --bars daily/")
    source.add_argument("--from-database", action="store_true",
                        help="read the daily closes of the reference symbols from the "
                        "database's bars_1d (the 1-day rollup of the stored 1-minute bars) "
                        "instead: DATABASE_URL, else the database of a running `up`")
    source.add_argument("--from-prices", metavar="SOURCE",
                        help="read the reference symbols' daily closes of this vendor from the "
                        "database's daily_prices (market.prices.1d; the newest row of a day), "
                        "adjusted for later dividends and splits; a symbol without them (an "
                        "unadjusted series) is an error. DATABASE_URL, else the database of a "
                        "running `up`. Example: --from-prices alphavantage")
    model.add_argument("--as-of", type=_day, metavar="YYYY-MM-DD",
                       help="with --from-prices: only what was known by the end of that day "
                       "(UTC): its days, corrections and corporate actions, so the fit is the "
                       "one that could have been made then. Example: --as-of 2024-06-28")
    model.add_argument("--reference", type=Path, required=True, metavar="FILE",
                       help="the reference-data CSV. Example: --reference reference.csv")
    model.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="directory for the output files. Example: --out fm")
    model.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="PARAM=VALUE",
        help="a model parameter (repeatable): " + ", ".join(
            f"{name} (default {field.default})"
            for name, field in FactorModelParams.model_fields.items())
        + ". Example: --set momentum_days=252")
    model.add_argument(
        "--publish", action="store_true",
        help="also publish the fit: one FactorReturns per day (with the EWMA covariance as of "
        f"the day) to {RETURNS_TOPIC}, one FactorExposure per symbol and day (styles and "
        f"residual) to {EXPOSURES_TOPIC}; the sink stores them (tables factor_returns, "
        "factor_exposures) and the API serves them. A day that has not ended yet (UTC) is held "
        "back. Uses KAFKA_BROKERS, else the broker of a running `up`")
    model.add_argument("--name", default=DEFAULT_MODEL_NAME, type=_name,
                       help="the model's name in published records (default: "
                       f"{DEFAULT_MODEL_NAME}). Example: --name us_style")
    model.set_defaults(handler=_model)


def _model(args: argparse.Namespace) -> int:
    if args.as_of is not None and args.from_prices is None:
        raise ConfigError("--as-of applies to --from-prices only (bar files and bars_1d carry "
                          "no time of knowledge)")
    params = _params(args.overrides)
    brokers = reachable_kafka_brokers(get_settings()) if args.publish else None
    reference = read_reference(args.reference)
    result = estimate(_closes(args, list(reference.index)), reference, params)
    write_outputs(result, params, args.out)
    days = result.factor_returns.index.to_numpy().astype("datetime64[D]")
    span = f"{days[0]} to {days[-1]}" if len(days) else "none: too little history"
    print(f"factor model: {len(result.factors)} factors, {len(days)} days fitted ({span}), "
          f"bar symbols without reference data: {len(result.dropped_symbols)}; "
          f"wrote {', '.join(OUTPUTS)} to {args.out}")
    if brokers is not None:
        sent = publish(brokers, result, args.name, params.covariance_half_life,
                       ended_by_ns=time.time_ns())
        held = (f"; held back {sent.held_back_days} day(s) not over yet (UTC)"
                if sent.held_back_days else "")
        print(f"published {sent.returns} records to {RETURNS_TOPIC} and {sent.exposures} to "
              f"{EXPOSURES_TOPIC} (model {args.name}){held}")
    return 0


def _closes(args: argparse.Namespace, symbols: list[str]) -> DailyCloses:
    """The daily closes of the source the arguments name."""
    if args.bars:
        return read_daily_closes(args.bars)
    if args.from_prices is not None:
        known_by = None if args.as_of is None else day_end_ns(args.as_of)
        return adjusted_daily_closes(database_url(get_settings()), args.from_prices, symbols,
                                     known_by=known_by)
    return database_daily_closes(database_url(get_settings()), symbols)


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def write_outputs(result: FactorModelResult, params: FactorModelParams, out: Path) -> None:
    """The files of OUTPUTS under `out` (floats as Python writes them: they read back
    exactly)."""
    out.mkdir(parents=True, exist_ok=True)
    iso = {"date": lambda frame: pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d")}
    result.factor_returns.reset_index().assign(**iso).to_csv(
        out / "factor_returns.csv", index=False)
    result.exposures.assign(**iso).to_csv(out / "exposures.csv", index=False)
    result.residuals.assign(**iso).to_csv(out / "residuals.csv", index=False)
    result.covariance.to_csv(out / "factor_covariance.csv")
    days = [str(d) for d in result.factor_returns.index.to_numpy().astype("datetime64[D]")]
    (out / "model.json").write_text(json.dumps({
        "params": params.model_dump(),
        "factors": list(result.factors),
        "days_fitted": len(days),
        "first_day": days[0] if days else None,
        "last_day": days[-1] if days else None,
        "covariance_as_of": days[-1] if days else None,
        "symbols_without_reference": list(result.dropped_symbols),
    }, indent=2) + "\n")


def _name(text: str) -> str:
    if not 1 <= len(text) <= 64:
        raise argparse.ArgumentTypeError("a model name has 1 to 64 characters")
    return text


def _params(overrides: list[str]) -> FactorModelParams:
    values: dict[str, str] = {}
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in FactorModelParams.model_fields:
            known = ", ".join(FactorModelParams.model_fields)
            raise ConfigError(f"--set {item!r}: expected PARAM=VALUE with PARAM one of {known}")
        values[name.strip()] = value.strip()
    try:
        return FactorModelParams(**values)
    except ValidationError as exc:
        problems = "; ".join(
            ": ".join([*map(str, e["loc"]), e["msg"].removeprefix("Value error, ")])
            for e in exc.errors())
        raise ConfigError(f"--set: {problems}") from None
