"""The HTTP client every source fetches with: rate limit, retries, timeouts, conditional
requests, pagination.

- Rate: a token bucket per source (`TokenBucket`), taken before every request, retries
  included, so a source never asks more often than its provider allows.
- Retries: on 429, any 5xx, timeouts and connection errors, up to `max_retries` more tries,
  each after a full-jitter exponential backoff (uniformly between 0 and
  min(`backoff_max_s`, `backoff_s` * 2^attempt)); a `Retry-After` (seconds or HTTP date) is
  waited at least, and one longer than `backoff_max_s` ends the fetch at once with the reason.
  Other 4xx are not retried: a FetchError with the status and the provider's message.
- Conditional requests: a 200 with an `ETag` or `Last-Modified` is stored on disk
  (`streams.feeds.sources.cache`); the next request for the same URL sends `If-None-Match` /
  `If-Modified-Since`, and a 304 is answered from the stored body.
- Secrets (API keys sent as query parameters) are passed apart from the other parameters:
  they are left out of the cache key, of log lines and of error messages, and their values
  are blanked in any text a provider sends back; httpx's own request log (which prints
  whole URLs) is kept below its threshold.
- Pagination: `paginate` walks pages by cursor; `next_offset` is the offset/limit/count
  arithmetic, which refuses a short page that a count says is not the last (a partial payload).
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar
from urllib.parse import urlencode

import httpx
import orjson

from streams.feeds.sources.cache import CachedResponse, ResponseCache
from streams.feeds.sources.exceptions import FetchError, PayloadError

if TYPE_CHECKING:
    from streams.settings import Settings

log = logging.getLogger(__name__)
# httpx logs every request's URL at INFO, query included, and keys travel in queries (FRED's
# api_key): its records below WARNING never go anywhere, whatever the log level.
logging.getLogger("httpx").setLevel(logging.WARNING)

C = TypeVar("C")
T = TypeVar("T")
Sleep = Callable[[float], None]
RETRIED_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
MESSAGE_CHARS = 300  # of a provider's error body, in a FetchError


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """How requests behave (from the NAUTILUS_SOURCES_* settings); `cache_dir` None: no cache."""

    timeout_s: float = 30.0
    max_retries: int = 5
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    cache_dir: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpPolicy:
        cache_dir = settings.sources_cache_dir or settings.state_dir / "http-cache"
        return cls(timeout_s=settings.sources_timeout_ms / 1e3,
                   max_retries=settings.sources_max_retries,
                   backoff_s=settings.sources_backoff_ms / 1e3,
                   backoff_max_s=settings.sources_backoff_max_ms / 1e3,
                   cache_dir=cache_dir.expanduser())

    def backoff(self, attempt: int, draw: Callable[[], float] = random.random) -> float:
        """Seconds before retry number `attempt` + 1 (0-based): full jitter."""
        return draw() * min(self.backoff_max_s, self.backoff_s * 2.0 ** attempt)


class TokenBucket:
    """`rate_per_s` tokens a second, at most `burst` saved up; each request takes one, waiting
    for it when none is left. Thread-safe."""

    def __init__(self, rate_per_s: float, burst: int = 1, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Sleep = time.sleep) -> None:
        if not rate_per_s > 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate_per_s > 0 and burst >= 1, got "
                             f"{rate_per_s} and {burst}")
        self.rate_per_s, self.burst = rate_per_s, burst
        self._clock, self._sleep = clock, sleep
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take a token, waiting until there is one; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            refill = max(0.0, now - self._last) * self.rate_per_s
            self._tokens = min(float(self.burst), self._tokens + refill)
            self._last = max(now, self._last)
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            wait_s = (1 - self._tokens) / self.rate_per_s
            self._sleep(wait_s)
            self._tokens = 0.0  # the token that came while waiting is this request's
            self._last += wait_s
            return wait_s


@dataclass(frozen=True, slots=True)
class Response:
    """A successful response: its body, and whether it came from the cache (a 304)."""

    status: int
    body: bytes
    from_cache: bool = False

    def json(self, what: str) -> object:
        """The body as JSON; a PayloadError naming `what` when it is not."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise PayloadError(f"{what}: response is not JSON ({exc})") from None


class HttpFetcher:
    """GET requests of one source, under its rate limit, with retries and the cache.

    `sleep` and `draw` (the jitter's random numbers) are injectable so tests check the waits
    without waiting them.
    """

    def __init__(self, source: str, policy: HttpPolicy, bucket: TokenBucket, *,
                 headers: Mapping[str, str] | None = None, sleep: Sleep = time.sleep,
                 draw: Callable[[], float] = random.random) -> None:
        self.source, self.policy, self.bucket = source, policy, bucket
        self._sleep, self._draw = sleep, draw
        self._cache = (ResponseCache(policy.cache_dir / source)
                       if policy.cache_dir is not None else None)
        self._client = httpx.Client(timeout=policy.timeout_s, headers=dict(headers or {}),
                                    follow_redirects=True)
        self.requests = 0  # sent, retries included
        self.cache_hits = 0  # 304s answered from the cache

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(self, url: str, params: Mapping[str, str] | None = None, *,
            secret_params: Mapping[str, str] | None = None) -> Response:
        """GET `url` with `params` and `secret_params` (never logged, cached by or shown);
        a Response for a 2xx or a 304 answered from the cache, else a FetchError."""
        params, secrets = dict(params or {}), dict(secret_params or {})
        request_id = f"{url}?{urlencode(sorted(params.items()))}" if params else url
        cached = self._cache.get(request_id) if self._cache is not None else None
        headers = cached.conditional_headers if cached is not None else {}
        for attempt in range(self.policy.max_retries + 1):
            self.bucket.take()
            self.requests += 1
            try:
                answer = self._client.get(url, params={**params, **secrets}, headers=headers)
            except RETRIED_ERRORS as exc:
                problem, retry_after = f"{type(exc).__name__}: {_redacted(str(exc), secrets)}", None
            else:
                done = self._done(request_id, answer, cached, secrets)
                if done is not None:
                    return done
                problem = f"HTTP {answer.status_code}"
                retry_after = _retry_after_s(answer.headers.get("Retry-After"))
            if attempt == self.policy.max_retries:
                raise FetchError(f"{self.source} {request_id}: {problem}; gave up after "
                                 f"{attempt + 1} tries")
            wait_s = self.policy.backoff(attempt, self._draw)
            if retry_after is not None:
                if retry_after > self.policy.backoff_max_s:
                    raise FetchError(f"{self.source} {request_id}: {problem}, retry after "
                                     f"{retry_after:.0f} s, longer than the longest backoff "
                                     f"({self.policy.backoff_max_s:.0f} s): try later")
                wait_s = max(wait_s, retry_after)
            log.warning("source request retried source=%s request=%s problem=%s attempt=%d "
                        "wait_s=%.3f", self.source, request_id, problem, attempt + 1, wait_s)
            self._sleep(wait_s)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _done(self, request_id: str, answer: httpx.Response, cached: CachedResponse | None,
              secrets: Mapping[str, str]) -> Response | None:
        """The Response for a final answer, None for one to retry; FetchError for a refusal."""
        status = answer.status_code
        if status == 304 and cached is not None:
            self.cache_hits += 1
            return Response(200, cached.body, from_cache=True)
        if 200 <= status < 300:
            self._store(request_id, answer)
            return Response(status, answer.content)
        if status == 429 or status >= 500:
            return None
        message = _redacted(answer.text[:MESSAGE_CHARS], secrets).strip()
        raise FetchError(f"{self.source} {request_id}: HTTP {status}: {message or 'no message'}")

    def _store(self, request_id: str, answer: httpx.Response) -> None:
        etag, modified = answer.headers.get("ETag"), answer.headers.get("Last-Modified")
        if self._cache is None or (etag is None and modified is None):
            return
        try:
            self._cache.put(request_id, CachedResponse(answer.content, etag, modified))
        except OSError as exc:  # a full or read-only disk costs the cache, not the fetch
            log.warning("http cache not written source=%s error=%s", self.source, exc)


def _retry_after_s(value: str | None) -> float | None:
    """Retry-After as seconds from now: delay-seconds or an HTTP date; None if absent/bad."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _redacted(text: str, secrets: Mapping[str, str]) -> str:
    for value in secrets.values():
        if value:
            text = text.replace(value, "***")
    return text


@dataclass(frozen=True, slots=True)
class Page(Generic[C, T]):
    """One page of results and the cursor of the next one (None: this was the last)."""

    items: Sequence[T]
    next: C | None


def paginate(fetch_page: Callable[[C], Page[C, T]], first: C) -> Iterator[T]:
    """Every item of every page, from the page at cursor `first` on."""
    cursor: C | None = first
    while cursor is not None:
        page = fetch_page(cursor)
        yield from page.items
        cursor = page.next


def next_offset(offset: int, received: int, total: int, what: str) -> int | None:
    """The offset of the page after one of `received` items at `offset`, `total` in all;
    None after the last. A PayloadError for an empty page before the end (partial)."""
    end = offset + received
    if end >= total:
        return None
    if received == 0:
        raise PayloadError(f"{what}: the count says {total} items, the page at offset "
                           f"{offset} has none (partial payload)")
    return end
