"""HTTP servers and silent ports on 127.0.0.1 for the endpoint checks' tests.

``http_server`` starts a real threaded HTTP server whose responses are set per path:

    def test_health(http_server):
        server = http_server({"/api/health": (200, {"status": "healthy"})})
        server.set("/slow", 200, "late", delay=2.0)
        server.set("/stuck", HANG)
        ...  # point the check at server.url("/api/health")

A route is a ``Route``, a tuple ``(status, body[, headers[, delay]])``, or one of the
behaviours ``HANG`` (accept the request and never respond until the test ends),
``CLOSE`` (close the connection without a response) and ``RESET`` (abort the
connection with a TCP reset). A body that is a dict or a list is sent as JSON.
Paths without a route get 404.

``silent_port`` is a listening socket that never accepts a connection, for timeouts.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, TypeAlias
from urllib.parse import urlsplit

import pytest

HANG: Literal["hang"] = "hang"
CLOSE: Literal["close"] = "close"
RESET: Literal["reset"] = "reset"

Behaviour: TypeAlias = Literal["respond", "hang", "close", "reset"]
Body: TypeAlias = bytes | str | dict[str, Any] | list[Any]
RouteSpec: TypeAlias = "Route | tuple[Any, ...] | Literal['hang', 'close', 'reset']"


@dataclass(frozen=True)
class Route:
    """The response the server sends for one path."""

    status: int = 200
    body: Body = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    behaviour: Behaviour = "respond"

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        """Return the body as bytes and the headers, with a Content-Type for JSON."""
        headers = dict(self.headers)
        if isinstance(self.body, (dict, list)):
            headers.setdefault("Content-Type", "application/json")
            return json.dumps(self.body).encode(), headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return self.body.encode(), headers
        return self.body, headers


def to_route(spec: RouteSpec) -> Route:
    """Convert a route spec to a ``Route``; raise ValueError for an invalid one."""
    if isinstance(spec, Route):
        return spec
    if spec in (HANG, CLOSE, RESET):
        return Route(behaviour=spec)
    if isinstance(spec, tuple) and 1 <= len(spec) <= 4 and isinstance(spec[0], int):
        return Route(*spec)
    raise ValueError(
        f"invalid route {spec!r}: expected a Route, (status, body[, headers[, delay]]) "
        f"or one of {HANG!r}, {CLOSE!r}, {RESET!r}"
    )


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float


class HttpServer:
    """A running HTTP server on 127.0.0.1 with a route table that tests may change."""

    def __init__(self, routes: Mapping[str, RouteSpec] | None = None) -> None:
        self._lock = threading.Lock()
        self._routes = {path: to_route(spec) for path, spec in (routes or {}).items()}
        self._requests: list[RecordedRequest] = []
        # Set when the test ends: it releases hanging and delayed handlers at once.
        self._stopping = threading.Event()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self.host = "127.0.0.1"
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"http_server:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def url(self, path: str = "/") -> str:
        """Return the full URL of ``path`` on this server."""
        return f"http://{self.host}:{self.port}{path}"

    def set(
        self,
        path: str,
        status: int | Literal["hang", "close", "reset"] = 200,
        body: Body = b"",
        *,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Set the response for ``path``, or a behaviour passed as ``status``."""
        if isinstance(status, str):
            route = to_route(status)
        else:
            route = Route(status, body, dict(headers or {}), delay)
        with self._lock:
            self._routes[path] = route

    def route_for(self, path: str) -> Route | None:
        """Return the route of ``path``, trying it with its query string first."""
        with self._lock:
            return self._routes.get(path) or self._routes.get(urlsplit(path).path)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def count(self, path: str | None = None) -> int:
        """Return how many requests arrived, for ``path`` alone when it is given."""
        return sum(1 for r in self.requests if path is None or r.path == path)

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, or less when the server is stopping."""
        self._stopping.wait(seconds)

    def hang(self) -> None:
        """Block until the server stops."""
        self._stopping.wait()

    def stop(self) -> None:
        """Release hanging requests, stop serving and close the listening socket."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _make_handler(server: HttpServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "opscheck-test"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            server.record(
                RecordedRequest(
                    method=self.command,
                    path=self.path,
                    headers=dict(self.headers.items()),
                    body=body,
                    received_at=time.time(),
                )
            )

            route = server.route_for(self.path)
            if route is None:
                route = Route(404, f"no route for {self.path}\n")
            if route.delay:
                server.wait(route.delay)

            if route.behaviour == "hang":
                server.hang()
                self.close_connection = True
                return
            if route.behaviour == "close":
                self.close_connection = True
                return
            if route.behaviour == "reset":
                # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                return

            payload, headers = route.encoded()
            self.send_response(route.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            # pytest captures stderr; the request log is in server.requests instead.
            pass

    return Handler


@pytest.fixture
def http_server() -> Iterator[Callable[..., HttpServer]]:
    """Return a factory that starts HTTP servers, which stop when the test ends.

    ``http_server(routes)`` takes a mapping of path to route (see the module docstring)
    and returns a running ``HttpServer``.
    """
    started: list[HttpServer] = []

    def start(routes: Mapping[str, RouteSpec] | None = None) -> HttpServer:
        server = HttpServer(routes)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@dataclass(frozen=True)
class SilentPort:
    """A listening TCP port on 127.0.0.1 that never accepts a connection.

    The kernel completes the TCP handshake for the first connections (up to the
    listen backlog), so a client connects and then waits for a response until its
    read timeout. Later connections wait in the handshake until their connect timeout.
    """

    host: str
    port: int

    def url(self, path: str = "/") -> str:
        """Return an http URL of ``path`` on this port."""
        return f"http://{self.host}:{self.port}{path}"


@pytest.fixture
def silent_port() -> Iterator[SilentPort]:
    """Return a port that is listening but never responds; closed when the test ends."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        yield SilentPort("127.0.0.1", listener.getsockname()[1])
    finally:
        listener.close()


__all__ = [
    "CLOSE",
    "HANG",
    "RESET",
    "HttpServer",
    "RecordedRequest",
    "Route",
    "SilentPort",
    "http_server",
    "silent_port",
    "to_route",
]
