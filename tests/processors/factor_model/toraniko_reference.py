"""toraniko 1.1.1's factor model on a bar file and a reference file: run by the virtualenv of
its own (.venv-toraniko: numpy 1.26, polars), never imported by the tests.

    python toraniko_reference.py BARS.csv REFERENCE.csv OUT_DIR

BARS.csv: date, symbol, close (daily bars); REFERENCE.csv: symbol, sector, market_cap,
book_to_price, sales_to_price, cash_flow_to_price. Writes OUT_DIR/factor_returns.csv (date,
market, the sectors, momentum, size, value) and OUT_DIR/residuals.csv (date, symbol,
residual), as `factors model` writes them. Daily returns, the inputs' shapes and the
outputs' names are ours; every definition is toraniko's (styles.factor_mom, factor_sze,
factor_val, model.estimate_factor_returns), called with their defaults.
"""

import sys
from pathlib import Path

import polars as pl
from toraniko.model import estimate_factor_returns
from toraniko.styles import factor_mom, factor_sze, factor_val

STYLE_NAMES = {"mom_score": "momentum", "sze_score": "size", "val_score": "value"}


def main(bars_path: str, reference_path: str, out: str) -> None:
    bars = pl.read_csv(bars_path, schema_overrides={"symbol": pl.String}).with_columns(
        pl.col("date").str.to_date())
    reference = pl.read_csv(reference_path, schema_overrides={"symbol": pl.String})
    returns = (bars.sort("symbol", "date")
               .with_columns((pl.col("close") / pl.col("close").shift(1) - 1)
                             .over("symbol").alias("asset_returns"))
               .select("date", "symbol", "asset_returns"))
    rows = returns.join(reference, on="symbol")
    mkt_cap = rows.select("date", "symbol", "market_cap")
    sectors = rows.select("date", "symbol", "sector").to_dummies("sector", separator="=")
    sectors = sectors.rename({c: c.split("=", 1)[1] for c in sectors.columns if "=" in c})
    value = rows.select("date", "symbol", book_price="book_to_price",
                        sales_price="sales_to_price", cf_price="cash_flow_to_price")
    styles = (factor_mom(returns).collect()
              .join(factor_sze(mkt_cap).collect(), on=["date", "symbol"])
              .join(factor_val(value).collect(), on=["date", "symbol"])
              .drop_nulls().filter(pl.all_horizontal(pl.exclude("date", "symbol").is_not_nan())))
    fitted = returns.drop_nulls().join(styles.select("date", "symbol"), on=["date", "symbol"])
    factor_returns, residuals = estimate_factor_returns(fitted, mkt_cap, sectors, styles)
    Path(out).mkdir(parents=True, exist_ok=True)
    (factor_returns.rename(STYLE_NAMES).sort("date")
     .select("date", pl.exclude("date")).write_csv(f"{out}/factor_returns.csv"))
    (residuals.unpivot(index="date", variable_name="symbol", value_name="residual")
     .drop_nulls().sort("date", "symbol").write_csv(f"{out}/residuals.csv"))


if __name__ == "__main__":
    main(*sys.argv[1:])
