"""``ps2moodle discover`` against ``ps2moodle emulate powerschool`` over real HTTP, and
the starter block it prints: valid YAML that the config loader accepts once pasted."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from ps2moodle_testkit.cli.emulate import powerschool_server
from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.powerschool import PowerSchoolEmulator
from reconciler.cli import app
from reconciler.config.loader import check_config
from reconciler.powerschool.discovery import render_school_settings
from reconciler.powerschool.source import read_schools
from tests.support.configs import minimal_config

from .helpers import TODAY, client_for, read

runner = CliRunner()


def starter(district: District) -> str:
    emulator = PowerSchoolEmulator(district)
    with client_for(emulator) as client:
        roster = read(client, district)
        schools = read_schools(client)
    return render_school_settings(roster, schools, connection="springfield", source="https://ps.example.test")


def test_the_starter_block_lists_schools_terms_and_courses_with_counts(small: District) -> None:
    text = starter(small)
    data = YAML(typ="safe").load(io.StringIO(text))["school_settings"]
    assert sorted(data) == [100, 200, 300]
    assert data[300]["terms"] == ["24-25", "S1", "S2", "Q1", "Q2", "Q3", "Q4"]
    assert data[300]["category"] == "Washington High School"
    scheduled = {s.course_number for s in small.sections if s.school_number == 300 and s.term_id // 100 == 34}
    assert set(data[300]["courses"]) == scheduled
    assert "# Independent Study: 1 section, 1 student" in text
    assert "# Teacher Assistant: 1 section, 0 students" in text
    assert "Other schools on this server: 999999 Graduated Students" in text


def test_the_starter_block_pasted_into_a_config_is_valid(small: District, tmp_path: Path) -> None:
    block = textwrap.indent(starter(small), "    ")
    path = tmp_path / "ps2moodle.yaml"
    path.write_text(minimal_config(name="springfield", schools="100, 200, 300") + block, encoding="utf-8")
    assert check_config(path) == []


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The emulator ``ps2moodle emulate powerschool`` serves, on an ephemeral loopback port
    in a thread; its credentials in the environment, as a config would read them."""
    emulator, server = powerschool_server("tiny", seed=1, port=0, year=2024)
    monkeypatch.setenv("PS_CLIENT_ID", emulator.client_id)
    monkeypatch.setenv("PS_CLIENT_SECRET", emulator.client_secret)
    monkeypatch.setenv("MOODLE_TOKEN", "unused")
    with server:
        yield server.url


def test_discover_over_loopback_http(served: str, tmp_path: Path) -> None:
    config = tmp_path / "ps2moodle.yaml"
    config.write_text(minimal_config(name="springfield", powerschool_url=served + "/", schools="200"), encoding="utf-8")
    result = runner.invoke(app, ["discover", str(config), "--connection", "springfield"])
    assert result.exit_code == 0, result.output
    data = YAML(typ="safe").load(io.StringIO(result.stdout))
    assert list(data["school_settings"]) == [200]
    assert "ENG9" in data["school_settings"][200]["courses"]
    assert f"read from {served}" in result.stdout  # the normalized URL (no trailing slash)
    assert os.environ["PS_CLIENT_SECRET"] not in result.output


def test_discover_reads_the_only_connection_without_being_told_its_name(served: str, tmp_path: Path) -> None:
    config = tmp_path / "ps2moodle.yaml"
    config.write_text(minimal_config(name="springfield", powerschool_url=served, schools="200"), encoding="utf-8")
    result = runner.invoke(app, ["discover", str(config)])
    assert result.exit_code == 0, result.output
    assert 200 in YAML(typ="safe").load(io.StringIO(result.stdout))["school_settings"]


def test_discover_names_an_unknown_connection(served: str, tmp_path: Path) -> None:
    config = tmp_path / "ps2moodle.yaml"
    config.write_text(minimal_config(name="springfield", powerschool_url=served, schools="200"), encoding="utf-8")
    result = runner.invoke(app, ["discover", str(config), "--connection", "nope"])
    assert result.exit_code == 1
    assert "no connection named 'nope'" in result.output and "springfield" in result.output


def test_discover_reports_a_mistyped_school_without_a_traceback(served: str, tmp_path: Path) -> None:
    config = tmp_path / "ps2moodle.yaml"
    config.write_text(minimal_config(name="springfield", powerschool_url=served, schools="250"), encoding="utf-8")
    result = runner.invoke(app, ["discover", str(config), "--connection", "springfield"])
    assert result.exit_code == 1
    assert "250 not in PowerSchool" in result.output and "Traceback" not in result.output


def test_emulate_powerschool_serves_until_interrupted() -> None:
    command = [sys.executable, "-c", "from reconciler.cli import app; app()", "emulate", "powerschool"]
    with subprocess.Popen(
        [*command, "--scale", "tiny", "--seed", "2", "--year", "2024"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            lines = dict(process.stdout.readline().split(":", 1) for _ in range(4))
            url, client_id, secret = (lines[k].strip() for k in ("url", "client_id", "client_secret"))
            assert url.startswith("http://127.0.0.1:") and client_id != secret
            reply = httpx.post(
                f"{url}/oauth/access_token", auth=(client_id, secret), data={"grant_type": "client_credentials"}
            )
            assert reply.status_code == 200 and reply.json()["token_type"] == "Bearer"
        finally:
            process.send_signal(signal.SIGINT)
            _, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors
    assert "stopped" in errors


def test_each_emulator_run_has_fresh_credentials() -> None:
    first, server_1 = powerschool_server("tiny", seed=1, port=0, year=2024)
    second, server_2 = powerschool_server("tiny", seed=1, port=0, year=2024)
    server_1.close()
    server_2.close()
    assert first.client_secret != second.client_secret and first.client_id != second.client_id
    assert TODAY.year == first.district.start_year
