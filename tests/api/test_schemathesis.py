"""Schemathesis against the running API: every operation of the OpenAPI document that a real
uvicorn serves over the session's broker and PostgreSQL, with all of schemathesis' checks
(its defaults: every check but `max_response_time`, a timing): no 5xx; status codes, content
types, headers and bodies as documented; schema-valid requests accepted, schema-violating ones
rejected; auth enforced; unsupported methods refused.

- The schema is the app's own document, which the server must serve unchanged (checked
  before the first case). Loading it from the server in a fixture
  (`schemathesis.pytest.from_fixture`) fails under pytest 9 with schemathesis 4.32.5 (it sets
  `Node._nodeid`, gone in pytest 9); a schema known at import gives a test per operation.
- Bounded and reproducible: `derandomize=True` and at most MAX_EXAMPLES generated cases per
  operation and generation mode in the fuzzing phase, besides the examples phase (the
  documented examples) and the coverage phase (boundary and invalid values of every
  parameter, deterministic).
- Real tokens, made as every API test makes them: the read token on every route, so the
  kill switch's POSTs answer 403 (documented); the admin token on GET /metrics, the only
  admin route without side effects (the POSTs would put commands on logic.risk.commands of
  the shared broker). Schemathesis generates no credentials of its own
  (`with_security_parameters=False`); on every 2xx its `ignored_auth` check sends the request
  again without the token and with a bad one, and expects a refusal.
- The server runs without the per-token rate limit (NAUTILUS_API_RATE_PER_S=0): a 429 is
  documented and tested in test_security.py; here it would only keep cases from the routes.
- The database holds one record of every stored model, of the symbol and account the
  examples name (AAPL, paper), so that example requests answer with records, whose bodies
  are checked against the schema too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from psycopg import sql
from schemathesis.checks import positive_data_acceptance

from api.deps import app_settings
from api.main import app
from streams.embedded import free_port
from streams.schema import Event
from streams.settings import Settings
from streams.sink.tables import TABLES, Source
from streams.storage import tokens
from tests.api.data import cleanup, write
from tests.factories import event

MAX_EXAMPLES = 25
SYMBOL, ACCOUNT, ENGINE = "AAPL", "paper", "schemathesis"  # the examples' symbol and account
schema = schemathesis.openapi.from_dict(app.openapi())
schema.config.generation.update(with_security_parameters=False)

# Rejections no OpenAPI schema can foresee, so `positive_data_acceptance` (a schema-valid
# request must not get a 4xx but 401/403/404/409/429, see
# https://schemathesis.readthedocs.io/en/stable/reference/checks/) does not apply to an answer
# made only of them: a cursor is "the `next_cursor` of a page of this route", an opaque
# token (every string is schema-valid, few are cursors); `from` before `to` relates two
# parameters, which OpenAPI has no way to say. Every other check still runs on such answers.
UNFORESEEABLE = {("cursor", "not a cursor returned by this route"),
                 ("from", "`from` must be before `to`")}


@pytest.fixture(scope="module")
def running_api(kafka_brokers: str, database_url: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of the app served by uvicorn on a free port, rate limit off."""
    unlimited = Settings.model_validate(
        {"KAFKA_BROKERS": kafka_brokers, "DATABASE_URL": database_url,
         "state_dir": tmp_path_factory.mktemp("state"), "api_rate_per_s": 0})
    app.dependency_overrides[app_settings] = lambda: unlimited
    port = free_port("127.0.0.1")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    try:
        assert server.started, "uvicorn did not start"
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/openapi.json").json() == schema.raw_schema
        yield base
    finally:
        server.should_exit = True
        thread.join(10)
        app.dependency_overrides.clear()


@pytest.fixture(scope="module")
def bearers(database_url: str) -> Iterator[dict[str, dict[str, str]]]:
    """`Authorization` headers by scope, with tokens revoked afterwards."""
    made = {scope: tokens.create_token(database_url, scope, "schemathesis")
            for scope in ("read", "admin")}
    yield {scope: {"Authorization": f"Bearer {token}"} for scope, (token, _) in made.items()}
    for _, info in made.values():
        tokens.revoke_token(database_url, info.token_id)


@pytest.fixture(scope="module")
def stored_records(database_url: str) -> Iterator[None]:
    """One record of every stored model (engine health of now, so /engines lists it),
    deleted afterwards."""
    records = [event(name, **_of_the_examples(name)) for name in TABLES]
    with cleanup(database_url, [SYMBOL], [ENGINE]):
        write(database_url, *records)
        try:
            yield
        finally:
            _delete(database_url, records)


def _of_the_examples(name: str) -> dict[str, object]:
    fields = TABLES[name].columns
    overrides: dict[str, object] = {"symbol": SYMBOL, "account": ACCOUNT}
    if name == "EngineHealth":
        overrides |= {"engine": ENGINE, "ts_event": time.time_ns(), "ts_init": time.time_ns()}
    return {k: v for k, v in overrides.items() if k in fields}


def _delete(database_url: str, records: list[Event]) -> None:
    with psycopg.connect(database_url) as conn:
        for record in records:
            table = TABLES[type(record).__name__]
            row = dict(zip(table.columns, table.row(record, Source("test", 0, 0)), strict=True))
            conn.execute(sql.SQL("DELETE FROM {} WHERE ({}) = ({})").format(
                sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, table.key)),
                sql.SQL(", ").join(sql.Placeholder() * len(table.key))),
                [row[c] for c in table.key])


def _rejected_only_for_the_unforeseeable(response: schemathesis.Response) -> bool:
    return response.status_code == 422 and all(
        (error["loc"][-1], error["msg"]) in UNFORESEEABLE for error in response.json()["detail"])


@pytest.mark.usefixtures("stored_records")
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_running_api_answers_as_its_openapi_says(
    case: schemathesis.Case, running_api: str, bearers: dict[str, dict[str, str]]
) -> None:
    headers = bearers["admin" if case.operation.path == "/metrics" else "read"]
    response = case.call(base_url=running_api, headers=headers)
    excluded = [positive_data_acceptance] if _rejected_only_for_the_unforeseeable(response) else []
    case.validate_response(response, headers=headers, excluded_checks=excluded,
                           transport_kwargs={"base_url": running_api, "headers": headers})
