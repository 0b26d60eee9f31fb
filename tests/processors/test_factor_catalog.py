"""The factor catalog file: a factor added to it is published with no code change, a wrong
entry stops with one message naming the file and the factor, and the README lists every
shipped factor with its formula."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from processors.factors.catalog import load_catalog
from processors.factors.engine import FactorsEngine
from processors.factors.exceptions import FactorCatalogError
from processors.factors.params import SHIPPED_CATALOG
from streams.clock import TestClock
from streams.codec import event_columns
from streams.schema import Bar
from streams.settings import REPO_ROOT, Settings
from tests.factories import MINUTE_NS, T0

TOPIC = "market.bars.1m"


def write_catalog(path: Path, *entries: tuple[str, str]) -> Path:
    path.write_text("factors:\n" + "".join(
        f"  - name: {name}\n    expression: '{expression}'\n    description: {name} factor\n"
        for name, expression in entries))
    return path


def bars(closes: list[str], vwap: list[str | None] | None = None) -> list[Bar]:
    out = []
    for i, close in enumerate(closes):
        start = T0 + i * MINUTE_NS
        out.append(Bar(ts_event=start + MINUTE_NS, ts_init=start + MINUTE_NS,
                       bar_id=f"AAPL@1m@{start}", symbol="AAPL", start_ns=start, open=close,
                       high=close, low=close, close=close, volume=100 * (i + 1),
                       vwap=vwap[i] if vwap else close))
    return out


def test_a_factor_added_to_the_file_is_published_under_its_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = write_catalog(tmp_path / "mine.yaml",
                            ("GAP2", "($close-Ref($close, 2))/Mean($volume, 3)"))
    monkeypatch.setenv("NAUTILUS_FACTORS__CATALOG", str(catalog))
    engine = FactorsEngine(Settings().engine_params().factors, TestClock(0), torch.device("cpu"))

    emits = engine.process(TOPIC, event_columns("Bar", bars(["100", "101", "103", "106"])))

    assert [e.topic for e in emits] == ["logic.factors"] * 4
    assert [e.value.values for e in emits] == [
        {}, {}, {"GAP2": pytest.approx(3 / 200)}, {"GAP2": pytest.approx(5 / 300)}]


def test_a_factor_is_absent_until_its_windows_are_full_and_where_it_has_no_value(
        tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path / "c.yaml", ("RET", "$close/Ref($close, 1)-1"),
                            ("MA3", "Mean($close, 3)"), ("VW", "$vwap/$close"),
                            ("FLAT", "$close/($close-$open)"))
    engine = FactorsEngine(Settings(factors={"catalog": catalog}).engine_params().factors,
                           TestClock(0), torch.device("cpu"))

    emits = engine.process(TOPIC, event_columns("Bar", bars(["10", "11", "12", "13"],
                                                            vwap=["10", None, "12", "13"])))

    # open == close: FLAT divides by zero at every bar; the second bar has no VWAP
    assert [e.value.values for e in emits] == [
        {"VW": 1.0}, {"RET": pytest.approx(0.1)},
        {"RET": pytest.approx(1 / 11), "MA3": pytest.approx(11.0), "VW": 1.0},
        {"RET": pytest.approx(1 / 12), "MA3": pytest.approx(12.0), "VW": 1.0}]


@pytest.mark.parametrize(("expression", "reason"), [
    ("Mean($close)", "Mean at 0 takes 2 arguments (series, window), not 1"),
    ("Mean($close, 2.5)", "Mean at 0: the window at 13 must be an integer of at least 1"),
    ("Std($close, 1)", "Std at 0: the window at 12 must be an integer of at least 2"),
    ("Quantile($close, 5, 1.5)", "Quantile at 0: the quantile at 20 must be a number in [0, 1]"),
    ("EMA($close, 5)", "unknown operator 'EMA' at 0; operators: Abs, Corr"),
    ("$price/$close", "unknown field $price at 0; fields: $open, $high"),
    ("($close-$open", "expected ')' at 13, found 'the end'"),
    ("$close $open", "unexpected '$open' at 7"),
    ("__import__(1)", "unknown operator '__import__' at 0"),
    ("$close.real", "unexpected character '.' at 6"),
])
def test_a_wrong_expression_is_an_error_naming_the_file_and_the_factor(
        tmp_path: Path, expression: str, reason: str) -> None:
    catalog = write_catalog(tmp_path / "bad.yaml", ("OK", "$close"), ("BROKEN", expression))

    with pytest.raises(FactorCatalogError) as error:
        load_catalog(catalog)
    with pytest.raises(ValidationError, match="factor BROKEN"):
        Settings(factors={"catalog": catalog})

    assert str(error.value).startswith(f"factor catalog {catalog}, factor BROKEN: "
                                       f"{expression!r}: {reason}")


@pytest.mark.parametrize(("text", "reason"), [
    ("factors: []\n", "wants a non-empty list under `factors:`"),
    ("factors:\n  - name: A\n    expression: $close\n    description: a\n"
     "  - name: A\n    expression: $open\n    description: b\n", "factor A is defined twice"),
    ("factors:\n  - name: A\n    expression: $close\n", "entry 1: wants exactly the keys "
     "name, expression, description"),
    ("factors:\n  - {1: a, name: A, expression: $close, description: a}\n",
     "entry 1: wants exactly the keys"),
    ("factors:\n  - name: 2x\n    expression: $close\n    description: a\n",
     "entry 1: name '2x' is not an identifier"),
    ("factors:\n  - name: A\n    expression: $close\n    description: ''\n",
     "factor A: wants a one-line description"),
    ("factors: [\n", "cannot read it"),
])
def test_a_malformed_catalog_is_an_error_saying_what_is_wrong(
        tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "factors.yaml"
    path.write_text(text)

    with pytest.raises(FactorCatalogError) as error:
        load_catalog(path)

    assert str(error.value).startswith(f"factor catalog {path}")
    assert reason in str(error.value)


def test_a_missing_catalog_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(FactorCatalogError, match=f"factor catalog {tmp_path / 'no.yaml'}: "
                       "cannot read it"):
        load_catalog(tmp_path / "no.yaml")


def test_the_readme_lists_every_shipped_factor_with_its_formula() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("\n#### Factor catalog\n", 1)[1].split("\n### ", 1)[0]
    table = section.split("\n| factor | expression | description |\n|---|---|---|\n", 1)[1]
    listed = table.split("\n\n", 1)[0].splitlines()

    expected = [f"| `{f.name}` | `{f.expression}` | {f.description} |"
                for f in load_catalog(SHIPPED_CATALOG).factors]
    assert listed == expected, "README's factor table differs from factors.yaml:\n" + "\n".join(
        expected)
