"""`plan` checks Moodle (reachable, token accepted) before it reads PowerSchool: a Moodle
that is down fails in seconds, with not one PowerSchool request."""

from __future__ import annotations

import json
import socket
import time

import pytest

from .harness import MakeStack, config_text, connection

BODY = """
    schools: [100]
    school_settings:
      100: { terms: ["24-25", S1, S2], all_courses: section }
"""


def _refused_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_a_moodle_that_refuses_connections_fails_before_powerschool_is_read(make_stack: MakeStack) -> None:
    text = config_text(connection("town", BODY))
    stack = make_stack(text)
    config = stack.write(text.replace("@MOODLE@", _refused_url()))
    started = time.monotonic()
    outcome = stack.cli("--log-format", "json", "-v", "plan", config, "--out", stack.folder / "plan")
    assert outcome.code == 1
    assert time.monotonic() - started < 15, "the retries take seconds, not a district's read"
    assert "plan failed" in outcome.output and "Moodle" in outcome.output
    assert stack.requests["town"] == [], "no PowerSchool request"
    logged = [json.loads(line) for line in outcome.output.splitlines() if line.startswith("{")]
    assert logged, "-v logs the retries, as JSON lines"
    assert all(set(entry) == {"time", "level", "logger", "message"} for entry in logged)
    assert all("cannot reach Moodle" in entry["message"] for entry in logged)


def test_a_token_moodle_refuses_fails_before_powerschool_is_read(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = config_text(connection("town", BODY))
    stack = make_stack(text)
    config = stack.write(text)
    monkeypatch.setenv("E2E_MOODLE_TOKEN", "0" * 32)
    outcome = stack.cli("plan", config, "--out", stack.folder / "plan")
    assert outcome.code == 1 and "plan failed" in outcome.output
    assert stack.requests["town"] == []
    monkeypatch.setenv("E2E_MOODLE_TOKEN", stack.secret("E2E_MOODLE_TOKEN"))
    assert stack.cli("plan", config, "--out", stack.folder / "plan").code == 0
    assert stack.requests["town"], "with the right token PowerSchool is read"
