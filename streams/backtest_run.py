"""One backtest run, as `backtest` and each run of a sweep do it: replay the graph over the
spec's files or topic ranges, summarize, write the outputs, summary.json and (asked for)
report.html.

A `BacktestSpec` is plain data (paths, strings, overrides), so a sweep can hand it to a
worker process, which builds its engines and parameters from it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from streams.backtest import (
    PREDICTIONS_TOPIC,
    AccountSummary,
    backtest_engines,
    served_model_topics,
    summarize,
    summary_document,
)
from streams.catalog import Catalog
from streams.feeds.badrows import BadRows
from streams.feeds.files import FileOptions
from streams.params import apply_overrides
from streams.settings import get_settings, with_engines

if TYPE_CHECKING:
    from processors import Engine
    from streams.feeds.progress import Progress
    from streams.graph import StageProgress
    from streams.replay import ReplayResult
    from streams.settings import EngineParams

log = logging.getLogger(__name__)
BARS_TOPIC = "market.bars.1m"  # a bar file's bars feed no engine's output: kept for the report


@dataclass(frozen=True, slots=True)
class BacktestSpec:
    """What to backtest: a strategy, parameter overrides, and market files or topic ranges."""

    strategy: str
    overrides: tuple[str, ...] = ()
    inputs: tuple[Path, ...] = ()
    file_options: FileOptions = field(default_factory=FileOptions)
    strict: bool = False
    topics: tuple[str, ...] = ()
    span: tuple[int | None, int | None] = (None, None)
    brokers: str | None = None  # with topics
    # the engines' parameters to start from (JSON of EngineParams; None: this process's
    # settings), before `overrides`
    params_json: str | None = None

    def with_overrides(self, more: tuple[str, ...]) -> BacktestSpec:
        return replace(self, overrides=self.overrides + more)

    @property
    def source_names(self) -> list[str]:
        return [str(p) for p in self.inputs] if self.inputs else list(self.topics)


@dataclass(slots=True)
class BacktestRun:
    """A finished run: the replay's outputs, the accounts' summaries, summary.json's
    document, the strategy's account and the bad rows of the files read."""

    result: ReplayResult
    summaries: list[AccountSummary]
    document: dict[str, Any]
    account: str
    bad_rows: list[str]


def spec_strategy(spec: BacktestSpec) -> type[Engine]:
    from processors.strategies import load as load_strategy

    return load_strategy(spec.strategy)


def spec_engines(spec: BacktestSpec) -> list[type[Engine]]:
    """The engines of the spec's backtest: with a strategy that reads predictions, those
    the inputs of the model its parameters serve need (`backtest_engines`)."""
    from processors.ml.params import MlParams

    strategy = spec_strategy(spec)
    engines = backtest_engines(strategy)
    if PREDICTIONS_TOPIC not in strategy.inputs:
        return engines
    ml = spec_params(spec, engines).ml
    assert isinstance(ml, MlParams)
    return backtest_engines(strategy, served_model_topics(ml))


def spec_params(spec: BacktestSpec, engines: list[type[Engine]]) -> EngineParams:
    """The spec's parameters (else this process's settings) for `engines`, then the spec's
    overrides."""
    params = with_engines(get_settings().engine_params(), engines)
    if spec.params_json is not None:
        params = type(params).model_validate_json(spec.params_json)
    return apply_overrides(params, list(spec.overrides))


def run_backtest(
    spec: BacktestSpec, engines: list[type[Engine]], params: EngineParams, *,
    reading: Progress | None = None, stages: StageProgress | None = None,
) -> BacktestRun:
    """Replay `engines` with `params` over the spec's input; `reading` shows the files being
    read, `stages` the stages that run after."""
    from streams.replay import file_runs, replay_runs, run_replay, topic_source

    catalog = Catalog.load(get_settings().topics_file)
    bad_rows = BadRows(strict=spec.strict, echo=reading.note if reading else None)
    if spec.topics:
        assert spec.brokers is not None
        sources = [topic_source(spec.brokers, t, catalog[t].value, *spec.span).source
                   for t in spec.topics]
        result = run_replay(sources, engines, params, catalog=catalog, stage_progress=stages,
                            keep=(BARS_TOPIC,))
    else:
        topics = {t for e in engines for t in e.inputs}
        runs = file_runs(list(spec.inputs), spec.file_options, bad_rows, reading, topics)
        result = replay_runs(runs, engines, params, catalog=catalog, stage_progress=stages,
                             keep=(BARS_TOPIC,))
    account = getattr(params, spec_strategy(spec).name).account
    summaries = summarize(result.outputs, params.portfolio.cash, (account,))
    document = summary_document(summaries, {
        "strategy": spec.strategy,
        "inputs": spec.source_names,
        "parameters": {e.name: getattr(params, e.name).model_dump(mode="json")
                       for e in engines},
        "events_in": result.events_in,
    })
    return BacktestRun(result, summaries, document, account, bad_rows.summary())


def write_run(
    run: BacktestRun, engines: list[type[Engine]], out: Path, *, report: bool
) -> None:
    """Every output topic (<topic>.parquet, .csv), summary.json and, with `report`,
    report.html into `out`."""
    from streams.outputs import output_models, write_outputs

    catalog = Catalog.load(get_settings().topics_file)
    write_outputs(run.result.outputs, output_models(engines, catalog), out)
    (out / "summary.json").write_bytes(
        orjson.dumps(run.document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    if report:
        from streams.report import backtest_page, report_data, write_page

        data = report_data(run.result.outputs, run.result.kept, run.summaries)
        write_page(backtest_page(data, run.document), out)
