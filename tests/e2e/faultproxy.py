"""A loopback HTTP proxy that breaks chosen requests the way networks and servers do.

Put it between ps2moodle and an emulator (the config's URL points at the proxy): every
request is forwarded unchanged, except those a queued :class:`Fault` matches (a substring
of the request line or body, e.g. ``wsfunction=core_user_create_users``). A fault acts
before the request reaches the server (a 5xx or 429 answered by the proxy, a reset) or
after the server has processed it (its answer replaced by a 5xx, cut short, never sent,
or the connection reset). With ``tls`` it listens for HTTPS with that server context (a
certificate the client may not trust). One request per connection.
"""

from __future__ import annotations

import http.client
import socket
import socketserver
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from reconciler.net import BackgroundServer

#: What a fault does; ``*_after`` ones let the server process the request first.
KINDS = frozenset({"status", "status_after", "reset", "reset_after", "hang_after", "truncate_after"})


@dataclass
class Fault:
    """Break the next ``times`` requests that contain ``match``: ``kind`` (see :data:`KINDS`),
    answering ``status`` with ``headers`` for the status kinds."""

    kind: str
    match: str
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind


class FaultProxy(BackgroundServer):
    """Forwards to ``upstream`` (``http://127.0.0.1:PORT``); ``fired`` lists the faults that
    acted, ``connections`` counts the connections made to it, ``forwarded`` the requests
    that reached the upstream."""

    def __init__(self, upstream: str, *, tls: ssl.SSLContext | None = None, hang_s: float = 30.0) -> None:
        super().__init__()
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.scheme = "https" if tls else "http"
        self.hang_s = hang_s
        self.faults: list[Fault] = []
        self.fired: list[str] = []
        self.forwarded = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _handler(self, tls))

    def add(self, fault: Fault) -> FaultProxy:
        with self._lock:
            self.faults.append(fault)
        return self

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def close(self) -> None:
        self._closing.set()
        super().close()

    def take(self, request: bytes) -> Fault | None:
        """The fault that acts on ``request``, if any (counted down)."""
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.match.encode() in request:
                    fault.times -= 1
                    self.fired.append(f"{fault.kind}:{fault.match}")
                    return fault
        return None

    def forward(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
        """The upstream's whole answer to one request, as raw HTTP/1.1 bytes (Connection: close)."""
        connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            keep = [(k, v) for k, v in headers if k.lower() not in ("connection", "keep-alive", "host")]
            connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            connection.putheader("Host", f"{self.upstream[0]}:{self.upstream[1]}")
            for name, value in keep:
                connection.putheader(name, value)
            connection.endheaders(body)
            response = connection.getresponse()
            payload = response.read()
            lines = [f"HTTP/1.1 {response.status} {response.reason}"]
            for name, value in response.getheaders():
                if name.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive"):
                    lines.append(f"{name}: {value}")
            lines += [f"Content-Length: {len(payload)}", "Connection: close", "", ""]
            with self._lock:
                self.forwarded += 1
            return "\r\n".join(lines).encode("latin-1") + payload
        finally:
            connection.close()

    def wait_or_close(self) -> None:
        self._closing.wait(self.hang_s)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def _handler(proxy: FaultProxy, tls: ssl.SSLContext | None) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            sock.settimeout(60)
            with proxy._lock:
                proxy.connections += 1
            if tls is None:
                self.exchange(sock)
                return
            try:
                wrapped = tls.wrap_socket(sock, server_side=True)
            except (OSError, ValueError):  # the client refused the certificate
                return
            with wrapped:
                self.exchange(wrapped)

        def exchange(self, sock: socket.socket) -> None:
            raw = _read_request(sock)
            if raw is None:
                return
            head, body = raw
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:] if ":" in line]
            fault = proxy.take(head + body)
            if fault is not None and fault.kind in ("status", "reset"):
                _act(proxy, sock, fault, b"")
                return
            answer = proxy.forward(method, target, headers, body)  # type: ignore[arg-type]
            if fault is None:
                sock.sendall(answer)
            else:
                _act(proxy, sock, fault, answer)

    return Handler


def _act(proxy: FaultProxy, sock: socket.socket, fault: Fault, answer: bytes) -> None:
    if fault.kind in ("status", "status_after"):
        body = f"<html><body><h1>{fault.status} proxy error</h1></body></html>".encode()
        lines = [f"HTTP/1.1 {fault.status} Fault", "Content-Type: text/html"]
        lines += [f"{k}: {v}" for k, v in fault.headers.items()]
        lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
        sock.sendall("\r\n".join(lines).encode("latin-1") + body)
    elif fault.kind in ("reset", "reset_after"):
        # SO_LINGER 0: close with RST, as a crashed peer or a middlebox does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    elif fault.kind == "hang_after":
        proxy.wait_or_close()
    elif fault.kind == "truncate_after":
        head, _, payload = answer.partition(b"\r\n\r\n")
        sock.sendall(head + b"\r\n\r\n" + payload[: len(payload) // 2])
        time.sleep(0.05)


def _read_request(sock: socket.socket) -> tuple[bytes, bytes] | None:
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head, body
