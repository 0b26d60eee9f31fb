"""The queries of the provisioned Grafana dashboards (ops/grafana/provisioning/dashboards),
and the metric names a PromQL expression reads."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

REPO_ROOT = Path(__file__).resolve().parents[2]
OPS = REPO_ROOT / "ops"
DASHBOARDS = OPS / "grafana" / "provisioning" / "dashboards"
PROMETHEUS_UID, POSTGRES_UID = "prometheus", "timescaledb"

# Series Prometheus writes itself for every target, exported by no process.
PROMETHEUS_SERIES = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped",
                               "scrape_samples_post_metric_relabeling", "scrape_series_added"})
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
             "summary": ("_count", "_sum"), "gaugehistogram": ("_bucket", "_gcount", "_gsum")}
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
                       "offset", "and", "or", "unless", "inf", "nan"})


@dataclass(frozen=True, slots=True)
class Query:
    dashboard: str
    panel: str
    datasource: str  # the data source uid
    text: str  # PromQL expression or SQL
    format: str | None  # SQL: time_series or table
    names: frozenset[str]  # fields the panel's overrides name (SQL panels)

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel}"


def dashboards() -> dict[str, dict]:
    """Every dashboard JSON by file name."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


def queries() -> Iterator[Query]:
    """Every panel target and every query variable of every dashboard."""
    for dashboard in dashboards().values():
        title = dashboard["title"]
        for panel in _panels(dashboard["panels"]):
            names = frozenset(
                o["matcher"]["options"] for o in panel.get("fieldConfig", {}).get("overrides", ())
                if o["matcher"]["id"] == "byName")
            for target in panel.get("targets", ()):
                uid = (target.get("datasource") or panel["datasource"])["uid"]
                text = target["expr"] if uid == PROMETHEUS_UID else target["rawSql"]
                yield Query(title, panel["title"], uid, text, target.get("format"), names)
        for variable in dashboard.get("templating", {}).get("list", ()):
            if variable["type"] == "query":
                yield Query(title, f"variable {variable['name']}", variable["datasource"]["uid"],
                            variable["query"], "table", frozenset())


def _panels(panels: list[dict]) -> Iterator[dict]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # rows


def metric_names(expr: str) -> set[str]:
    """The metric names `expr` selects: identifiers that are neither functions, keywords,
    labels (in matchers and grouping clauses) nor numbers."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', "", expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)  # matchers, ranges
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables
    text = re.sub(r"\boffset\s+-?[\dsmhdwy]+", " ", text)  # offset 5m
    text = re.sub(r"(?<![\w:])\d+(?:\.\d*)?(?:[eE][+-]?\d+)?", " ", text)  # numbers
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][\w:]*", text):
        is_call = text[match.end():].lstrip().startswith("(")
        if not is_call and match.group() not in _KEYWORDS:
            names.add(match.group())
    return names


def exported_names(exposition: str) -> set[str]:
    """Every name a query may use for the metrics of a Prometheus text exposition: sample
    names, and each family's names by its type (a histogram without observations yet still
    answers `_bucket`, a counter `_total`)."""
    names = set()
    for family in text_string_to_metric_families(exposition):
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ()))
    return names


def unexported(exported: set[str], prometheus: list[Query]) -> dict[str, list[str]]:
    """Metric names the queries read that no process exports (nor Prometheus writes), with
    the panels that read each."""
    missing: dict[str, list[str]] = {}
    for query in prometheus:
        for name in sorted(metric_names(query.text) - exported - PROMETHEUS_SERIES):
            missing.setdefault(name, []).append(str(query))
    return missing
