"""Shared test setup: no test may reach beyond loopback; the golden Moodle recordings."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.golden import find_golden_moodle

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: object) -> object:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost") and not host.startswith("/"):
        raise RuntimeError(f"tests may only connect to loopback, not {host!r}")
    return _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
    yield


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """A command run in process installs its log handler on the root logger (the global
    -v/-q/--log-format options); put the root back so no later test prints through it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    """The golden Moodle recordings (the tests need them; they fail loudly without them)."""
    found = find_golden_moodle()
    assert found is not None, "golden Moodle recordings not found: set PS2M_GOLDEN_MOODLE"
    return found


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say loudly when the browser tests of plan.html could not run (no Chromium here)."""
    from tests.support.browser import SKIPPED

    if SKIPPED:
        bar = "!" * 78
        terminalreporter.write_line(bar, red=True, bold=True)
        terminalreporter.write_line(
            f"WARNING: {len(SKIPPED)} browser test(s) of plan.html SKIPPED: Chromium is not installed.",
            red=True,
            bold=True,
        )
        terminalreporter.write_line("Install it (apt-get install chromium) to run them; CI (.ci/run) always does.")
        for test in SKIPPED:
            terminalreporter.write_line(f"  skipped: {test}", red=True)
        terminalreporter.write_line(bar, red=True, bold=True)
