"""The on-disk cache behind conditional requests: one entry per URL (its query included, the
secret parameters left out), holding the last 200 response's body and its validators.

An entry is a body file and a small JSON file of validators (`ETag`, `Last-Modified`), each
written to a temporary file and renamed, so a crash leaves the old entry or the new one, never
half of one. An entry that cannot be read is treated as absent: the next request is
unconditional and rewrites it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A stored 200 response: its body and the validators to ask whether it changed."""

    body: bytes
    etag: str | None
    last_modified: str | None

    @property
    def conditional_headers(self) -> dict[str, str]:
        """If-None-Match / If-Modified-Since for a request that may be answered 304."""
        headers = {}
        if self.etag is not None:
            headers["If-None-Match"] = self.etag
        if self.last_modified is not None:
            headers["If-Modified-Since"] = self.last_modified
        return headers


class ResponseCache:
    """Responses by request, under `directory` (created when first written)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get(self, request_id: str) -> CachedResponse | None:
        """The stored response of a request (`request_id`: its URL and public query)."""
        base = self._base(request_id)
        try:
            meta = orjson.loads(base.with_suffix(".json").read_bytes())
            body = base.with_suffix(".body").read_bytes()
        except FileNotFoundError:
            return None
        except (OSError, orjson.JSONDecodeError) as exc:
            log.warning("http cache entry unreadable path=%s error=%s: ignored", base, exc)
            return None
        if not isinstance(meta, dict) or meta.get("request") != request_id:
            return None
        return CachedResponse(body, meta.get("etag"), meta.get("last_modified"))

    def put(self, request_id: str, response: CachedResponse) -> None:
        """Store a response; the body first, so validators never point at a missing body."""
        base = self._base(request_id)
        base.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(base.with_suffix(".body"), response.body)
        meta = {"request": request_id, "etag": response.etag,
                "last_modified": response.last_modified}
        _write_atomically(base.with_suffix(".json"), orjson.dumps(meta))

    def _base(self, request_id: str) -> Path:
        digest = hashlib.sha256(request_id.encode()).hexdigest()
        return self.directory / digest[:2] / digest


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
