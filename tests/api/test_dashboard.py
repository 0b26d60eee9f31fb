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
from streams import codec, kafka
from streams.embedded import free_port
from streams.endpoints import Endpoints
from streams.schema import Event
from streams.settings import Settings
from streams.storage import tokens
from tests.api.data import unique_symbol
from tests.browser import chromium_page, save_screenshot
from tests.factories import T0, event

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
    etag = script.headers["etag"]
    again = api_client.get("/static/dashboard.js", headers={"If-None-Match": etag})

    assert again.status_code == 304 and again.headers["cache-control"] == "no-cache"
    assert api_client.get("/static/").status_code == 404  # no listing
    assert api_client.get("/static/..%2fmain.py").status_code == 404
    assert (STATIC_DIR / "live.js").exists()


def test_the_data_routes_still_need_a_token(api_client: TestClient) -> None:
    assert api_client.get("/api/v1/engines").status_code == 401
    assert api_client.get("/api/v1/vpin/latest").status_code == 401


def _publish(brokers: str, topic: str, key: str, *records: Event) -> None:
    producer = kafka.producer(brokers)
    for record in records:
        producer.produce(topic, key=key.encode(), value=codec.encode(record))
    assert producer.flush(10) == 0


def _open_dashboard(page: object, url: str, token: str) -> None:
    page.goto(url + "/")  # type: ignore[attr-defined]
    page.fill("#token-input", token)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.getElementById('connection').dataset.state === 'live'", timeout=30_000)


class ServedApp:
    """The app on a real uvicorn (the browser needs a socket); stop and start it again on the
    same port to cut the page's connections."""

    def __init__(self) -> None:
        self.port = free_port("127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                     log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(30)
            self._server = None


@pytest.fixture
def served(api_settings: Settings) -> Iterator[ServedApp]:
    """The app served on the session's broker and database."""
    app.dependency_overrides[app_settings] = lambda: api_settings
    served = ServedApp()
    served.start()
    try:
        yield served
    finally:
        served.stop()
        app.dependency_overrides.clear()


@pytest.fixture
def served_api(served: ServedApp) -> str:
    return served.url


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
        _open_dashboard(page, served_api, read_token)
        page.reload()  # the token was kept
        page.locator("#dashboard").wait_for(state="visible", timeout=30_000)

        page.click("#forget-token")

        assert page.locator("#sign-in").is_visible()
        assert page.evaluate("localStorage.length") == 0
        assert errors.all() == []


def test_a_symbol_waits_for_its_first_vpin_value_then_plots_live_readings(
    served_api: str, read_token: str, kafka_brokers: str
) -> None:
    symbol = unique_symbol("D")
    vpin_health = event("EngineHealth", engine="vpin", worker=f"test-{symbol}",
                        params={"window": 50}, ts_event=time.time_ns())
    with chromium_page() as (page, errors):
        _open_dashboard(page, served_api, read_token)
        card = page.locator(f'[data-symbol="{symbol}"]')

        _publish(kafka_brokers, "logic.engine.health", "vpin", vpin_health)
        page.locator(f'[data-engine="vpin"]:has-text("{vpin_health.worker}")').wait_for()
        _publish(kafka_brokers, "logic.vpin", symbol, *(
            event("VpinReading", symbol=symbol, bucket=b, ts_event=T0 + b, vpin=None,
                  vpin_cdf=None) for b in (1, 2, 3)))
        card.locator("text=bucket 3 so far").wait_for(timeout=30_000)
        waiting = card.inner_text()
        _publish(kafka_brokers, "logic.vpin", symbol, *(
            event("VpinReading", symbol=symbol, bucket=b, ts_event=T0 + b, vpin=0.25 + b / 1000,
                  vpin_cdf=0.5) for b in range(50, 53)))
        page.wait_for_function(
            f"() => document.querySelector('[data-symbol=\"{symbol}\"]').dataset.points === '3'",
            timeout=30_000, polling=200)

        assert "waiting for the first VPIN value (needs 50 buckets; bucket 3 so far)" in waiting
        assert "VPIN 0.302 · CDF 0.50 · bucket 52" in card.inner_text()
        assert card.locator("canvas").count() >= 1
        assert errors.all() == []


def test_alerts_rise_and_clear_and_positions_and_pnl_follow_the_live_topics(
    served_api: str, read_token: str, kafka_brokers: str
) -> None:
    account, symbol = unique_symbol("ACC"), unique_symbol("P")
    alert_id = f"vpin:{symbol}:{T0}:120"
    raised = event("Alert", alert_id=alert_id, symbol=symbol, state="raised",
                   message="VPIN 0.61 at CDF 0.93 reached 0.9: toxic flow")
    cleared = raised.model_copy(update={"state": "cleared", "ts_event": T0 + 5_000})
    rejected_symbol = unique_symbol("R")
    rejected = event("Alert", alert_id=f"order_rejected:{account}:o1", kind="order_rejected",
                     symbol=rejected_symbol, state="raised",
                     message="order o1 rejected: risk: toxicity_gate")
    position = event("Position", account=account, symbol="AAPL", quantity=-10)
    snapshot = event("PortfolioSnapshot", account=account, equity="100012.10",
                     realized_pnl="12.50", unrealized_pnl="-0.40")
    with chromium_page() as (page, errors):
        _open_dashboard(page, served_api, read_token)
        alerts = page.locator("#alerts")

        _publish(kafka_brokers, "logic.risk.alerts", symbol, raised)
        alerts.locator(f"[data-active-alerts] >> text={symbol}").wait_for(timeout=30_000)
        _publish(kafka_brokers, "logic.risk.alerts", symbol, cleared)
        alerts.locator(f"[data-active-alerts] >> text={symbol}").wait_for(
            state="detached", timeout=30_000)
        _publish(kafka_brokers, "logic.portfolio", account, snapshot)
        _publish(kafka_brokers, "logic.positions", account, position)
        card = page.locator(f'[data-account="{account}"]')
        card.locator('[data-position="AAPL"]').wait_for(timeout=30_000)

        # a rejected order is raised once and never cleared: a transition, never active
        _publish(kafka_brokers, "logic.risk.alerts", rejected_symbol, rejected)
        alerts.locator(f"text={rejected_symbol}").wait_for(timeout=30_000)
        assert alerts.locator(f"[data-active-alerts] >> text={rejected_symbol}").count() == 0

        transitions = alerts.inner_text()
        assert transitions.index(f"cleared\t{symbol}") < transitions.index(f"raised\t{symbol}")
        figures = card.locator(".figures").inner_text()
        assert "100,012.10" in figures and "12.10" in figures  # equity; P&L 12.50 - 0.40
        assert card.locator('[data-position="AAPL"]').inner_text().split("\t")[:2] == [
            "AAPL", "-10"]
        assert errors.all() == []


def test_the_page_reconnects_when_the_stream_closes_and_picks_up_new_readings(
    served: ServedApp, read_token: str, kafka_brokers: str
) -> None:
    symbol = unique_symbol("R")
    with chromium_page() as (page, errors):
        _open_dashboard(page, served.url, read_token)

        served.stop()  # every websocket closes
        page.wait_for_function(
            "() => document.getElementById('connection').dataset.state === 'retrying'",
            timeout=30_000, polling=100)
        retrying = page.locator("#connection").inner_text()
        served.start()
        page.wait_for_function(
            "() => document.getElementById('connection').dataset.state === 'live'",
            timeout=90_000, polling=200)
        _publish(kafka_brokers, "logic.vpin", symbol,
                 event("VpinReading", symbol=symbol, bucket=60, ts_event=T0, vpin=0.4))
        page.locator(f'[data-symbol="{symbol}"][data-points="1"]').wait_for(timeout=30_000)

        assert re.search(r"closed \(code \d+.*\); reconnecting in \d+ s", retrying), retrying
        # while the API was down, chromium reported the refused connections and nothing else
        assert [e for e in errors.all() if "ERR_CONNECTION_REFUSED" not in e] == []


def test_a_token_revoked_while_the_page_is_open_is_refused_at_the_next_connection(
    served: ServedApp, database_url: str
) -> None:
    token, info = tokens.create_token(database_url, "read", "dashboard revoked")
    with chromium_page() as (page, errors):
        _open_dashboard(page, served.url, token)

        tokens.revoke_token(database_url, info.token_id)
        served.stop()  # the open sockets were let in with the token; new ones are checked
        served.start()
        problem = page.locator("#token-problem")
        problem.wait_for(state="visible", timeout=90_000)

        # the reopened stream closes with 1008, or the reload it starts gets a 401 first
        assert re.search(r"refused this token \((401|live stream closed with 1008)",
                         problem.inner_text()), problem.inner_text()
        assert page.locator("#dashboard").is_hidden()
        assert page.locator("#connection").get_attribute("data-state") == "refused"
        assert [e for e in errors.all() if not re.search(
            "ERR_CONNECTION_REFUSED|status of 401", e)] == []


# ----------------------------------------------------------------------------------------
# Against a running pipeline: `up` as a new user runs it (broker, database, worker with the
# default engines, sink, feed with its hour of simulated history, API).


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
            cwd=tmp_path, env=base_env, stdout=sink, stderr=subprocess.STDOUT)
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


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_live_vpin_points_arrive_from_a_running_pipeline(
    running_up: Endpoints, tmp_path: Path, traversable_tmp_path: Path
) -> None:
    token, info = tokens.create_token(running_up.database_url, "read", "dashboard test")
    with chromium_page(height=1000) as (page, errors):
        _open_dashboard(page, running_up.api, token)

        # a symbol with a VPIN value over the websocket, then 5 more into its chart while
        # we watch (counted as they arrive: a chart keeps its symbol's newest hour, so with
        # an hour of history its number of points stops growing; live, a symbol fills about
        # five buckets a minute)
        first = page.wait_for_function(
            """() => [...document.querySelectorAll('[data-symbol]')]
                 .find((card) => Number(card.dataset.livePoints) > 0)?.dataset.symbol""",
            timeout=LIVE_POINTS_S * 1000, polling=500).json_value()
        card = page.locator(f'[data-symbol="{first}"]')
        seen = int(card.get_attribute("data-live-points"))
        page.wait_for_function(
            f"""() => Number(document.querySelector('[data-symbol="{first}"]')
                 .dataset.livePoints) >= {seen + 5}""",
            timeout=LIVE_POINTS_S * 1000, polling=500)
        page.locator('[data-engine="vpin"]').first.wait_for(timeout=60_000)
        # vpin_guard's paper fills, valued by the portfolio engine (the first come at the
        # live edge, after the history)
        page.locator('[data-account="paper"]').wait_for(timeout=LIVE_POINTS_S * 1000)

        assert int(card.get_attribute("data-points")) > 0
        assert card.locator("canvas").count() >= 1
        assert page.locator("#connection").get_attribute("data-state") == "live"
        assert errors.all() == []
        save_screenshot(page, "dashboard.png", tmp_path)
    tokens.revoke_token(running_up.database_url, info.token_id)
    # the page sent the token in headers and as the websocket's ?token=: no process of `up`
    # logged it (running_up's state dir)
    logs = sorted((traversable_tmp_path / "state" / "logs").glob("*.log"))
    secret = token.split("_", 2)[2]
    assert {log.name for log in logs} >= {"api.log", "worker.log", "sink.log", "feed.log"}
    assert [log.name for log in logs if secret in log.read_text(errors="replace")] == []
    assert "[redacted]" in (traversable_tmp_path / "state" / "logs" / "api.log").read_text()
