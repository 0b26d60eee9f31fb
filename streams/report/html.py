"""The report page: one self-contained HTML file, plotly.js and the data inline, so it opens
from disk with no network (mailed, archived, opened on a laptop on a plane).

`backtest_page` is a backtest's report: summary and metrics, equity and drawdown, each
symbol's price with fills and VPIN, returns by period, rolling Sharpe, the fills.
`sweep_page` is a sweep's: a metric over the first two swept parameters, and every run.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from streams.report import figures
from streams.report.data import ReportData, period_returns
from streams.schema import Execution

MAX_FILL_ROWS = 1_000  # the page stays light; every fill is in market.executions.csv
PERFORMANCE_ORDER = ("total_return", "annual_return", "annual_volatility", "sharpe", "sortino",
                     "calmar", "max_drawdown", "var_95", "cvar_95", "hit_rate",
                     "profit_factor", "avg_win", "avg_loss", "fills", "fees", "turnover",
                     "exposure")
_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1200px;color:#222;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid
#ddd;padding-bottom:4px}.meta{color:#555;font-size:13px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.note{color:#666;font-size:13px}
"""


def backtest_page(data: ReportData, run: Mapping[str, object]) -> str:
    """The report of one backtest; `run` is summary.json's strategy, inputs and parameters."""
    accounts = list(data.accounts.values())
    vpin_note = ("no VPIN: the input has no trades" if not data.has_vpin_engine_output else
                 "no VPIN value yet: fewer volume buckets than the window")
    parts = [f"<h1>Backtest: {_e(run.get('strategy'))}</h1>",
             f"<p class='meta'>inputs: {_e(', '.join(map(str, run.get('inputs') or [])))}"
             f" &middot; {_e(run.get('events_in'))} events</p>",
             "<h2>Metrics</h2>", _metrics_table(data), _figure(figures.equity_figure(accounts))]
    parts.append("<h2>Prices, fills and VPIN</h2>")
    if not data.symbols:
        parts.append("<p class='note'>no bars and no fills: nothing to draw per symbol</p>")
    parts += [_figure(figures.symbol_figure(s, d, vpin_note)) for s, d in data.symbols.items()]
    parts.append("<h2>Returns</h2>")
    parts += [_figure(figures.returns_heatmap(a.summary.account, period_returns(a)))
              for a in accounts if len(a.equity)]
    parts += [_figure(figures.rolling_sharpe_figure(accounts)), "<h2>Fills</h2>",
              _fills_table(data.fills)]
    return _page(f"Backtest report: {run.get('strategy')}", parts)


def sweep_page(
    rows: Sequence[Mapping[str, object]], columns: Sequence[str], parameters: Sequence[str],
    metric: str, run: Mapping[str, object],
) -> str:
    """A sweep's report: `metric` over the first two `parameters` (over the one, when one),
    and the table of every run in `columns` (n/a where a run has none)."""
    first = parameters[0]
    xs = _unique(row[first] for row in rows)
    if len(parameters) > 1:
        second = parameters[1]
        ys = _unique(row[second] for row in rows)
        z: list[list[float | None]] = [[None] * len(xs) for _ in ys]
        for row in rows:  # runs of further parameters: the last run of a cell is drawn
            z[ys.index(row[second])][xs.index(row[first])] = _number(row.get(metric))
        chart = figures.sweep_heatmap(metric, (first, second), xs, ys, z)
        note = (f"<p class='note'>{metric} of the last run in each cell; the sweep varies "
                f"{', '.join(parameters[2:])} too: see the table</p>" if len(parameters) > 2
                else "")
    else:
        chart = figures.sweep_line(metric, first, xs, [_number(r.get(metric)) for r in rows])
        note = ""
    table = _table(columns, ([_cell(row.get(c)) for c in columns] for row in rows))
    parts = [f"<h1>Sweep: {_e(run.get('strategy'))}, {len(rows)} runs</h1>",
             f"<p class='meta'>inputs: {_e(', '.join(map(str, run.get('inputs') or [])))}</p>",
             _figure(chart), note, "<h2>Runs</h2>", table]
    return _page(f"Sweep report: {run.get('strategy')}", parts)


def _page(title: str, parts: Iterable[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{_e(title)}</title><style>{_STYLE}</style>"
            f"<script type='text/javascript'>{get_plotlyjs()}</script></head>\n<body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def _figure(fig: go.Figure) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False,
                       config={"displaylogo": False, "responsive": True})


def _metrics_table(data: ReportData) -> str:
    accounts = list(data.accounts.values())
    if not accounts:
        return "<p class='note'>no account traded</p>"
    summary_rows = [
        ("starting cash", [f"{a.summary.starting_cash:,.2f}" for a in accounts]),
        ("final equity", [f"{a.summary.final_equity:,.2f}" for a in accounts]),
        ("max drawdown of the snapshots", [f"{a.summary.max_drawdown:.4%}" for a in accounts]),
    ]
    names = [n for n in PERFORMANCE_ORDER if any(n in (a.performance or {}) for a in accounts)]
    names += sorted({n for a in accounts for n in (a.performance or {})} - set(names))
    rows = [(label, values) for label, values in summary_rows]
    rows += [(name, [_figure_text(name, (a.performance or {}).get(name)) for a in accounts])
             for name in names]
    table = _table(["", *(a.summary.account for a in accounts)],
                   ([label, *values] for label, values in rows))
    if not names:
        table += ("<p class='note'>no performance figures: the run has no final "
                  "`performance` result of the analytics engine</p>")
    return table


def _fills_table(fills: Sequence[Execution]) -> str:
    if not fills:
        return "<p class='note'>no fills</p>"
    shown = fills[:MAX_FILL_ROWS]
    table = _table(
        ["time (UTC)", "account", "symbol", "side", "quantity", "price", "fee", "order"],
        ([_utc(f.ts_event), f.account, f.symbol, f.side, str(f.quantity), format(f.price, "f"),
          format(f.commission, "f"), f.order_id] for f in shown))
    if len(fills) > len(shown):
        table += (f"<p class='note'>the first {len(shown):,} of {len(fills):,} fills; all are "
                  "in market.executions.csv</p>")
    return table


def _table(header: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    head = "".join(f"<th class='l'>{_e(h)}</th>" if i == 0 else f"<th>{_e(h)}</th>"
                   for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f"<td class='l'>{_e(v)}</td>" if i == 0 else
                                    f"<td>{_e(v)}</td>" for i, v in enumerate(row)) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


PERCENT_FIGURES = {"total_return", "annual_return", "annual_volatility", "max_drawdown",
                   "var_95", "cvar_95", "hit_rate", "avg_win", "avg_loss", "exposure"}
MONEY_FIGURES = {"fees", "turnover"}


def _figure_text(name: str, value: float | None) -> str:
    """A performance figure as a reader takes it in: ratios of money in percent, money with
    thousands separators, counts whole, other ratios (Sharpe, ...) to 4 decimals."""
    if value is None:
        return "n/a"
    if name in PERCENT_FIGURES:
        return f"{value:.4%}"
    if name in MONEY_FIGURES:
        return f"{value:,.2f}"
    if name == "fills":
        return f"{value:,.0f}"
    return f"{value:.4f}"


def _cell(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _unique(values: Iterable[object]) -> list[object]:
    return list(dict.fromkeys(values))


def _utc(ts_ns: int) -> str:
    return str(np.datetime64(ts_ns, "ns").astype("datetime64[ms]")).replace("T", " ")


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))
