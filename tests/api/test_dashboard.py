"""The live dashboard at `/`: served without a token with sensible cache headers, its
vendored chart library included; a bad token gets a clear message; and, in a real headless
chromium against a running `up`, live VPIN points arrive with no console errors."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.deps import app_settings
from api.main import app
from api.routes.dashboard import STATIC_DIR
from streams.embedded import free_port
from streams.endpoints import Endpoints
from streams.settings import Settings
from streams.storage import tokens
from tests.browser import chromium_page, save_screenshot

UPLOT = "/static/vendor/uplot-1.6.32"
_LINKED = re.compile(r"""(?:src|href)="(/[^"]+)\"""")
UP_READY_S = 180.0
LIVE_POINTS_S = 240.0


def test_the_page_and_its_assets_are_served_without_a_token(api_client: TestClient) -> None:
    page = api_client.get("/")

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    links = _LINKED.findall(page.text)
    assert f"{UPLOT}/uPlot.iife.min.js" in links and f"{UPLOT}/uPlot.min.css" in links
    for link in links:
        asset = api_client.get(link)
        assert asset.status_code == 200 and asset.content, link
        vendored = link.startswith("/static/vendor/")
        assert asset.headers["cache-control"] == (
            "public, max-age=31536000, immutable" if vendored else "no-cache"), link
    assert "MIT License" in api_client.get(f"{UPLOT}/LICENSE").text


def test_scripts_are_revalidated_and_nothing_outside_the_static_folder_is_served(
    api_client: TestClient,
) -> None:
    script = api_client.get("/static/dashboard.js")
    again = api_client.get("/static/dashboard.js", headers={"If-None-Match": script.headers["etag"]})

    assert again.status_code == 304 and again.headers["cache-control"] == "no-cache"
    assert api_client.get("/static/").status_code == 404  # no listing
    assert api_client.get("/static/..%2fmain.py").status_code == 404
    assert (STATIC_DIR / "live.js").exists()


def test_the_data_routes_still_need_a_token(api_client: TestClient) -> None:
    assert api_client.get("/api/v1/engines").status_code == 401
    assert api_client.get("/api/v1/vpin/latest").status_code == 401


@pytest.fixture
def served_api(api_settings: Settings) -> Iterator[str]:
    """The app on a real uvicorn (the browser needs a socket), on the session's services."""
    app.dependency_overrides[app_settings] = lambda: api_settings
    port = free_port("127.0.0.1")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        app.dependency_overrides.clear()


def test_a_bad_token_is_refused_with_a_message_and_the_form_again(served_api: str) -> None:
    with chromium_page() as (page, errors):
        page.goto(served_api + "/")
        page.fill("#token-input", "nst_not-a-token")
        page.click("button[type=submit]")
        problem = page.locator("#token-problem")
        problem.wait_for(state="visible", timeout=30_000)

        assert "refused this token (401" in problem.inner_text()
        assert page.locator("#sign-in").is_visible()
        assert page.locator("#dashboard").is_hidden()
        # the 401 itself is the only thing chromium reports
        assert [e for e in errors.all() if "status of 401" not in e] == []


def test_forget_token_clears_it_and_asks_again(served_api: str, read_token: str) -> None:
    with chromium_page() as (page, errors):
        page.goto(served_api + "/")
        page.fill("#token-input", read_token)
        page.click("button[type=submit]")
        page.locator("#dashboard").wait_for(state="visible", timeout=30_000)
        page.reload()  # the token was kept
        page.locator("#dashboard").wait_for(state="visible", timeout=30_000)

        page.click("#forget-token")

        assert page.locator("#sign-in").is_visible()
        assert page.evaluate("localStorage.length") == 0
        assert errors.all() == []


# ----------------------------------------------------------------------------------------
# Against a running pipeline: `up` (broker, database, worker with the default engines, sink,
# feed, API) with VPIN on 2-second bars and a 10-bucket window, so values come within
# seconds of the worker starting.

FAST_VPIN = {"NAUTILUS_VPIN__BAR_SECONDS": "2", "NAUTILUS_VPIN__WINDOW": "10",
             "NAUTILUS_VPIN__SIGMA_BARS": "10", "NAUTILUS_VPIN__GRACE_MS": "500",
             "NAUTILUS_VPIN__ALERT_MIN_HISTORY": "20"}


@pytest.fixture
def running_up(base_env: dict[str, str], traversable_tmp_path: Path,
               tmp_path: Path) -> Iterator[Endpoints]:
    """`nautilus-streams up` in a subprocess on a fresh state dir, stopped after the test."""
    state_dir = traversable_tmp_path / "state"
    out = tmp_path / "up.log"
    with open(out, "wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams", "up", "--state-dir", str(state_dir),
             "--api-port", "0"],
            cwd=tmp_path, env={**base_env, **FAST_VPIN}, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + UP_READY_S
        while (endpoints := Endpoints.read(state_dir)) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"up not ready (code {proc.poll()}):\n{out.read_text()}")
            time.sleep(0.2)
        yield endpoints
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _points(page: object, symbol: str) -> int:
    card = page.locator(f'[data-symbol="{symbol}"]')  # type: ignore[attr-defined]
    return int(card.get_attribute("data-points"))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_live_vpin_points_arrive_from_a_running_pipeline(
    running_up: Endpoints, tmp_path: Path
) -> None:
    token, info = tokens.create_token(running_up.database_url, "read", "dashboard test")
    with chromium_page(height=1000) as (page, errors):
        page.goto(running_up.api + "/")
        page.fill("#token-input", token)
        page.click("button[type=submit]")

        # a symbol with a VPIN value, then that symbol's chart growing while we watch
        first = page.wait_for_function(
            """() => [...document.querySelectorAll('[data-symbol]')]
                 .find((card) => Number(card.dataset.points) > 0)?.dataset.symbol""",
            timeout=LIVE_POINTS_S * 1000, polling=500).json_value()
        seen = _points(page, first)
        page.wait_for_function(
            f"""() => Number(document.querySelector('[data-symbol="{first}"]').dataset.points)
                 >= {seen + 20}""", timeout=LIVE_POINTS_S * 1000, polling=500)
        page.locator('[data-engine="vpin"]').first.wait_for(timeout=60_000)

        assert page.locator(f'[data-symbol="{first}"] canvas').count() >= 1
        assert page.locator("#connection").get_attribute("data-state") == "live"
        assert errors.all() == []
        save_screenshot(page, "dashboard.png", tmp_path)
    tokens.revoke_token(running_up.database_url, info.token_id)
