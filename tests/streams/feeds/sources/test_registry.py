"""Every registered source keeps the contract of streams/feeds/sources: its module's name is
its name, its topics are in the catalog with models it produces, its variables are
documented, its rate limit is a real one."""

from __future__ import annotations

import re
import typing

import pytest
import yaml

from streams.catalog import Catalog
from streams.feeds.sources import SOURCE_MODULES, load_source
from streams.feeds.sources.base import SourceRecord
from streams.settings import REPO_ROOT, Settings

CATALOG = Catalog.load(REPO_ROOT / "topics.yaml")
DOCUMENTED = set(re.findall(r"^# ?([A-Z][A-Z0-9_]*)=", (REPO_ROOT / ".env.example").read_text(),
                            re.MULTILINE))


@pytest.mark.parametrize("module", SOURCE_MODULES)
def test_a_registered_source_keeps_the_contract(module: str) -> None:
    source = load_source(module)
    variables = {str(f.validation_alias) for f in source.config_model.model_fields.values()}

    assert source.name == module
    models = {CATALOG[topic].value for topic in source.topics}
    assert models and models <= {m.__name__ for m in typing.get_args(SourceRecord)}
    assert len(models) == len(source.topics)  # a model's records go to one topic
    assert source.requests_per_s > 0 and source.burst >= 1
    assert variables - DOCUMENTED == set()


def test_the_http_settings_are_documented() -> None:
    variables = {f"NAUTILUS_{name.upper()}" for name in Settings.model_fields
                 if name.startswith("sources_")}

    assert len(variables) == 6 and variables - DOCUMENTED == set()  # 5 of HTTP, the poll's


def test_compose_gives_the_sources_service_every_sources_variable() -> None:
    # a variable compose does not list never reaches the container: a key set in .env would
    # leave its source off there without a word
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    passed = set(compose["services"]["sources"]["environment"])
    wanted = {str(f.validation_alias) for module in SOURCE_MODULES
              for f in load_source(module).config_model.model_fields.values()}
    wanted |= {f"NAUTILUS_{name.upper()}" for name in Settings.model_fields
               if name.startswith("sources_") and name not in ("sources_cache_dir",
                                                                "sources_poll_s")}

    assert wanted - passed == set()
    assert compose["services"]["sources"]["command"][:2] == ["feed", "sources"]
