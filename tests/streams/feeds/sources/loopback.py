"""A real HTTP server on loopback for the fake providers: each fake gives a function that
answers a GET, this runs it in a thread and records what was asked. `LoopbackFake` is the
base of the fakes: served while entered, its `requests` and `url` those of its server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Self
from urllib.parse import parse_qs, unquote, urlparse


@dataclass(frozen=True)
class Request:
    """One GET as the server saw it: path (unquoted), query (last value of each name),
    headers (names in lower case)."""

    path: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]


Serve = Callable[[Request], Answer]


class LoopbackServer:
    """Serves `serve` on 127.0.0.1 (a free port) while entered; `requests` in arrival order."""

    def __init__(self, serve: Serve) -> None:
        self._serve = serve
        self.requests: list[Request] = []

    def __enter__(self) -> LoopbackServer:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                parsed = urlparse(self.path)
                request = Request(unquote(parsed.path), {k: v[-1] for k, v in
                                                parse_qs(parsed.query).items()},
                                  {k.lower(): v for k, v in self.headers.items()})
                server.requests.append(request)
                answer = server._serve(request)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"


class LoopbackFake:
    """A fake provider on its own `LoopbackServer` while entered; `_serve` answers each GET."""

    def _serve(self, request: Request) -> Answer:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._server = LoopbackServer(self._serve).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.__exit__(*exc)

    @property
    def requests(self) -> list[Request]:
        return self._server.requests

    @property
    def url(self) -> str:
        return self._server.url
