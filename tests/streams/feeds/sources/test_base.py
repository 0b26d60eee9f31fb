"""The source interface's configuration: read from the named variables only, off while a
required one is unset, a wrong value named with the value unless it is a secret."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import Field, SecretStr

from streams.exceptions import ConfigError
from streams.feeds.sources.base import Fetched, Source, SourceConfig, read_config


class ExampleConfig(SourceConfig):
    token: SecretStr = Field(min_length=8, validation_alias="EXAMPLE_TOKEN")
    agent: str = Field(validation_alias="EXAMPLE_USER_AGENT")
    per_page: int = Field(default=100, ge=1, validation_alias="EXAMPLE_PER_PAGE")


class ExampleSource(Source[ExampleConfig]):
    name = "example"
    topics = ("market.fundamentals",)
    config_model = ExampleConfig
    requests_per_s = 10.0

    def items(self) -> list[str]:
        return []

    def fetch(self, item: str, *, since: dt.date | None, ts_init: int) -> Fetched:
        return Fetched(item, [])


def test_every_unset_required_variable_is_named() -> None:
    assert read_config(ExampleSource, {"EXAMPLE_PER_PAGE": "5"}) == (
        "EXAMPLE_TOKEN, EXAMPLE_USER_AGENT not set")


def test_a_wrong_secret_is_named_without_its_value() -> None:
    environ = {"EXAMPLE_TOKEN": "short", "EXAMPLE_USER_AGENT": "me", "EXAMPLE_PER_PAGE": "0"}

    with pytest.raises(ConfigError) as wrong:
        read_config(ExampleSource, environ)

    message = str(wrong.value)
    assert message.startswith("source example: invalid setting EXAMPLE_TOKEN: value should "
                              "have at least 8 ")
    assert message.endswith("; EXAMPLE_PER_PAGE='0': input should be greater than or equal "
                            "to 1")
    assert "short" not in message


def test_a_complete_environment_gives_the_config() -> None:
    config = read_config(ExampleSource, {"EXAMPLE_TOKEN": "s3cret-token", "EXAMPLE_USER_AGENT":
                                         "nautilus test@example.com", "OTHER": "x"})

    assert isinstance(config, ExampleConfig)
    assert config.token.get_secret_value() == "s3cret-token" and config.per_page == 100
