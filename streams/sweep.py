"""Parameter sweeps: the same backtest over the cartesian grid of `--sweep` values, runs in
parallel worker processes, one table row per run in grid order.

Grid order is the order of the `--sweep` options, the first slowest, each option's values as
given: `--sweep a.x=1,2 --sweep a.y=3,4` runs (1,3) (1,4) (2,3) (2,4) as runs 0 to 3. Each run
is a whole backtest in its worker (spawned, so nothing of the parent's state leaks in), with
the base `--set` values and its grid point; results go back by run number, so the table is
the same with any number of jobs. Each run's outputs and summary.json are written to
`OUT/runs/<n>/`, so the best run can be read without running it again.

A row: `run` (n), each swept parameter as the engine took it, then the strategy account's
`account`, `final_equity`, `total_return`, `snapshot_max_drawdown` (summary.json's
`max_drawdown`: over every portfolio snapshot, positive), `fills`, `fees`, `turnover`,
`periods` (period returns the analytics cover), and the analytics engine's final
`performance` figures (sharpe, sortino, calmar, max_drawdown over period equities and
negative as empyrical states it, var_95, ...; null where undefined). Money is float64 here:
the table compares runs; summary.json keeps it exact.
"""

from __future__ import annotations

import csv
import itertools
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from streams.backtest_run import BacktestSpec, run_backtest, spec_engines, spec_params, write_run
from streams.exceptions import ConfigError
from streams.params import parse_override

Row = dict[str, object]


@dataclass(frozen=True, slots=True)
class Axis:
    """One swept parameter (`engine.param`) and its values, as text, in the order given."""

    name: str
    values: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Axis:
        """`ENGINE.PARAM=V1,V2,...`; a ConfigError that names the option otherwise."""
        name, sep, values = text.partition("=")
        name = name.strip()
        if not sep or "." not in name or not all(name.split(".")):
            raise ConfigError(f"--sweep {text}: expected ENGINE.PARAM=V1,V2,... "
                              "(example: --sweep sma_cross.fast=5,10,20)")
        items = tuple(v.strip() for v in values.split(","))
        if not values.strip() or any(not v for v in items):
            raise ConfigError(f"--sweep {text}: an empty value; give values separated by "
                              "commas (example: --sweep sma_cross.fast=5,10,20)")
        repeated = sorted({v for v in items if items.count(v) > 1})
        if repeated:
            raise ConfigError(f"--sweep {text}: {', '.join(repeated)} given twice")
        return cls(name, items)


def sweep_grid(
    axes: Sequence[Axis], base: BacktestSpec
) -> list[tuple[str, ...]]:
    """Every grid point as --set overrides, in grid order, each checked against the
    parameter models before anything runs (a bad value is a ConfigError naming it)."""
    names = [a.name for a in axes]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"--sweep {', '.join(repeated)} given twice")
    fixed = {".".join(parse_override(o)[0]) for o in base.overrides}
    both = sorted(set(names) & fixed)
    if both:
        raise ConfigError(f"--sweep {', '.join(both)} is also --set: give it one way")
    engines = spec_engines(base)
    points = [tuple(f"{a.name}={v}" for a, v in zip(axes, values, strict=True))
              for values in itertools.product(*(a.values for a in axes))]
    for point in points:  # whole points: values valid alone may clash (fast >= slow, say)
        try:
            spec_params(base.with_overrides(point), engines)
        except ConfigError as exc:
            raise ConfigError(f"--sweep {' '.join(point)}: {_reason(exc)}") from None
    return points


def _reason(exc: ConfigError) -> str:
    text = str(exc)
    return text.split(": ", 1)[1] if text.startswith("--set") else text


def job_count(jobs: int, runs: int) -> int:
    """Worker processes for `runs` runs: at most the CPUs and the runs, at least one."""
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: give 1 or more")
    return max(1, min(jobs, os.cpu_count() or 1, runs))


def run_sweep(
    base: BacktestSpec, axes: Sequence[Axis], points: Sequence[tuple[str, ...]], jobs: int,
    out: Path, on_done: Callable[[], None] | None = None,
) -> list[Row]:
    """Run every grid point (`jobs` at a time), writing each run to out/runs/<n>/; the table's
    rows in grid order."""
    rows: list[Row | None] = [None] * len(points)
    runs_dir = out / "runs"
    if jobs == 1:
        for n, point in enumerate(points):
            rows[n] = sweep_run(base, axes, point, n, runs_dir)
            if on_done:
                on_done()
        return [r for r in rows if r is not None]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures: dict[Future[Row], int] = {
            pool.submit(sweep_run, base, axes, point, n, runs_dir): n
            for n, point in enumerate(points)}
        try:
            for future in as_completed(futures):
                rows[futures[future]] = future.result()
                if on_done:
                    on_done()
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
    return [r for r in rows if r is not None]


def sweep_run(base: BacktestSpec, axes: Sequence[Axis], point: tuple[str, ...], n: int,
              runs_dir: Path) -> Row:
    """Run `n` of the grid, in this process: its outputs to runs_dir/<n>/, its table row
    (the parameters as the engines took them, then the metrics)."""
    spec = base.with_overrides(point)
    engines = spec_engines(spec)
    params = spec_params(spec, engines)
    run = run_backtest(spec, engines, params)
    write_run(run, engines, runs_dir / str(n), report=False)
    row: Row = {"run": n}
    for axis in axes:
        engine, *path = axis.name.split(".")
        value = getattr(params, engine).model_dump(mode="json")
        for part in path:
            value = value[part]
        row[axis.name] = value
    summary = next(s for s in run.summaries if s.account == run.account)
    row.update({"account": summary.account, "final_equity": float(summary.final_equity),
                "total_return": summary.total_return,
                "snapshot_max_drawdown": summary.max_drawdown, "fills": summary.fills,
                "fees": float(summary.fees), "turnover": float(summary.turnover),
                "periods": summary.performance_periods})
    for name, value in (summary.performance or {}).items():
        row.setdefault(name, value)  # fills, fees, turnover, total_return: the same figures
    return row


def table_columns(rows: Sequence[Row]) -> list[str]:
    """The sweep table's columns: every run's, in first-seen order (a run without fills has
    no performance figures, so no row alone need have them all)."""
    return list(dict.fromkeys(c for row in rows for c in row))


def write_table(rows: Sequence[Row], out: Path) -> tuple[Path, Path]:
    """out/sweep.parquet and out/sweep.csv, one row per run, with `table_columns`."""
    out.mkdir(parents=True, exist_ok=True)
    columns = table_columns(rows)
    table = pa.table({c: [row.get(c) for row in rows] for c in columns})
    pq.write_table(table, out / "sweep.parquet")
    with open(out / "sweep.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_csv(row.get(c)) for c in columns] for row in rows)
    return out / "sweep.parquet", out / "sweep.csv"


def _csv(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)
