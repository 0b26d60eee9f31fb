"""What every answer carries (secure headers) and what the API refuses to read (bodies over
NAUTILUS_API_MAX_BODY_BYTES), on the app as it serves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.routes.dashboard import CONTENT_SECURITY_POLICY
from api.security import HEADERS
from streams.settings import get_settings


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


def test_a_body_over_the_limit_is_refused_with_413_declared_or_streamed(
    api_client: TestClient, admin_headers: dict[str, str]
) -> None:
    limit = get_settings().api_max_body_bytes
    url = "/api/v1/risk/ACC-BODY/halt"
    big = b'{"reason": "' + b"x" * limit + b'"}'

    declared = api_client.post(url, content=big, headers={
        **admin_headers, "Content-Type": "application/json"})
    streamed = api_client.post(url, content=_chunks(limit + 8192), headers={
        **admin_headers, "Content-Type": "application/json"})

    assert declared.status_code == 413, declared.text
    assert streamed.status_code == 413, streamed.text
