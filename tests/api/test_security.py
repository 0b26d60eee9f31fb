"""What every answer carries (secure headers) and what the API refuses to read (bodies over
NAUTILUS_API_MAX_BODY_BYTES: 413, declared or streamed, documented), on the app as it serves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.body_limit import too_large_detail
from api.deps import app_settings
from api.main import app
from api.routes.dashboard import CONTENT_SECURITY_POLICY
from api.security import HEADERS
from streams.settings import Settings, get_settings


@pytest.mark.parametrize("path", ["/health", "/api/v1/symbols", "/docs", "/", "/nowhere"])
def test_every_answer_carries_the_secure_headers(api_client: TestClient, path: str) -> None:
    response = api_client.get(path)  # answered 200, 401 or 404: all carry them

    assert {name: response.headers.get(name) for name in HEADERS} == HEADERS


def test_the_dashboard_keeps_its_own_content_security_policy(api_client: TestClient) -> None:
    response = api_client.get("/")

    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY"


def _chunks(size: int) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        yield b" " * 4096
        sent += 4096


def test_a_body_over_the_limit_is_the_same_json_413_declared_or_streamed(
    api_client: TestClient, admin_headers: dict[str, str]
) -> None:
    # Arrange: one body with its Content-Length, one in chunks without
    limit = get_settings().api_max_body_bytes
    url = "/api/v1/risk/ACC-BODY/halt"
    headers = {**admin_headers, "Content-Type": "application/json"}

    # Act
    declared = api_client.post(url, content=b'{"reason": "' + b"x" * limit + b'"}',
                               headers=headers)
    streamed = api_client.post(url, content=_chunks(limit + 8192), headers=headers)

    # Assert: both refused alike, as JSON with the secure headers, before any command is sent
    assert int(declared.request.headers["content-length"]) > limit
    assert "content-length" not in streamed.request.headers
    for refused in (declared, streamed):
        assert refused.status_code == 413, refused.text
        assert refused.headers["content-type"] == "application/json"
        assert refused.json() == {"detail": too_large_detail(limit)}
        assert {name: refused.headers.get(name) for name in HEADERS} == HEADERS


def test_a_body_at_the_limit_is_read(
    api_client: TestClient, read_headers: dict[str, str]
) -> None:
    limit = get_settings().api_max_body_bytes
    body = b'{"reason": "' + b"x" * (limit - len(b'{"reason": ""}')) + b'"}'

    response = api_client.post("/api/v1/risk/ACC-BODY/halt", content=body,
                               headers={**read_headers, "Content-Type": "application/json"})

    assert len(body) == limit
    assert response.status_code == 403, response.text  # read, then the scope check


def test_the_routes_that_take_a_body_document_413(api_client: TestClient) -> None:
    spec = api_client.get("/openapi.json").json()

    with_a_body = {f"{method.upper()} {path}": op["responses"].get("413")
                   for path, operations in spec["paths"].items()
                   for method, op in operations.items() if "requestBody" in op}

    assert with_a_body  # the kill switch's POSTs
    assert all(documented is not None and documented["content"]["application/json"]["schema"]
               == {"$ref": "#/components/schemas/ErrorBody"}
               for documented in with_a_body.values()), with_a_body


def test_every_protected_route_documents_429_with_retry_after_and_503(
    api_client: TestClient,
) -> None:
    spec = api_client.get("/openapi.json").json()

    protected = {f"{method.upper()} {path}": op["responses"]
                 for path, operations in spec["paths"].items()
                 for method, op in operations.items() if "401" in op["responses"]}

    assert len(protected) > 10
    error_body = {"$ref": "#/components/schemas/ErrorBody"}
    assert {route for route, answers in protected.items()
            if answers.get("429", {}).get("headers", {}).get("Retry-After", {})
            .get("schema", {}).get("type") != "integer"} == set()
    assert {route for route, answers in protected.items()
            if "503" not in answers
            or answers["503"]["content"]["application/json"]["schema"] != error_body} == set()


def test_a_token_over_its_rate_is_refused_with_429_and_retry_after(
    api_settings: Settings, read_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    # Arrange: bursts of 3, refilled at one request per 1000 s: the 4th request is over,
    # however slowly this machine sends them
    settings = api_settings.model_copy(update={"api_rate_per_s": 0.001, "api_rate_burst": 3})
    app.dependency_overrides[app_settings] = lambda: settings
    try:
        with TestClient(app) as client:
            # Act
            codes = [client.get("/api/v1/symbols", headers=read_headers).status_code
                     for _ in range(3)]
            refused = client.get("/api/v1/symbols", headers=read_headers)
            another_token = client.get("/api/v1/symbols", headers=admin_headers)
    finally:
        app.dependency_overrides.clear()

    # Assert: the fourth is 429 with the wait in seconds; another token has its own budget
    assert codes == [200, 200, 200]
    assert refused.status_code == 429
    assert 990 <= int(refused.headers["retry-after"]) <= 1000
    assert "rate limit: 0.001 requests/s per token, bursts of 3" in refused.json()["detail"]
    assert another_token.status_code == 200
