"""Two ways to reach one emulator core: in process, and over HTTP on loopback.

An emulator is a plain callable, a :class:`Handler`::

    def handle(method, path, query, headers, body) -> (status, headers, body)

- ``method``: upper-case HTTP method;
- ``path``: the percent-decoded path (``/ws/v1/school/3/student``);
- ``query``: the raw query string, still percent-encoded, without ``?`` (an emulator
  may need the raw form: PowerSchool parses ``q=`` before decoding it);
- ``headers``: request headers with lower-case names;
- ``body``: the raw request body.

It answers with a status, response headers and the body bytes. :func:`mock_transport`
wraps a handler as an ``httpx.MockTransport`` for fast tests; :class:`LoopbackServer`
serves it on ``127.0.0.1`` for the CLI, the demo and benchmarks. Neither adds behaviour,
so both paths exercise exactly the same emulator.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol
from urllib.parse import unquote

import httpx

from reconciler.net import BackgroundServer, is_loopback

Reply = tuple[int, Mapping[str, str], bytes]
"""What a handler answers: status, response headers, body."""


class DropConnection(Exception):
    """Raised by a handler to close the connection without any reply (a dropped connection)."""


class Handler(Protocol):
    """An emulator core: one request in, one reply out. Must be thread-safe."""

    def __call__(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Reply: ...


def mock_transport(handler: Handler) -> httpx.MockTransport:
    """An httpx transport that hands every request to ``handler`` in process."""

    def send(request: httpx.Request) -> httpx.Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            status, reply_headers, body = handler(
                request.method, request.url.path, request.url.query.decode("ascii"), headers, request.read()
            )
        except DropConnection:
            raise httpx.RemoteProtocolError("Server disconnected without a response.", request=request) from None
        return httpx.Response(status, headers=dict(reply_headers), content=body)

    return httpx.MockTransport(send)


class LoopbackServer(BackgroundServer):
    """Serves a :class:`Handler` over HTTP/1.1 on a loopback address.

    ``port=0`` picks a free port; :attr:`url` tells which. Use :meth:`start` to serve
    from a background thread (tests, benchmarks) or :meth:`serve_forever` to block (the
    CLI, until Ctrl-C). Also a context manager that starts and closes it.
    """

    def __init__(self, handler: Handler, port: int = 0, host: str = "127.0.0.1") -> None:
        super().__init__()
        if not is_loopback(host):
            raise ValueError(f"emulators listen on loopback only, not {host!r}")
        self._server = _Server((host, port), _request_handler(handler))
        self._server.daemon_threads = True


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up (a timeout, a dropped connection) is normal for an
        emulator under fault tests; anything else is reported as usual."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def _request_handler(handler: Handler) -> type[BaseHTTPRequestHandler]:
    class _Adapter(BaseHTTPRequestHandler):
        # HTTP/1.1 keeps connections alive, as a real server does; every reply has a length.
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every keep-alive reply.
        disable_nagle_algorithm = True

        def _dispatch(self) -> None:
            raw_path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                status, reply_headers, reply = handler(self.command, unquote(raw_path), query, headers, body)
            except DropConnection:
                self.close_connection = True
                return
            self.send_response(status)
            for name, value in reply_headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

        def log_message(self, format: str, *args: object) -> None:
            """Silent: the library never prints (the CLI decides what to show)."""

    return _Adapter
