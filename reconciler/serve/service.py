"""The ``serve`` service: an HTTPS endpoint for PowerSchool's change notifications and for
health checks, and one worker thread that runs the syncs the schedule makes due.

Routes:

- ``POST /powerschool/events``: a notification. Answered at once: 401 without the
  webhook key (:mod:`reconciler.serve.webhook`), otherwise 200, and a sync is due after
  the debounce window (:mod:`reconciler.serve.schedule`). The body is read to
  authenticate, to log the event types and resources it names, and for the records it
  names: the sync is targeted at those of every notification it serves
  (:mod:`reconciler.serve.targeted`), or full when one of them named none.
- ``GET /healthz``: :mod:`reconciler.serve.health`.

Runs happen one at a time on the worker; the HTTP threads only record notifications and
read state, under one lock. :meth:`SyncService.stop` stops accepting requests, lets a run
in progress finish (an apply is never cut short by a shutdown), and returns.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from reconciler.config.model import Config, SecretRef, ServeSettings
from reconciler.serve.health import Snapshot, health
from reconciler.serve.https import HTTPSServer, Reply, Request, ServeError
from reconciler.serve.ratelimit import RateLimitedLog
from reconciler.serve.schedule import Schedule, Trigger
from reconciler.serve.subscribe import subscribe_all
from reconciler.serve.sync import Connectors, RunReport, sync_once
from reconciler.serve.targeted import Named, SchoolIndex
from reconciler.serve.webhook import describe, is_authentic, named, parse_body, summarize

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/powerschool/events"
HEALTH_PATH = "/healthz"
#: Shortest webhook key accepted: it is the only thing that tells PowerSchool from anyone else.
MIN_KEY_CHARS = 16


def webhook_key(settings: ServeSettings) -> str | None:
    """The resolved webhook key, or None when the webhook is off. Refuses a short key."""
    if settings.webhook_key is None:
        return None
    key = settings.webhook_key.resolve()
    if len(key) < MIN_KEY_CHARS:
        raise ServeError(
            f"{settings.webhook_key.where}: the webhook key is shorter than {MIN_KEY_CHARS} characters; "
            "use a long random one (it is the only proof a notification comes from PowerSchool)"
        )
    return key


def check_secrets(config: Config) -> None:
    """Resolve every secret a run may need, so that a missing one stops the start instead of
    failing every run. The values are dropped: runs read them again (a rotated file is
    picked up)."""
    refs: list[SecretRef | None] = [config.moodle.token]
    for connection in config.connections:
        refs += [connection.powerschool.client_id, connection.powerschool.client_secret]
        refs += [connection.students.initial_password, connection.staff.initial_password]
    for ref in refs:
        if ref is not None:
            ref.resolve()


class SyncService:
    """Scheduled and notified syncs of ``config`` behind an HTTPS endpoint.

    ``connectors`` is the seam to PowerSchool and Moodle (tests pass emulators);
    ``clock`` (monotonic seconds) drives the schedule and ``now`` stamps runs and health.
    Every secret is resolved here, so a missing one stops the start, not a run or a request.
    """

    def __init__(
        self,
        config: Config,
        context: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        port: int = 8443,
        connectors: Connectors | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        subscribe: bool = True,
    ) -> None:
        check_secrets(config)
        self._subscribe = subscribe
        self._config = config
        self._key = webhook_key(config.serve)
        self._connectors = connectors or Connectors()
        self._clock = clock
        self._now = now
        self._lock = threading.Condition()
        self._schedule = Schedule.starting(
            clock(), interval_s=config.serve.interval_s, debounce_s=config.serve.debounce_s
        )
        self._runs: Counter[str] = Counter({t.value: 0 for t in Trigger})
        self._last: RunReport | None = None
        #: The records the notifications since the last run began name; None: one named none.
        self._named: list[Named] | None = []
        self._index = SchoolIndex()
        self._stopping = False
        self._started_at = now()
        self._server = HTTPSServer(self.app, context, host, port)
        self._refusals = RateLimitedLog(log)
        self._worker = threading.Thread(target=self._work, name="ps2moodle-sync", daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL (``https://host:port``)."""
        return self._server.url

    def start(self) -> Self:
        """Start serving, subscribe PowerSchool's notifications (unless told not to), start the
        worker (whose first run begins at once)."""
        self._server.start()
        if self._subscribe:
            subscribe_all(self._config, self._key, self._connectors.powerschool)
        self._worker.start()
        log.info(
            "serving %s: %s; full sync every %gs, auto_apply %s, plans in %s (the last %d kept)",
            self.url,
            self.routes,
            self._config.serve.interval_s,
            "on" if self._config.serve.auto_apply else "off",
            self._config.serve.out_dir,
            self._config.serve.keep_runs,
        )
        return self

    @property
    def routes(self) -> str:
        """What the server answers, as the banner says it: no webhook route when it is off."""
        webhook = f"POST {WEBHOOK_PATH}" if self._key else "webhook off (no serve.webhook_key)"
        return f"{webhook}, GET {HEALTH_PATH}"

    def stop(self) -> None:
        """Stop accepting requests, let a run in progress finish, stop the worker."""
        self._server.close()
        with self._lock:
            self._stopping = True
            running = self._schedule.running
            self._lock.notify_all()
        if running:
            log.info("stopping: waiting for the current sync to finish")
        if self._worker.is_alive():
            self._worker.join()
        log.info("stopped")

    # -- the worker ----------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._lock:
                trigger = self._wait_for_due()
                records, self._named = self._named, []
            if trigger is None:
                return
            targeted = records if trigger is Trigger.WEBHOOK and records else ()
            log.info("sync (%s%s) starting", trigger.value, f", {len(targeted)} records named" if targeted else "")
            report = sync_once(
                self._config, trigger, connectors=self._connectors, now=self._now, named=targeted, index=self._index
            )
            with self._lock:
                self._schedule.end(self._clock(), full=not report.target)
                self._runs[trigger.value] += 1
                self._last = report
                self._lock.notify_all()

    def _wait_for_due(self) -> Trigger | None:
        """With the lock held: wait until a run is due and begin it; None once stopping."""
        while not self._stopping:
            now = self._clock()
            trigger = self._schedule.begin(now)
            if trigger is not None:
                return trigger
            due = self._schedule.due_at()
            self._lock.wait(None if due is None else due - now)
        return None

    # -- HTTP ------------------------------------------------------------------------------

    def app(self, request: Request) -> Reply:
        """Route one request (the HTTPS server calls this from its connection threads)."""
        if request.path == WEBHOOK_PATH:
            return self._notified(request) if request.method == "POST" else _not_allowed("POST")
        if request.path == HEALTH_PATH:
            return _json(200, health(self.snapshot())) if request.method == "GET" else _not_allowed("GET")
        return _json(404, {"error": "not found"})

    def _notified(self, request: Request) -> Reply:
        if self._key is None:
            return _json(404, {"error": "the webhook is off: the config's serve section has no webhook_key"})
        payload = parse_body(request.body)
        if not is_authentic(self._key, request.headers, payload):
            self._refusals.warning("webhook: refused a notification from %s: missing or wrong key", request.client)
            return _json(401, {"error": "unauthorized"}, {"WWW-Authenticate": 'Basic realm="ps2moodle"'})
        records = named(payload)
        with self._lock:
            if self._named is not None:
                self._named = self._named + list(records) if records else None
            now = self._clock()
            due = self._schedule.notify(now)
            running = self._schedule.running
            self._lock.notify_all()
        when = "after the sync in progress" if running else f"in {max(0.0, due - now):.0f}s"
        log.info("webhook: notification from %s (%s); sync %s", request.client, describe(summarize(payload)), when)
        return _json(200, {"status": "accepted"})

    def snapshot(self) -> Snapshot:
        """The state ``/healthz`` reports."""
        with self._lock:
            due = self._schedule.due_at()
            wait = None if due is None else max(0.0, due - self._clock())
            return Snapshot(
                settings=self._config.serve,
                webhook=self._key is not None,
                started_at=self._started_at,
                running=self._schedule.running,
                pending=self._schedule.pending,
                next_run_at=None if wait is None else self._now() + timedelta(seconds=wait),
                runs=dict(self._runs),
                last=self._last,
            )


def _json(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Reply:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode("utf-8")


def _not_allowed(method: str) -> Reply:
    return _json(405, {"error": f"use {method}"}, {"Allow": method})
