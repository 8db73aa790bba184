"""``serve`` against slow and hostile clients: a deadline from connecting to a complete
request, a cap on connections, refusals logged at a bounded rate, private and pruned run
folders, and a banner that says what the server answers."""

from __future__ import annotations

import logging
import socket
import ssl
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import trustme

from reconciler.serve.https import HTTPSServer, Reply, Request, tls_context
from reconciler.serve.ratelimit import RateLimitedLog
from reconciler.serve.sync import save_run
from tests.support.plans import sample_doc

from .conftest import Start

DEADLINE_S = 1.0
CAP = 8


def _ok(request: Request) -> Reply:
    return 200, {}, b'{"ok": true}'


@pytest.fixture
def server(tls_files: tuple[Path, Path]) -> Iterator[HTTPSServer]:
    with HTTPSServer(_ok, tls_context(*tls_files), port=0, max_connections=CAP, deadline_s=DEADLINE_S) as running:
        yield running


def _client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


class SlowClient(threading.Thread):
    """Completes the TLS handshake, then sends a request one byte every ``pace_s``;
    records how long the server let it go on from the handshake (``held_s``; None when
    refused) and whether it got an answer."""

    def __init__(self, server: HTTPSServer, context: ssl.SSLContext, pace_s: float) -> None:
        super().__init__(daemon=True)
        self._server, self._context, self._pace = server, context, pace_s
        self.held_s: float | None = None
        self.answered = False
        self.done = False

    def run(self) -> None:
        started: float | None = None
        request = b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"a" * 1000
        try:
            raw = socket.create_connection(("127.0.0.1", self._server.port), timeout=30)
            with raw, self._context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                started = time.monotonic()
                for byte in request:
                    tls.sendall(bytes([byte]))
                    time.sleep(self._pace)
                self.answered = bool(tls.recv(100))
        except OSError:  # cut: reset, broken pipe, or the handshake refused
            pass
        self.held_s = None if started is None else time.monotonic() - started
        self.done = True


def test_slow_clients_are_cut_at_the_deadline_and_the_cap_holds(server: HTTPSServer, ca: trustme.CA) -> None:
    # Before: each slow client held a thread for as long as it kept sending (one byte every
    # 5 s never trips a 15 s per-read timeout), and there was no cap.
    baseline = threading.active_count()
    clients = [SlowClient(server, _client_context(ca), pace_s=0.2) for _ in range(3 * CAP)]
    for client in clients:
        client.start()
    time.sleep(DEADLINE_S / 2)
    held = threading.active_count() - baseline - len(clients)
    assert held <= CAP  # server threads: one per admitted connection, no more
    for client in clients:
        client.join(timeout=10)
    assert all(c.done and not c.answered for c in clients)
    admitted = [c.held_s for c in clients if c.held_s is not None]
    stats = server.stats
    assert stats["served"] + stats["refused"] == len(clients)
    assert stats["refused"] >= len(clients) - CAP and stats["cut"] == stats["served"] >= CAP
    # Cut at the deadline (the client notices at its next byte, within a pace or two).
    assert admitted and max(admitted) < DEADLINE_S + 0.6
    # Once they are gone, an ordinary client is served.
    with httpx.Client(verify=_client_context(ca)) as https:
        assert https.post(f"{server.url}/x", content=b"{}").json() == {"ok": True}


def test_a_client_that_connects_and_says_nothing_is_cut(server: HTTPSServer) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        assert raw.recv(10) == b""  # closed by the server, handshake never begun
    assert time.monotonic() - started < DEADLINE_S + 1.0
    assert server.stats["cut"] == 1


def test_an_ordinary_request_is_answered_and_its_connection_closed(server: HTTPSServer, ca: trustme.CA) -> None:
    with httpx.Client(verify=_client_context(ca)) as https:
        response = https.post(f"{server.url}/x", content=b"{}")
    assert response.json() == {"ok": True} and response.headers["connection"] == "close"
    assert server.stats == {"served": 1, "refused": 0, "cut": 0}


def test_refusals_are_logged_at_a_bounded_rate(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limited = RateLimitedLog(logging.getLogger("ratelimit-test"), interval_s=60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="ratelimit-test"):
        for second in range(0, 130):
            now[0] = float(second)
            limited.warning("refused %s", "x")
    assert [r.getMessage() for r in caplog.records] == [
        "refused x",
        "refused x (59 more like this in the last 60s not logged)",
        "refused x (59 more like this in the last 60s not logged)",
    ]


def test_run_folders_are_private_and_only_the_newest_are_kept(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    started = datetime(2025, 9, 1, 7, 0, tzinfo=UTC)
    folders = [save_run(sample_doc(), runs, started + timedelta(minutes=n), keep=3)[0] for n in range(5)]
    kept = sorted(p.name for p in runs.iterdir())
    assert kept == [*(f.name for f in folders[2:]), "latest"]
    assert stat.S_IMODE(runs.stat().st_mode) == 0o700
    for folder in folders[2:]:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        files = list(folder.iterdir())
        assert {p.name for p in files} >= {"plan.json", "plan.md", "plan.txt"}
        assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o600}
    assert stat.S_IMODE((runs / "latest").stat().st_mode) == 0o600


def test_the_banner_leaves_out_the_webhook_when_it_is_off(start: Start) -> None:
    assert start().service.routes == "POST /powerschool/events, GET /healthz"
    assert start(webhook_key=None).service.routes == "webhook off (no serve.webhook_key), GET /healthz"
