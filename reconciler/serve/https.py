"""A small HTTPS-only server for ``serve``: TLS always, bounded requests, one app callable.

There is no plain-HTTP mode: a server needs a certificate and key (:func:`tls_context`),
and a client that speaks plain HTTP to it gets its connection closed. The TLS handshake
runs in the connection's own thread under a timeout, so a client that connects and stalls
holds up no one else. Request bodies are capped (:data:`MAX_BODY_BYTES`); a request line
or header block stays within ``http.server``'s own limits.

The app is a plain callable from :class:`Request` to ``(status, headers, body)``: routing
and meaning live with the caller, which keeps this module about HTTP and TLS only.
"""

from __future__ import annotations

import logging
import socket
import ssl
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from reconciler.errors import ReconcilerError
from reconciler.net import BackgroundServer

log = logging.getLogger(__name__)

#: Largest request body accepted (PowerSchool's notification is small; the cap is generous).
MAX_BODY_BYTES = 1 << 20
#: Seconds a client may take for the TLS handshake and for each read.
IO_TIMEOUT_S = 15.0


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
    background thread. Start with :meth:`start`, stop with :meth:`close`."""

    scheme = "https"

    def __init__(self, app: App, context: ssl.SSLContext, host: str = "127.0.0.1", port: int = 8443) -> None:
        super().__init__()
        server_class = _Server6 if ":" in host else _Server
        try:
            self._server = server_class((host, port), _handler(app), context)
        except OSError as exc:
            raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext
    ) -> None:
        self.context = context
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Runs in the connection's thread: the TLS handshake first, under a timeout."""
        request.settimeout(IO_TIMEOUT_S)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, ValueError) as exc:  # plain HTTP, a scanner, a client that gave up
            log.debug("TLS handshake with %s failed: %s", client_address[0], exc)
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up or timed out is routine; anything else is logged."""
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
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            """Request lines go to the debug log only (the app logs what matters)."""
            log.debug("%s %s", self.client_address[0], format % args)

    return _Handler
