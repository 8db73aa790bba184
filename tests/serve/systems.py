"""What the ``serve`` tests share besides fixtures: the test config and secrets, both
emulated systems in process (:class:`Systems`), and a started service (:class:`Running`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from ps2moodle_testkit.emulators.powerschool import PowerSchoolEmulator
from reconciler.config.model import Connection, MoodleSettings
from reconciler.moodle.client import MoodleClient
from reconciler.powerschool.roster import Roster
from reconciler.powerschool.source import fetch_roster
from reconciler.serve.service import SyncService
from reconciler.serve.sync import Connectors

#: A day inside the generated 2024-25 school year, so its terms' sections are synced.
TODAY = date(2024, 12, 2)
#: Test-only secrets (environment variables set per test).
WEBHOOK_KEY = "wk-3f9a1c5e7b2d4f6a8c0e"
MOODLE_TOKEN = "tok-5b7d9f1a3c5e7a9b"
PS_ID = "serve-client-id"
PS_SECRET = "serve-client-secret-8e6c4a2f"
SECRETS = (WEBHOOK_KEY, MOODLE_TOKEN, PS_SECRET)

CONFIG = """\
version: 1
moodle:
  url: https://moodle.example.test
  token: ${PS2M_SERVE_MOODLE_TOKEN}
connections:
  - name: d
    powerschool:
      url: https://ps.example.test
      client_id: ${PS2M_SERVE_PS_ID}
      client_secret: ${PS2M_SERVE_PS_SECRET}
    schools: [100, 200]
    school_settings:
      100: {terms: ["24-25", S1, S2], all_courses: section}
      200: {terms: ["24-25", S1, S2], all_courses: section}
audit_log: audit.jsonl
serve:
  webhook_key: ${PS2M_SERVE_WEBHOOK_KEY}
  out_dir: runs
"""


class Systems:
    """Both outside systems, in process. ``powerschool`` may be swapped mid-test (a
    PowerSchool whose data changed); ``gate``, when set, holds every roster read until
    it is released, and ``reads``/``overlap`` show whether reads ever ran at once."""

    def __init__(self, district: District) -> None:
        self.moodle = MoodleSite.fresh(MOODLE_TOKEN)
        self.powerschool = PowerSchoolEmulator(district, client_id=PS_ID, client_secret=PS_SECRET)
        self.gate: Callable[[], None] | None = None
        self.reads = 0
        self._active = 0
        self.overlap = False

    def connectors(self) -> Connectors:
        def moodle(settings: MoodleSettings) -> MoodleClient:
            return MoodleClient.from_settings(settings, transport=self.moodle.transport())

        return Connectors(moodle=moodle, roster=self._read)

    def _read(self, connection: Connection) -> Roster:
        self._active += 1
        self.overlap |= self._active > 1
        self.reads += 1
        try:
            if self.gate is not None:
                self.gate()
            return fetch_roster(connection, transport=self.powerschool.transport(), today=TODAY)
        finally:
            self._active -= 1

    def snapshot(self) -> tuple[Any, ...]:
        """Everything the sync writes in Moodle."""
        site = self.moodle
        return tuple(
            table.by_id()
            for table in (site.users, site.categories, site.courses, site.user_enrolments, site.role_assignments)
        )


@dataclass
class Running:
    """A started service and how to talk to it."""

    service: SyncService
    client: httpx.Client

    @property
    def url(self) -> str:
        return self.service.url

    def health(self) -> dict[str, Any]:
        response = self.client.get(f"{self.url}/healthz")
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    def wait(self, ready: Callable[[dict[str, Any]], bool], timeout: float = 30.0) -> dict[str, Any]:
        """Poll /healthz until ``ready`` says so; the last document."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.health()
            if ready(body):
                return body
            assert time.monotonic() < deadline, f"timed out waiting; last health: {body}"
            time.sleep(0.05)

    def settled(self, count: int) -> dict[str, Any]:
        """Wait until at least ``count`` runs have finished and none is running."""
        return self.wait(lambda h: sum(h["runs"].values()) >= count and not h["running"])

    def notify(self, body: Any = None, **kwargs: Any) -> httpx.Response:
        payload = {"key": WEBHOOK_KEY, "event_type": "UPDATE", "resource": "/ws/v1/student/*"} if body is None else body
        return self.client.post(f"{self.url}/powerschool/events", json=payload, **kwargs)


Start = Callable[..., Running]
