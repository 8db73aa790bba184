"""Fixtures for ``serve``: a test CA and server certificate (made at test time), both emulated
systems in process, and a started service with an HTTPS client that trusts the CA."""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.generator import generate_district
from reconciler.config.loader import load_config
from reconciler.config.model import Config
from reconciler.serve.https import tls_context
from reconciler.serve.service import SyncService

from .systems import CONFIG, MOODLE_TOKEN, PS_ID, PS_SECRET, WEBHOOK_KEY, Running, Start, Systems


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


@pytest.fixture
def systems(district: District) -> Systems:
    return Systems(district)


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
