"""Fixtures for ``serve``: a test CA and server certificate (made at test time), both emulated
systems in process, and a started service with an HTTPS client that trusts the CA."""

from __future__ import annotations

import dataclasses
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.generator import generate_district
from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from ps2moodle_testkit.emulators.powerschool import PowerSchoolEmulator
from reconciler.config.loader import load_config
from reconciler.config.model import Config, Connection, MoodleSettings
from reconciler.moodle.client import MoodleClient
from reconciler.powerschool.roster import Roster
from reconciler.powerschool.source import fetch_roster
from reconciler.serve.https import tls_context
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


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A certificate authority that exists only for this test run."""
    return trustme.CA()


@pytest.fixture
def tls_files(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    """A server certificate for 127.0.0.1 and localhost, and its key, as PEM files."""
    cert = ca.issue_cert("127.0.0.1", "localhost")
    chain, key = tmp_path / "server.pem", tmp_path / "server.key"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(key))
    return chain, key


@pytest.fixture
def https(ca: trustme.CA) -> Iterator[httpx.Client]:
    """An HTTPS client that verifies servers against the test CA only."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with httpx.Client(verify=context, timeout=10.0) as client:
        yield client


@pytest.fixture(scope="session")
def district() -> District:
    return generate_district("tiny", seed=3, start_year=2024)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The config's secrets, as its ${...} references expect them."""
    monkeypatch.setenv("PS2M_SERVE_MOODLE_TOKEN", MOODLE_TOKEN)
    monkeypatch.setenv("PS2M_SERVE_PS_ID", PS_ID)
    monkeypatch.setenv("PS2M_SERVE_PS_SECRET", PS_SECRET)
    monkeypatch.setenv("PS2M_SERVE_WEBHOOK_KEY", WEBHOOK_KEY)


@pytest.fixture
def config_file(tmp_path: Path, env: None) -> Path:
    path = tmp_path / "ps2moodle.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def config(config_file: Path) -> Config:
    """The loaded config, with a short debounce window for tests."""
    loaded = load_config(config_file)
    return dataclasses.replace(loaded, serve=dataclasses.replace(loaded.serve, debounce_s=0.4))


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


@pytest.fixture
def systems(district: District) -> Systems:
    return Systems(district)


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


@pytest.fixture
def start(config: Config, systems: Systems, tls_files: tuple[Path, Path], https: httpx.Client) -> Iterator[Start]:
    """Starts the service on a free loopback port; ``serve`` fields override the config's."""
    started: list[SyncService] = []

    def run(**serve: Any) -> Running:
        settings = dataclasses.replace(config, serve=dataclasses.replace(config.serve, **serve))
        service = SyncService(
            settings, tls_context(*tls_files), host="127.0.0.1", port=0, connectors=systems.connectors()
        )
        started.append(service.start())
        return Running(service, https)

    yield run
    for service in started:
        service.stop()
