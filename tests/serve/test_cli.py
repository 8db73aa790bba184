"""``ps2moodle serve`` as an operator runs it: HTTPS only, and a graceful stop on SIGTERM."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import IO

import httpx
import pytest
from typer.testing import CliRunner

from ps2moodle_testkit.emulators.generator import generate_district
from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from ps2moodle_testkit.emulators.powerschool import PowerSchoolEmulator
from reconciler.cli import app

from .systems import MOODLE_TOKEN, PS_ID, PS_SECRET, SECRETS, WEBHOOK_KEY

runner = CliRunner()


@pytest.mark.parametrize(
    "tls",
    [[], ["--tls-cert", "server.pem"], ["--tls-key", "server.key"]],
    ids=["neither", "no-key", "no-cert"],
)
def test_serve_refuses_to_start_without_a_certificate_and_key(config_file: Path, tls: list[str]) -> None:
    result = runner.invoke(app, ["serve", str(config_file), *tls, "--port", "0"])

    assert result.exit_code == 1
    assert "serve is HTTPS only: give --tls-cert FILE and --tls-key FILE" in result.output


def test_serve_says_clearly_when_the_certificate_is_unusable(
    config_file: Path, tls_files: tuple[Path, Path], tmp_path: Path
) -> None:
    cert, key = tls_files
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello", encoding="utf-8")

    missing = runner.invoke(
        app, ["serve", str(config_file), "--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", str(key), "--port", "0"]
    )
    garbage = runner.invoke(
        app, ["serve", str(config_file), "--tls-cert", str(not_pem), "--tls-key", str(key), "--port", "0"]
    )
    swapped = runner.invoke(
        app, ["serve", str(config_file), "--tls-cert", str(key), "--tls-key", str(cert), "--port", "0"]
    )

    assert missing.exit_code == garbage.exit_code == swapped.exit_code == 1
    assert "serve failed: cannot read TLS file" in missing.output and "nope.pem" in missing.output
    assert "serve failed: cannot use the TLS certificate" in garbage.output
    assert "serve failed: cannot use the TLS certificate" in swapped.output


@pytest.fixture
def served_systems() -> Iterator[tuple[str, str]]:
    """PowerSchool and Moodle emulators on loopback HTTP, for a server in another process."""
    today = date.today()
    district = generate_district("tiny", seed=3, start_year=today.year if today.month >= 8 else today.year - 1)
    powerschool = PowerSchoolEmulator(district, client_id=PS_ID, client_secret=PS_SECRET).serve().start()
    moodle = MoodleSite.fresh(MOODLE_TOKEN).serve()
    try:
        yield powerschool.url, moodle.url
    finally:
        powerschool.close()
        moodle.close()


class _Lines:
    """The lines of a pipe as they come, read by a thread (so that waits can time out)."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._stream = stream
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        for line in self._stream:
            self._queue.put(line)

    def until(self, text: str, timeout: float = 30.0) -> str:
        """Read until a line holding ``text``; that line."""
        while True:
            line = self._queue.get(timeout=timeout)
            self.seen.append(line)
            if text in line:
                return line

    def rest(self) -> str:
        """Everything, once the writer has closed the pipe."""
        self._thread.join(timeout=30)
        self._stream.close()
        while not self._queue.empty():
            self.seen.append(self._queue.get())
        return "".join(self.seen)


def test_serve_runs_over_https_and_stops_gracefully_on_sigterm(
    served_systems: tuple[str, str], tls_files: tuple[Path, Path], https: httpx.Client, tmp_path: Path
) -> None:
    powerschool, moodle = served_systems
    config = tmp_path / "ps2moodle.yaml"
    config.write_text(
        f"""\
version: 1
moodle: {{url: "{moodle}", token: "${{PS2M_SERVE_MOODLE_TOKEN}}"}}
connections:
  - name: d
    powerschool:
      url: "{powerschool}"
      client_id: "${{PS2M_SERVE_PS_ID}}"
      client_secret: "${{PS2M_SERVE_PS_SECRET}}"
    schools: [100, 200]
serve: {{webhook_key: "${{PS2M_SERVE_WEBHOOK_KEY}}", debounce_s: 0, out_dir: runs}}
""",
        encoding="utf-8",
    )
    env = dict(
        os.environ,
        PS2M_SERVE_MOODLE_TOKEN=MOODLE_TOKEN,
        PS2M_SERVE_PS_ID=PS_ID,
        PS2M_SERVE_PS_SECRET=PS_SECRET,
        PS2M_SERVE_WEBHOOK_KEY=WEBHOOK_KEY,
    )
    cert, key = tls_files
    command = [sys.executable, "-c", "from reconciler.cli import app; app()", "serve", str(config)]
    process = subprocess.Popen(
        [*command, "--tls-cert", str(cert), "--tls-key", str(key), "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert process.stderr is not None
    lines = _Lines(process.stderr)
    try:
        banner = lines.until("ps2moodle serve on https://")
        base = banner.split(" on ", 1)[1].split(": POST", 1)[0]

        def runs() -> object:
            return https.get(f"{base}/healthz").json()["runs"]

        deadline = time.monotonic() + 30
        while runs() != {"startup": 1, "schedule": 0, "webhook": 0}:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        notified = https.post(f"{base}/powerschool/events", json={"event_type": "UPDATE"}, auth=("ps", WEBHOOK_KEY))
        assert notified.status_code == 200
        while runs() != {"startup": 1, "schedule": 0, "webhook": 1}:
            assert time.monotonic() < deadline
            time.sleep(0.05)

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log = lines.rest()
    assert "sync (startup) starting" in log and "sync (webhook) starting" in log
    assert log.rstrip().endswith("stopped"), log[-2000:]
    assert (tmp_path / "runs" / "latest").is_file()
    for secret in SECRETS:
        assert secret not in log
