"""``ps2moodle emulate moodle``: a fresh site on loopback, with the token, hooks and debug asked for."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import Any

import httpx

from .replay import TOKEN, Replayer, replay_sequence

COMMAND = [sys.executable, "-c", "from reconciler.cli import app; app()", "emulate", "moodle"]


def test_emulate_moodle_serves_a_fresh_site_until_interrupted() -> None:
    process = subprocess.Popen(
        [*COMMAND, "--port", "0", "--token", "clitoken", "--test-hooks", "--debug"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        url = next(line.split()[-1] for line in lines if line.startswith("url:"))
        assert url.startswith("http://127.0.0.1:")
        assert "token: clitoken\n" in lines
        with httpx.Client(base_url=url, timeout=5) as client:
            form = {"wstoken": "clitoken", "wsfunction": "core_user_get_users", "moodlewsrestformat": "json"}
            answer = client.post("/webservice/rest/server.php", data=form).json()
            assert answer["debuginfo"] == "Missing required key in single structure: criteria"
            info = client.post(
                "/webservice/rest/server.php", data=dict(form, wsfunction="core_webservice_get_site_info")
            )
            assert info.json()["siteurl"] == url
            assert client.post("/_emulator/setup", json={"setup": "ctx", "args": [1]}).json() == {"result": 2}
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert process.returncode == 0


def test_the_production_sequence_replays_against_the_command(sequence: list[dict[str, Any]]) -> None:
    """The issue's wording, literally: `ps2moodle emulate moodle --test-hooks` in its own
    process, the whole recorded session replayed over HTTP, setup steps through the hook."""
    process = subprocess.Popen(
        [*COMMAND, "--port", "0", "--token", TOKEN, "--test-hooks"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        url = next(line.split()[-1] for line in lines if line.startswith("url:"))
        replayer = Replayer(url)
        try:
            failures = replay_sequence(replayer, sequence)
        finally:
            replayer.client.close()
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    calls = [r for r in sequence if "setup" not in r]
    print(f"\n`ps2moodle emulate moodle` replay: {len(calls) - len(failures)}/{len(calls)} records match")
    assert len(calls) == 252
    assert not failures, "\n".join(failures)
