"""The sources' HTTP client against a real loopback server (the fake FRED): rate limit,
retries and their waits, refusals, connection errors, conditional requests. Waits are
recorded by an injected sleep, never slept."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.feeds.sources.exceptions import FetchError, PayloadError
from streams.feeds.sources.http import HttpFetcher, HttpPolicy, TokenBucket, next_offset
from tests.streams.feeds.sources.fake_fred import API_KEY, FakeFred


@pytest.fixture
def fake() -> Iterator[FakeFred]:
    with FakeFred() as server:
        server.add("DGS10", "2024-01-02", "3.95", "2024-01-03")
        yield server


class Waits(list[float]):
    """A sleep that records what it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _fetcher(policy: HttpPolicy, waits: Waits, draw: float = 0.5) -> HttpFetcher:
    return HttpFetcher("fred", policy, TokenBucket(1_000, 1_000, sleep=waits), sleep=waits,
                       draw=lambda: draw)


def _get(fetcher: HttpFetcher, fake: FakeFred, path: str = "/series/observations"):  # type: ignore[no-untyped-def]
    return fetcher.get(f"{fake.url}{path}", {"series_id": "DGS10", "file_type": "json"},
                       secret_params={"api_key": API_KEY})


def test_the_bucket_spends_its_burst_then_waits_one_interval_per_request() -> None:
    now = [0.0]
    waits = Waits()

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(2.0, burst=3, clock=lambda: now[0], sleep=sleep)
    first = [bucket.take() for _ in range(5)]
    now[0] += 10.0  # idle: the bucket refills, but to its burst only
    second = [bucket.take() for _ in range(4)]

    assert first == [0.0, 0.0, 0.0, 0.5, 0.5]
    assert second == [0.0, 0.0, 0.0, 0.5]


def test_a_429_is_retried_after_what_retry_after_asks(fake: FakeFred) -> None:
    waits = Waits()
    fake.fail_next(429, retry_after="3")

    response = _get(_fetcher(HttpPolicy(backoff_s=0.001), waits), fake)

    assert response.status == 200 and b"3.95" in response.body
    assert waits == [3.0]
    assert len(fake.requests) == 2


def test_5xx_are_retried_after_full_jitter_backoff_capped(fake: FakeFred) -> None:
    waits = Waits()
    fake.fail_next(503, times=2)
    fake.fail_next(500)
    policy = HttpPolicy(backoff_s=0.1, backoff_max_s=0.3)

    response = _get(_fetcher(policy, waits, draw=0.5), fake)

    # half (the draw) of 0.1, 0.2, then min(0.3, 0.4)
    assert waits == pytest.approx([0.05, 0.1, 0.15])
    assert response.status == 200 and len(fake.requests) == 4


def test_retries_used_up_is_an_error_naming_the_status(fake: FakeFred) -> None:
    waits = Waits()
    fake.fail_next(502, times=3)

    with pytest.raises(FetchError, match=r"HTTP 502; gave up after 3 tries"):
        _get(_fetcher(HttpPolicy(max_retries=2, backoff_s=0.001), waits), fake)
    assert len(fake.requests) == 3 and len(waits) == 2


def test_a_retry_after_beyond_the_longest_backoff_ends_the_fetch_at_once(fake: FakeFred) -> None:
    waits = Waits()
    fake.fail_next(429, retry_after="3600")

    with pytest.raises(FetchError, match=r"retry after 3600 s, longer than the longest"):
        _get(_fetcher(HttpPolicy(backoff_max_s=60), waits), fake)
    assert waits == [] and len(fake.requests) == 1


def test_a_refusal_is_not_retried_and_never_shows_the_key(fake: FakeFred) -> None:
    waits = Waits()

    with pytest.raises(FetchError) as refused:
        _get(_fetcher(HttpPolicy(), waits), fake, path="/nowhere")

    message = str(refused.value)
    assert "HTTP 404: Not Found: /fred/nowhere?" in message
    assert API_KEY not in message and "api_key=***" in message
    assert waits == [] and len(fake.requests) == 1


def test_no_log_line_shows_the_key_whatever_the_level(fake: FakeFred,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    fake.fail_next(503)

    with caplog.at_level(logging.DEBUG):
        _get(_fetcher(HttpPolicy(backoff_s=0.0), Waits()), fake)

    assert "source request retried source=fred" in caplog.text
    assert API_KEY not in caplog.text


def test_connection_errors_are_retried_then_reported() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits = Waits()
    fetcher = _fetcher(HttpPolicy(max_retries=1, backoff_s=0.001), waits)

    with pytest.raises(FetchError, match=r"ConnectError.*gave up after 2 tries"):
        fetcher.get(f"http://127.0.0.1:{port}/fred/series/observations")
    assert len(waits) == 1


def test_a_304_is_answered_from_the_cache_on_disk(fake: FakeFred, tmp_path: Path) -> None:
    policy = HttpPolicy(cache_dir=tmp_path)
    first = _get(_fetcher(policy, Waits()), fake)
    again = _fetcher(policy, Waits())  # another process: only the disk is shared

    second = _get(again, fake)

    assert not first.from_cache and second.from_cache and second.body == first.body
    assert "if-none-match" not in fake.requests[0].headers
    assert "if-none-match" in fake.requests[1].headers and again.cache_hits == 1
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b"DGS10" in stored and API_KEY.encode() not in stored


def test_a_changed_resource_is_fetched_again_and_the_cache_updated(fake: FakeFred,
                                                                   tmp_path: Path) -> None:
    fetcher = _fetcher(HttpPolicy(cache_dir=tmp_path), Waits())
    _get(fetcher, fake)
    fake.add("DGS10", "2024-01-03", "3.91", "2024-01-04")

    changed = _get(fetcher, fake)
    unchanged = _get(fetcher, fake)

    assert not changed.from_cache and b"3.91" in changed.body
    assert unchanged.from_cache and unchanged.body == changed.body


def test_the_sources_headers_go_with_every_request(fake: FakeFred) -> None:
    agent = "nautilus-streams test@example.com"
    fetcher = HttpFetcher("edgar", HttpPolicy(backoff_s=0.0), TokenBucket(1_000, 1_000),
                          headers={"User-Agent": agent}, sleep=Waits())
    fake.fail_next(503)

    _get(fetcher, fake)

    assert [q.headers["user-agent"] for q in fake.requests] == [agent, agent]


def test_an_empty_page_before_the_count_is_a_partial_payload() -> None:
    assert next_offset(0, 2, 5, "x") == 2
    assert next_offset(4, 1, 5, "x") is None
    with pytest.raises(PayloadError, match="count says 5 items, the page at offset 2 has none"):
        next_offset(2, 0, 5, "x")
