"""The report's charts as plotly figures, one function per chart, from `ReportData`.

Times are drawn in UTC. A chart with nothing to draw still renders, with a line saying why
(no VPIN without trades, no rolling Sharpe before enough period returns).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from streams.report.data import AccountData, PeriodReturns, Series, SymbolData

BUY, SELL, LINE, VPIN = "#2ca02c", "#d62728", "#1f77b4", "#9467bd"
_LAYOUT = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
           "legend": {"orientation": "h", "y": -0.12}, "hovermode": "x unified"}


def _times(series: Series) -> np.ndarray:
    return series.ts_ns.astype("datetime64[ns]")


def _say(fig: go.Figure, text: str, row: int | None = None) -> None:
    """Write `text` in the middle of an empty plot (or of one row of subplots)."""
    where = ({"xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5} if row is None else
             {"xref": "x domain" if row == 1 else f"x{row} domain",
              "yref": "y domain" if row == 1 else f"y{row} domain", "x": 0.5, "y": 0.5})
    fig.add_annotation(text=text, showarrow=False, font={"size": 14, "color": "#666"}, **where)


def equity_figure(accounts: Sequence[AccountData]) -> go.Figure:
    """Equity of each account over time, and beneath it its drawdown from the running peak."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                        vertical_spacing=0.04)
    for account in accounts:
        name = account.summary.account
        fig.add_trace(go.Scatter(x=_times(account.equity), y=account.equity.values,
                                 name=f"{name} equity", mode="lines"), row=1, col=1)
        drawdown = account.drawdown
        fig.add_trace(go.Scatter(x=_times(drawdown), y=drawdown.values * 100, fill="tozeroy",
                                 name=f"{name} drawdown %", mode="lines",
                                 line={"color": SELL}), row=2, col=1)
    if not any(len(a.equity) for a in accounts):
        _say(fig, "no portfolio snapshots: no account traded", row=1)
    fig.update_xaxes(type="date")
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="drawdown %", row=2, col=1)
    fig.update_layout(title="Equity and drawdown", height=420, **_LAYOUT)
    return fig


def symbol_figure(symbol: str, data: SymbolData, vpin_note: str) -> go.Figure:
    """Bar closes with our buys and sells marked at their fill prices; VPIN beneath."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                        vertical_spacing=0.04)
    fig.add_trace(go.Scatter(x=_times(data.closes), y=data.closes.values, name="close",
                             mode="lines", line={"color": LINE, "width": 1}), row=1, col=1)
    for series, name, color, marker in ((data.buys, "buy", BUY, "triangle-up"),
                                        (data.sells, "sell", SELL, "triangle-down")):
        fig.add_trace(go.Scatter(x=_times(series), y=series.values, name=name, mode="markers",
                                 marker={"color": color, "symbol": marker, "size": 9}),
                      row=1, col=1)
    if data.vpin is not None:
        fig.add_trace(go.Scatter(x=_times(data.vpin), y=data.vpin.values, name="VPIN",
                                 mode="lines", line={"color": VPIN}), row=2, col=1)
    else:  # an empty row would unsettle the shared time axis: a trace of no values holds it
        fig.add_trace(go.Scatter(x=_times(data.closes), y=np.full(len(data.closes), np.nan),
                                 mode="lines", showlegend=False, hoverinfo="skip"),
                      row=2, col=1)
        _say(fig, vpin_note, row=2)
    fig.update_yaxes(range=[0, 1], row=2, col=1)
    fig.update_yaxes(title_text="price", row=1, col=1)
    fig.update_yaxes(title_text="VPIN", row=2, col=1)
    fig.update_layout(title=f"{symbol}: close, fills and VPIN", height=380, **_LAYOUT)
    return fig


def returns_heatmap(account: str, returns: PeriodReturns) -> go.Figure:
    """Each calendar period's return in percent: months by year, or days by month."""
    z = [[returns.cells.get((row, column), np.nan) * 100 for column in returns.columns]
         for row in returns.rows]
    text = [["" if np.isnan(v) else f"{v:+.2f}%" for v in line] for line in z]
    fig = go.Figure(go.Heatmap(
        z=z, x=returns.columns, y=returns.rows, text=text, texttemplate="%{text}",
        colorscale="RdYlGn", zmid=0, colorbar={"title": "%"}, hoverongaps=False,
        xgap=2, ygap=2))
    across = "month" if returns.by == "month" else "day of month"
    fig.update_xaxes(title_text=across, type="category")
    fig.update_yaxes(title_text="year" if returns.by == "month" else "month",
                     type="category", autorange="reversed")
    fig.update_layout(title=f"{account}: returns by {returns.by} (UTC)",
                      height=160 + 40 * max(1, len(returns.rows)),
                      **{**_LAYOUT, "hovermode": "closest"})
    return fig


def rolling_sharpe_figure(accounts: Sequence[AccountData]) -> go.Figure:
    """The analytics engine's rolling Sharpe ratio of each account, at each period end."""
    fig = go.Figure()
    for account in accounts:
        fig.add_trace(go.Scatter(x=_times(account.rolling_sharpe),
                                 y=account.rolling_sharpe.values, mode="lines+markers",
                                 name=f"{account.summary.account} rolling Sharpe"))
    if not any(len(a.rolling_sharpe) for a in accounts):
        _say(fig, "no rolling Sharpe: the run has fewer period returns than the window "
             "(analytics.rolling_periods), or no analytics results")
        fig.update_xaxes(showticklabels=False)
        fig.update_yaxes(showticklabels=False)
    fig.update_yaxes(title_text="Sharpe (annualized)")
    fig.update_layout(title="Rolling Sharpe", height=300, **_LAYOUT)
    return fig


def sweep_heatmap(metric: str, names: tuple[str, str], x: list[object], y: list[object],
                  z: list[list[float | None]]) -> go.Figure:
    """`metric` of each run of a sweep over its first two parameters (x: the first)."""
    values = [[np.nan if v is None else v for v in row] for row in z]
    text = [["" if np.isnan(v) else f"{v:.4g}" for v in row] for row in values]
    fig = go.Figure(go.Heatmap(
        z=values, x=[str(v) for v in x], y=[str(v) for v in y], text=text,
        texttemplate="%{text}", colorscale="Viridis", colorbar={"title": metric},
        hoverongaps=False, xgap=2, ygap=2))
    fig.update_xaxes(title_text=names[0], type="category")
    fig.update_yaxes(title_text=names[1], type="category")
    fig.update_layout(title=f"{metric} by {names[0]} and {names[1]}", height=460,
                      **{**_LAYOUT, "hovermode": "closest"})
    return fig


def sweep_line(metric: str, name: str, x: list[object], y: list[float | None]) -> go.Figure:
    """`metric` of each run of a sweep over one parameter."""
    fig = go.Figure(go.Bar(x=[str(v) for v in x], y=[np.nan if v is None else v for v in y],
                           name=metric))
    fig.update_xaxes(title_text=name, type="category")
    fig.update_yaxes(title_text=metric)
    fig.update_layout(title=f"{metric} by {name}", height=400, **_LAYOUT)
    return fig
