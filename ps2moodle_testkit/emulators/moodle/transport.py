"""The two ways into an emulated site: ``httpx.MockTransport`` and HTTP on loopback.

Both go through :class:`MoodleHandler`, so they behave identically: it routes
``/webservice/rest/server.php`` to :mod:`.rest`, applies the site's faults and cost
model around the call, and, when the site has test hooks enabled, answers
``POST /_emulator/setup`` with ``{"setup": NAME, "args": [...]}`` by applying the
out-of-band setup step (:meth:`~.site.MoodleSite.setup`). A write that locks rows is
admitted through the site's :class:`~.faults.RowLocks` when the cost model is on (so
calls overlap in time): it may wait for another, or be a deadlock victim. The server side is
:mod:`ps2moodle_testkit.emulators.http`, which listens on loopback only, so the hook is
reachable from loopback only.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import httpx

from ps2moodle_testkit.emulators.http import DropConnection, LoopbackServer, Reply, mock_transport
from ps2moodle_testkit.emulators.moodle.faults import Admission, Deadlock, deadlock_victim
from ps2moodle_testkit.emulators.moodle.registry import ExternalFunction
from ps2moodle_testkit.emulators.moodle.rest import ENDPOINT, Outcome, handle_rest
from ps2moodle_testkit.emulators.moodle.site import MoodleSite

SETUP_PATH = "/_emulator/setup"

_JSON = {"Content-Type": "application/json"}


class MoodleHandler:
    """The emulator core as an HTTP handler (see :class:`ps2moodle_testkit.emulators.http.Handler`)."""

    def __init__(self, site: MoodleSite) -> None:
        self.site = site
        self._slots_lock = threading.Lock()
        self._slots: dict[int, threading.BoundedSemaphore] = {}

    def __call__(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if path == SETUP_PATH and self.site.test_hooks:
            return self._setup(method, body)
        if path != ENDPOINT:
            return 404, {"Content-Type": "text/html"}, b"<html><body><h1>404 Not Found</h1></body></html>"
        with self.site.requests:
            return self._served(method, query, headers, body)

    def _served(self, method: str, query: str, headers: Mapping[str, str], body: bytes) -> Reply:
        plan = self.site.faults.take()
        if plan.delay_s:
            time.sleep(plan.delay_s)
        if plan.drop_before:
            raise DropConnection
        if plan.status is not None and not plan.status_after:
            return _proxy_page(plan.status)
        outcome = self._costed(method, query, headers, body)
        if plan.drop_after:
            raise DropConnection
        if plan.status is not None:
            return _proxy_page(plan.status)
        if plan.truncate:
            return outcome.status, outcome.headers, outcome.body[: len(outcome.body) // 2]
        return outcome.status, outcome.headers, outcome.body

    def _costed(self, method: str, query: str, headers: Mapping[str, str], body: bytes) -> Outcome:
        cost = self.site.cost
        if cost is None:
            return handle_rest(self.site, method, query, headers, body, self._admit)
        with self._slot(cost.max_concurrent):
            # A call waiting for a free slot starts its own cost once it has one.
            started = time.monotonic()
            outcome = handle_rest(self.site, method, query, headers, body, self._admit)
            charged = outcome.charged_s
            if charged is None:
                charged = cost.seconds(outcome.function, outcome.items)
            remaining = charged - (time.monotonic() - started)
            if remaining > 0:
                time.sleep(remaining)
        return outcome

    def _admit(self, function: ExternalFunction, params: dict[str, Any]) -> Admission | None:
        """A write that locks rows: a forced deadlock, or (with the cost model) its turn at
        the rows, charged its work plus its wait. None: charged as usual."""
        rows = function.locks(params)
        if not rows:
            return None
        if self.site.faults.take_deadlock():
            return Admission(0.0, deadlock_victim())
        cost = self.site.cost
        if cost is None:
            return None
        seconds = cost.seconds(function.name, function.items(params, None))
        try:
            return Admission(self.site.row_locks.admit(rows, seconds) + seconds)
        except Deadlock:
            return Admission(seconds, deadlock_victim())

    def _slot(self, size: int) -> threading.BoundedSemaphore:
        """The semaphore capping concurrent calls at ``size`` (the cost model may change it)."""
        with self._slots_lock:
            return self._slots.setdefault(size, threading.BoundedSemaphore(max(1, size)))

    def _setup(self, method: str, body: bytes) -> Reply:
        if method != "POST":
            return 405, _JSON, b'{"error":"POST only"}'
        try:
            request = json.loads(body or b"{}")
            result = self.site.setup(str(request["setup"]), *request.get("args", []))
        except (ValueError, KeyError, TypeError) as error:
            return 400, _JSON, json.dumps({"error": str(error)}).encode()
        return 200, _JSON, json.dumps({"result": result}).encode()


def _proxy_page(status: int) -> Reply:
    page = f"<html><body><h1>{status} {HTTPStatus(status).phrase}</h1></body></html>".encode()
    return status, {"Content-Type": "text/html"}, page


def moodle_transport(site: MoodleSite) -> httpx.MockTransport:
    """Serve ``site`` in process: use with ``httpx.Client(transport=..., base_url=...)``."""
    return mock_transport(MoodleHandler(site))


def serve_moodle(site: MoodleSite, port: int = 0, *, start: bool = True) -> LoopbackServer:
    """Serve ``site`` on ``127.0.0.1:port`` (0 = any free port).

    The site's ``wwwroot`` becomes the server's URL. Returns the server, serving from a
    background thread unless ``start`` is false (then call ``serve_forever()``): its
    ``url`` is the base URL and ``close()`` stops it.
    """
    server = LoopbackServer(MoodleHandler(site), port)
    site.config.wwwroot = server.url
    return server.start() if start else server
