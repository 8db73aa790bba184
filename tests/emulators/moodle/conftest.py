"""Fixtures of the Moodle emulator's contract tests: the golden recordings (the root
conftest finds them), sites to replay them against, and in-process calls."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ps2moodle_testkit.emulators.http import LoopbackServer
from ps2moodle_testkit.emulators.moodle import MoodleSite
from tests.support.golden import read_jsonl

from .replay import RECORDED_AT, TOKEN, Replayer, WebService, normalize


@pytest.fixture(scope="session")
def sequence(golden_dir: Path) -> list[dict[str, Any]]:
    """``production/_sequence.jsonl``: every record in recording order, setup lines included."""
    return read_jsonl(golden_dir / "production" / "_sequence.jsonl")


@pytest.fixture(scope="session")
def max_input_vars_cases(golden_dir: Path) -> list[dict[str, Any]]:
    """``production/_max_input_vars.jsonl``: requests past the limit, with summarized answers."""
    return read_jsonl(golden_dir / "production" / "_max_input_vars.jsonl")


@pytest.fixture(scope="session")
def normalized() -> Callable[[Any, str], Any]:
    """:func:`normalize`, for tests that compare answers themselves."""
    return normalize


@pytest.fixture(scope="session")
def debug_records(golden_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The ``debug/`` recordings by (function, case); they mirror the production records."""
    records = {}
    for path in sorted((golden_dir / "debug").glob("*.jsonl")):
        for record in read_jsonl(path):
            records[(record["function"], record["case"])] = record
    return records


@pytest.fixture
def make_replayer() -> Iterator[Callable[..., Replayer]]:
    """Start fresh emulated sites on loopback (debug or not); all are stopped afterwards."""
    servers: list[LoopbackServer] = []
    replayers: list[Replayer] = []

    def start(*, debug: bool = False) -> Replayer:
        started = time.monotonic()
        site = MoodleSite.fresh(TOKEN, debug=debug, clock=lambda: RECORDED_AT + time.monotonic() - started)
        site.test_hooks = True
        server = site.serve()
        servers.append(server)
        replayers.append(Replayer(server.url, site))
        return replayers[-1]

    yield start
    for replayer in replayers:
        replayer.client.close()
    for server in servers:
        server.close()


@pytest.fixture
def site() -> MoodleSite:
    """A fresh emulated site with test hooks on."""
    fresh = MoodleSite.fresh(TOKEN)
    fresh.test_hooks = True
    return fresh


@pytest.fixture
def ws(site: MoodleSite) -> Iterator[WebService]:
    """In-process web-service calls to :func:`site`."""
    service = WebService(site)
    yield service
    service.http.close()
