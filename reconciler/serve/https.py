"""A small HTTPS-only server for ``serve``: TLS always, bounded in every direction, one app callable.

There is no plain-HTTP mode: a server needs a certificate and key (:func:`tls_context`),
and a client that speaks plain HTTP to it gets its connection closed. The bounds, each a
defence against a client that is slow or hostile rather than busy:

- at most ``max_connections`` connections at once (each holds a thread); one more is
  closed as soon as it is accepted, and that refusal is logged at a bounded rate;
- ``deadline_s`` from connecting to having sent the whole request (TLS handshake, request
  line, headers, body): a client that dribbles a byte at a time is cut when it runs out,
  whatever its pace (a per-read timeout alone never fires on one byte every 5 s);
- one request per connection (``Connection: close``): no idle keep-alive holds a thread;
- request bodies are capped (:data:`MAX_BODY_BYTES`); a request line or header block
  stays within ``http.server``'s own limits.

The app is a plain callable from :class:`Request` to ``(status, headers, body)``: routing
and meaning live with the caller, which keeps this module about HTTP and TLS only.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcilerError
from reconciler.net import BackgroundServer
from reconciler.serve.ratelimit import RateLimitedLog

log = logging.getLogger(__name__)

#: Largest request body accepted (PowerSchool's notification is small; the cap is generous).
MAX_BODY_BYTES = 1 << 20
#: Seconds a client may take for the TLS handshake and for each read.
IO_TIMEOUT_S = 15.0
#: Seconds from connecting to a complete request (handshake, headers and body).
REQUEST_DEADLINE_S = 10.0
#: Connections served at once. PowerSchool notifies one change at a time and a monitor
#: polls /healthz: a few would do; more are refused at once.
MAX_CONNECTIONS = 32


class ServeError(ReconcilerError):
    """The server cannot start: no or unusable certificate, address in use, bad webhook key."""


@dataclass(frozen=True, slots=True)
class Request:
    """One request: upper-case method, path without the query, headers with lower-case names."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    client: str


#: What an app answers: status, headers, body.
Reply = tuple[int, Mapping[str, str], bytes]
App = Callable[[Request], Reply]


def tls_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 or later) from a PEM certificate chain and its key."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    for path in (cert_file, key_file):
        if not path.is_file():
            raise ServeError(f"cannot read TLS file {path}: it does not exist or is not a file")
    try:
        context.load_cert_chain(certfile=cert_file, keyfile=key_file)
    except OSError as exc:  # ssl.SSLError included: not PEM, or the key does not fit the certificate
        reason = getattr(exc, "reason", None) or exc.strerror or type(exc).__name__
        raise ServeError(
            f"cannot use the TLS certificate {cert_file} with key {key_file}: {reason} "
            "(both must be PEM files, and the key must belong to the certificate)"
        ) from None
    return context


class HTTPSServer(BackgroundServer):
    """Serves ``app`` over HTTPS on ``host``:``port`` (``port=0`` picks a free one) from a
    background thread, within the bounds the module describes. Start with :meth:`start`,
    stop with :meth:`close`. ``stats`` counts connections ``served``, ``refused`` (over
    the cap) and ``cut`` (past the deadline)."""

    scheme = "https"

    def __init__(
        self,
        app: App,
        context: ssl.SSLContext,
        host: str = "127.0.0.1",
        port: int = 8443,
        *,
        max_connections: int = MAX_CONNECTIONS,
        deadline_s: float = REQUEST_DEADLINE_S,
    ) -> None:
        super().__init__()
        server_class = _Server6 if ":" in host else _Server
        try:
            self._server = server_class((host, port), _handler(app), context, max_connections, deadline_s)
        except OSError as exc:
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

    @property
    def stats(self) -> dict[str, int]:
        """Connections served, refused over the cap, and cut at the deadline, so far."""
        server = self._server
        assert isinstance(server, _Server)
        return {"served": server.served, "refused": server.refused, "cut": server.deadlines.cut}

    def close(self) -> None:
        super().close()
        server = self._server
        assert isinstance(server, _Server)
        server.deadlines.close()


class _Deadlines:
    """One thread that cuts connections whose request is not complete in time: each
    connection thread arms its deadline on connecting and clears it once its request is
    read; a socket still armed at its deadline is shut down, which ends the read blocked
    on it."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._armed: dict[int, tuple[float, socket.socket]] = {}  # by connection thread
        self._queue: list[tuple[float, int]] = []
        self._wake = threading.Condition()
        self._closed = False
        self.cut = 0
        threading.Thread(target=self._run, name="https-deadlines", daemon=True).start()

    def arm(self, sock: socket.socket) -> None:
        """The calling thread's connection must have sent its request within the deadline."""
        with self._wake:
            deadline = time.monotonic() + self._seconds
            self._armed[threading.get_ident()] = (deadline, sock)
            heapq.heappush(self._queue, (deadline, threading.get_ident()))
            self._wake.notify()

    def clear(self) -> None:
        """The calling thread's request is in: no deadline any more."""
        with self._wake:
            self._armed.pop(threading.get_ident(), None)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()

    def _run(self) -> None:
        with self._wake:
            while not self._closed:
                now = time.monotonic()
                while self._queue and self._queue[0][0] <= now:
                    deadline, thread = heapq.heappop(self._queue)
                    entry = self._armed.get(thread)
                    if entry is not None and entry[0] == deadline:
                        del self._armed[thread]
                        self.cut += 1
                        _shut(entry[1])
                self._wake.wait(self._queue[0][0] - now if self._queue else None)


def _shut(sock: socket.socket) -> None:
    """Shut a socket down under the thread reading it (the plain socket call: an SSL
    socket's own would tear down TLS state that thread is using)."""
    with contextlib.suppress(OSError):  # already closed by its own thread
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A burst past the cap is accepted and closed at once, not left to retry its SYN.
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext,
        max_connections: int,
        deadline_s: float,
    ) -> None:
        self.context = context
        self.deadlines = _Deadlines(deadline_s)
        self.served = self.refused = 0
        self._slots = threading.BoundedSemaphore(max_connections)
        self._max_connections = max_connections
        self._refusals = RateLimitedLog(log)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """A thread for the connection while there are slots; else close it at once."""
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            self._refusals.warning(
                "refused a connection from %s: %d connections open already", client_address[0], self._max_connections
            )
            self.shutdown_request(request)
            return
        self.served += 1
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.deadlines.clear()
            self._slots.release()

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Runs in the connection's thread: the TLS handshake first, all under the deadline."""
        request.settimeout(IO_TIMEOUT_S)
        # Wrapping takes the socket over: the deadline watches the wrapper, handshake included.
        tls = self.context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        self.deadlines.arm(tls)
        try:
            tls.do_handshake()
        except (OSError, ValueError) as exc:  # plain HTTP, a scanner, a client that gave up or was cut
            log.debug("TLS handshake with %s failed: %s", client_address[0], exc)
            tls.close()
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up, timed out or was cut is routine; anything else is logged."""
        if isinstance(sys.exc_info()[1], OSError):
            log.debug("connection from %s ended early", client_address[0])
        else:
            log.exception("error serving %s", client_address[0])


class _Server6(_Server):
    address_family = socket.AF_INET6


def _handler(app: App) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        timeout = IO_TIMEOUT_S
        server_version = "ps2moodle"
        sys_version = ""

        def _dispatch(self) -> None:
            if self.headers.get("Transfer-Encoding"):
                self._refuse(411, b'{"error": "send a Content-Length, not a chunked body"}')
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self._refuse(400, b'{"error": "bad Content-Length"}')
                return
            if length < 0 or length > MAX_BODY_BYTES:
                self._refuse(413, b'{"error": "request body too large"}')
                return
            body = self.rfile.read(length) if length else b""
            if len(body) < length:  # cut at the deadline, or the client hung up
                self.close_connection = True
                return
            server = self.server
            assert isinstance(server, _Server)
            server.deadlines.clear()  # the request is in; the app's time is its own
            request = Request(
                method=self.command,
                path=self.path.partition("?")[0],
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                client=str(self.client_address[0]),
            )
            try:
                status, headers, reply = app(request)
            except Exception:  # the app's bug answers 500 and is logged; the server goes on
                log.exception("error handling %s %s", request.method, request.path)
                status, headers, reply = 500, {}, b'{"error": "internal error"}'
            self._reply(status, reply, headers)

        def _refuse(self, status: int, body: bytes) -> None:
            """Answer without reading the body, then close: what is left of it is not a request."""
            self.close_connection = True
            self._reply(status, body)

        def _reply(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
            self.send_response(status)
            sent = {k.lower() for k in (headers or {})}
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if "content-type" not in sent:
                self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")  # one request per connection: no idle keep-alive
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            """Request lines go to the debug log only (the app logs what matters)."""
            log.debug("%s %s", self.client_address[0], format % args)

    return _Handler
