"""Small network helpers shared by the clients, the emulators and ``serve``."""

from __future__ import annotations

import ipaddress
import ssl
import threading
from socketserver import BaseServer
from types import TracebackType
from typing import Self


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_refusal(url: str, what: str, carries: str) -> str | None:
    """Why ``url`` may not be used, when it is plain ``http://`` to a host other than
    loopback: ``carries`` (a token, a client secret, student data) would cross the
    network unencrypted. None when it is fine (https, or http to an emulator on loopback)."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower() != "http":
        return None
    host = rest.split("/", 1)[0].rpartition("@")[2]
    host = host[1 : host.index("]")] if host.startswith("[") and "]" in host else host.split(":", 1)[0]
    if is_loopback(host):
        return None
    return (
        f"refusing plain-http {what} URL http://{host}: {carries} would travel unencrypted; "
        "use https:// (plain http is accepted only for a loopback emulator)"
    )


def client_tls(ca_file: str | None) -> ssl.SSLContext | bool:
    """What a client verifies servers against: the system's trust store, or only the
    certificates of ``ca_file`` (a private CA, PEM). Raises ``OSError``/``ssl.SSLError``
    when that file cannot be used."""
    if ca_file is None:
        return True
    return ssl.create_default_context(cafile=ca_file)


class BackgroundServer:
    """A socketserver served from a daemon thread: :meth:`start`, :meth:`close`, or use it
    as a context manager. Subclasses build ``self._server`` and say their URL scheme."""

    scheme = "http"
    _server: BaseServer

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port actually bound (``port=0`` picks a free one)."""
        return int(self._server.server_address[1])  # type: ignore[index]

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        host = str(self._server.server_address[0])  # type: ignore[index]
        return f"{self.scheme}://{f'[{host}]' if ':' in host else host}:{self.port}"

    def start(self) -> Self:
        """Serve from a daemon thread; returns at once."""
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"{self.scheme}-server", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (KeyboardInterrupt propagates)."""
        self._server.serve_forever()

    def close(self) -> None:
        """Stop accepting requests and release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
