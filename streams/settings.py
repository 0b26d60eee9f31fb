"""One frozen settings object per process, read from the environment.

Every variable is documented in `.env.example`. Engine parameters are one nested model per
engine of the registry (`processors.ENGINES`), with the defaults of the engine's parameter
model; they are set from the environment with a double underscore, e.g.
`NAUTILUS_BARS__GRACE_MS=5000`, or per run with `--set bars.grace_ms=5000`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from processors import ENGINES
from streams.exceptions import ConfigError
from streams.settings_env import EnvSource, describe_errors, secret_field_names
from streams.storage.policy import ChunkSizing, Horizons, parse_horizon, parse_size

REPO_ROOT = Path(__file__).resolve().parent.parent
STALE_INTERVALS = 3
"""Health intervals without a report after which a worker counts as stale."""


def _engine_fields() -> dict[str, Any]:
    """One field per registered engine: its parameter model, with that model's defaults."""
    return {
        name: (model, Field(default_factory=model, description=f"parameters of the {name} "
                            "engine"))
        for name, model in ENGINES.params_models().items()
    }


if TYPE_CHECKING:
    from processors.base import Engine

    class EngineParams(BaseModel):
        """Parameters of every engine, one nested model per engine name."""

        def __getattr__(self, engine: str) -> BaseModel: ...

    class _EngineSettings(BaseModel):
        def __getattr__(self, engine: str) -> BaseModel: ...
else:
    EngineParams = create_model(
        "EngineParams", __config__=ConfigDict(frozen=True, extra="forbid"),
        __doc__="Parameters of every engine, one nested model per engine name.",
        __module__=__name__, **_engine_fields(),
    )
    # the same fields in the settings: NAUTILUS_<ENGINE>__<PARAM> for every registered engine
    _EngineSettings = create_model("_EngineSettings", __module__=__name__, **_engine_fields())


class Settings(_EngineSettings, BaseSettings):
    """Process-wide configuration. Secrets are `SecretStr` so they never show in `repr`."""

    model_config = SettingsConfigDict(
        env_prefix="NAUTILUS_",
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
    )

    kafka_brokers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BROKERS", "NAUTILUS_KAFKA_BROKERS"),
        description="Comma-separated host:port list; unset means the embedded broker of `up`.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "NAUTILUS_DATABASE_URL"),
        description="postgresql:// URL; unset means the embedded PostgreSQL of `up`.",
    )
    state_dir: Path = Path(".nautilus")
    # registry of running `up` stacks (see streams/stacks.py); None: the per-user default
    stacks_dir: Path | None = None
    # `up` stops everything once the embedded broker's memory reaches this (it keeps every
    # record: Tansu's memory storage applies no retention); 0: no limit
    embedded_broker_max_mb: int = Field(default=8_192, ge=0)
    topics_file: Path = REPO_ROOT / "topics.yaml"
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    log_level: str = "INFO"
    app_id: str = "nautilus-streams"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_cors_origins: str = ""  # comma-separated origins allowed by CORS; empty: none
    # requests per second and burst per token and API process (0: no limit); 429 above
    api_rate_per_s: float = Field(default=100.0, ge=0)
    api_rate_burst: int = Field(default=200, ge=1)
    # largest request body the API reads (413 above it); its bodies are small JSON commands
    api_max_body_bytes: int = Field(default=65_536, ge=1)
    api_token_cache_ms: int = Field(default=5_000, ge=0)
    api_stream_queue: int = Field(default=1_000, ge=1)  # messages a websocket client may lag
    api_latest_cache_ms: int = Field(default=250, ge=0)  # how long a vpin/latest answer is reused
    # how long the broker's answer for /api/v1/topics and /metrics is reused
    api_broker_cache_ms: int = Field(default=1_000, ge=0)
    batch_max_events: int = Field(default=30_000, ge=1)
    # longest a worker's fetch waits at the broker for records (see streams/runtime/batching.py)
    fetch_max_wait_ms: int = Field(default=100, ge=1, le=30_000)
    # how long a worker waits for the records that arrived while its last batch was processed
    # before processing the ones already fetched (0: it does not; streams/runtime/batching.py)
    fetch_fresh_wait_ms: int = Field(default=0, ge=0, le=30_000)
    health_interval_ms: int = Field(default=5_000, ge=100)
    # how long /api/v1/engines and /metrics list a worker after its last health report
    api_engine_horizon_ms: int = Field(default=60_000, ge=1)
    clock_tick_ms: int = Field(default=1_000, ge=10)
    live_slack_ms: int = Field(default=5_000, ge=0)
    session_timeout_ms: int = Field(default=6_000, ge=1_000)
    # static group membership (Kafka's group.instance.id) of a worker or sink process: a
    # process restarted under the same id takes its place in the group again
    group_instance_id: str | None = Field(default=None, min_length=1)
    # Prometheus endpoint of a `worker` or `sink` (streams/metrics.py): unset port, none.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=1, le=65_535)

    # `sink`: catalog topics with a table -> PostgreSQL.
    sink_group: str = "nautilus-sink"
    sink_batch_rows: int = Field(default=20_000, ge=1)
    sink_batch_within_ms: int = Field(default=200, ge=1)
    sink_retry_min_ms: int = Field(default=500, ge=10)
    sink_retry_max_ms: int = Field(default=30_000, ge=10)
    sink_drain_ms: int = Field(default=5_000, ge=0)

    # TimescaleDB only (migration 0006; ignored on plain PostgreSQL): '90d', '12h', '2w' or 'off'.
    storage_compress_after: timedelta | None = timedelta(days=7)
    storage_tick_retention: timedelta | None = timedelta(days=90)
    storage_reading_retention: timedelta | None = None
    storage_rollup_retention: timedelta | None = None
    # Tick chunk sizing (see streams/storage/policy.py): expected rows/s and the index memory
    # budget ('4GB'; unset or 'auto': the server's shared_buffers).
    storage_trades_per_s: float = Field(default=2_000.0, ge=0)
    storage_features_per_s: float = Field(default=5.0, ge=0)
    storage_index_memory: int | None = Field(default=None, gt=0)

    # `feed ibkr`: TWS / IB Gateway and what to subscribe to (flags override these).
    ibkr_host: str = "127.0.0.1"
    ibkr_port: int = Field(default=4002, ge=1, le=65_535)
    ibkr_client_id: int = Field(default=1, ge=0)
    ibkr_symbols: str | None = None  # comma-separated stocks (SMART, USD)
    ibkr_instruments: Path | None = None  # a YAML or CSV instruments file
    ibkr_depth_rows: int = Field(default=10, ge=0, le=10)
    # the account's simultaneous tick-by-tick and depth subscriptions (IB's default: 3 each)
    ibkr_tick_by_tick_lines: int = Field(default=3, ge=0)
    ibkr_depth_lines: int = Field(default=3, ge=0)
    ibkr_quotes: Literal["auto", "tick-by-tick", "market-data"] = "auto"
    ibkr_retry_ms: int = Field(default=60_000, ge=1_000)  # a refused subscription, again
    ibkr_stale_after_ms: int = Field(default=60_000, ge=0)  # 0: no staleness outages
    ibkr_connect_timeout_ms: int = Field(default=10_000, ge=100)
    ibkr_heartbeat_ms: int = Field(default=5_000, ge=100)
    ibkr_stall_timeout_ms: int = Field(default=20_000, ge=200)
    ibkr_reconnect_min_ms: int = Field(default=1_000, ge=10)
    ibkr_reconnect_max_ms: int = Field(default=60_000, ge=10)

    # Sources of data beyond the tape (`feed fred`, streams/feeds/sources): how their HTTP
    # requests behave. Each source's own variables (keys, files) are its config model's.
    # the on-disk cache of conditional requests; None: <state_dir>/http-cache
    sources_cache_dir: Path | None = None
    sources_timeout_ms: int = Field(default=30_000, ge=100)
    sources_max_retries: int = Field(default=5, ge=0)  # on 429, 5xx and connection errors
    sources_backoff_ms: int = Field(default=1_000, ge=0)  # first retry waits up to this
    sources_backoff_max_ms: int = Field(default=60_000, ge=0)
    # `up` polls the configured sources this often (`feed sources --every`)
    sources_poll_s: float = Field(default=3_600.0, gt=0, allow_inf_nan=False)

    @field_validator("api_engine_horizon_ms")
    @classmethod
    def _past_stale(cls, value: int, info: ValidationInfo) -> int:
        # A worker is stale after 3 silent health intervals; one forgotten sooner would
        # vanish from the API without ever showing as stale.
        interval = info.data.get("health_interval_ms")
        if interval is not None and value <= STALE_INTERVALS * interval:
            raise ValueError(f"must be more than {STALE_INTERVALS} health intervals "
                             f"(NAUTILUS_HEALTH_INTERVAL_MS is {interval})")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # a variable that is not JSON is judged by validation (see streams/settings_env.py)
        return init_settings, EnvSource(settings_cls), dotenv_settings, file_secret_settings

    @field_validator("storage_compress_after", "storage_tick_retention",
                     "storage_reading_retention", "storage_rollup_retention", mode="before")
    @classmethod
    def _horizon(cls, value: object) -> timedelta | None:
        return parse_horizon(value) if isinstance(value, str) else value  # type: ignore[return-value]

    @field_validator("metrics_port", "sources_cache_dir", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if value == "" else value  # NAUTILUS_METRICS_PORT= : no endpoint

    @field_validator("storage_index_memory", mode="before")
    @classmethod
    def _size(cls, value: object) -> int | None:
        return parse_size(value) if isinstance(value, str) else value  # type: ignore[return-value]

    def storage_horizons(self) -> Horizons:
        """The TimescaleDB compression and retention horizons."""
        return Horizons(self.storage_compress_after, self.storage_tick_retention,
                        self.storage_reading_retention, self.storage_rollup_retention)

    def chunk_sizing(self) -> ChunkSizing:
        """What the TimescaleDB tick chunk interval is derived from."""
        return ChunkSizing(self.storage_trades_per_s, self.storage_features_per_s,
                           self.storage_index_memory)

    def engine_params(self) -> EngineParams:
        """The engine parameters as one object (what `--set` overrides)."""
        return EngineParams(**{name: getattr(self, name) for name in ENGINES})


def with_engines(params: EngineParams, engines: Iterable[type[Engine]]) -> EngineParams:
    """`params` plus the parameters of `engines` the registry does not know (user strategies
    given as `module:Class`), each from its `NAUTILUS_<NAME>__<PARAM>` variables as a
    registered engine's, else its model's defaults; `--set NAME.PARAM=` then applies to them
    too (`streams.params.apply_overrides`)."""
    extra = {e.name: e.params_model for e in engines if e.name not in type(params).model_fields}
    if not extra:
        return params
    fields: dict[str, Any] = {
        name: (model, Field(default_factory=model, description=f"parameters of the {name} "
                            "engine")) for name, model in extra.items()}
    with_extra = create_model("RunEngineParams", __base__=type(params), __module__=__name__,
                              **fields)
    from_environment = create_model("RunSettings", __base__=Settings, __module__=__name__,
                                    **fields)
    try:
        read = from_environment()
    except ValidationError as exc:
        problems = describe_errors(exc, Settings.model_config.get("env_prefix", ""),
                                   secret_field_names(Settings.model_fields), os.environ)
        raise ConfigError(f"invalid setting {problems}") from None
    given = {name: getattr(params, name) for name in type(params).model_fields}
    return with_extra(**given, **{name: getattr(read, name) for name in extra})


def engine_variable(engine: str, param: str) -> str:
    """The environment variable of one engine parameter: `NAUTILUS_VPIN__BUCKET_VOLUME`."""
    config = Settings.model_config
    return f"{config['env_prefix']}{engine}{config['env_nested_delimiter']}{param}".upper()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once; a ConfigError naming each wrong variable and its
    value (`invalid setting NAUTILUS_API_PORT='http': input should be a valid integer ...`)."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = describe_errors(exc, Settings.model_config.get("env_prefix", ""),
                                   secret_field_names(Settings.model_fields), os.environ)
        raise ConfigError(f"invalid setting {problems}") from None
