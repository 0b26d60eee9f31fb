"""/docs and /redoc work offline (their assets are served by the API itself), and the OpenAPI
document has an example for every route's answer and every parameter."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api import models
from api.models import Page
from api.routes import health

PAGES = ["/docs", "/redoc"]
_LINKED = re.compile(r"""(?:src|href|url)\s*[:=]\s*["']([^"']+)["']""")


@pytest.mark.parametrize("page", PAGES)
def test_docs_pages_load_nothing_from_another_host(api_client: TestClient, page: str) -> None:
    response = api_client.get(page)

    assert response.status_code == 200
    html = response.text
    assert not re.search(r"(?:https?:)?//[A-Za-z0-9.-]+\.[a-z]", html), "an external host"
    links = _LINKED.findall(html)
    assert links and all(link.startswith("/") for link in links), links
    for link in links:
        asset = api_client.get(link)
        assert asset.status_code == 200 and asset.content, link


def test_swagger_ui_does_not_call_the_online_validator(api_client: TestClient) -> None:
    assert '"validatorUrl": null' in api_client.get("/docs").text


def _operations(spec: dict) -> list[tuple[str, str, dict]]:
    return [(path, method, op) for path, item in spec["paths"].items()
            for method, op in item.items()]


def _success(op: dict) -> dict:
    """The operation's success answer: 200, or the 2xx it declares (202 for a command)."""
    return op["responses"][min(code for code in op["responses"] if code.startswith("2"))]


def test_every_route_has_an_example_answer(api_client: TestClient) -> None:
    spec = api_client.get("/openapi.json").json()

    missing = [
        f"{method.upper()} {path}" for path, method, op in _operations(spec)
        if not all("example" in media or "examples" in media
                   for media in _success(op)["content"].values())
    ]

    assert _operations(spec) and missing == []


def test_every_parameter_has_examples(api_client: TestClient) -> None:
    spec = api_client.get("/openapi.json").json()

    missing = [f"{method.upper()} {path} {param['name']}"
               for path, method, op in _operations(spec) for param in op.get("parameters", [])
               if not param.get("examples")]

    assert missing == []


def test_every_response_model_has_an_example(api_client: TestClient) -> None:
    schemas = api_client.get("/openapi.json").json()["components"]["schemas"]

    missing = [name for name, schema in schemas.items()
               if schema.get("type") == "object" and "Error" not in name
               and not schema.get("examples")]

    assert missing == []


@pytest.mark.parametrize("model", [
    m for m in vars(models).values()
    if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == models.__name__
    and m is not models.Page
] + [Page[models.TradePublic], health.Health, health.Readiness], ids=lambda m: m.__name__)
def test_each_example_is_a_valid_answer(model: type[BaseModel]) -> None:
    model.model_validate(models.example_of(model))


def test_each_routes_example_cursor_is_one_of_its_own(
    api_client: TestClient, read_headers: dict[str, str]
) -> None:
    # routes page by different keys (time, then a trade id, a bucket, an account, ...): a
    # cursor /docs offers must be one the route takes, not 422
    spec = api_client.get("/openapi.json").json()
    paged = {path: {(p["in"], p["name"]): next(iter(p["examples"].values()))["value"]
                    for p in op["parameters"] if p["required"] or p["name"] == "cursor"}
             for path, method, op in _operations(spec)
             if any(p["name"] == "cursor" for p in op.get("parameters", []))}

    answers = {path: api_client.get(
        path.format(**{name: value for (where, name), value in params.items()
                       if where == "path"}),
        params={name: value for (where, name), value in params.items() if where == "query"},
        headers=read_headers).status_code for path, params in paged.items()}

    assert len(answers) > 15
    assert {path: code for path, code in answers.items() if code not in (200, 404)} == {}
