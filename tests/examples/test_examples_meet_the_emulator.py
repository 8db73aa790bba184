"""Following the README works: the example configs select terms and courses the emulator
(``ps2moodle emulate powerschool`` with its defaults) has, whatever today's date is."""

from __future__ import annotations

from pathlib import Path

import pytest

from ps2moodle_testkit.cli.emulate import powerschool_server
from reconciler.config.loader import load_config
from reconciler.coverage import unmatched_settings
from reconciler.powerschool.source import fetch_roster

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.mark.parametrize("name", ["minimal.yaml", "district.yaml"])
def test_every_configured_term_and_course_exists_in_the_default_emulator(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: the emulator served the current school year (2026-27 on this date) while the
    # examples select "24-25": every full-year section was dropped without a word.
    config = load_config(EXAMPLES / name)
    emulator, server = powerschool_server("small", seed=1, port=0)
    server.close()
    rosters = {}
    for connection in config.connections:
        ps = connection.powerschool
        assert ps.client_id.env and ps.client_secret.env
        monkeypatch.setenv(ps.client_id.env, emulator.client_id)
        monkeypatch.setenv(ps.client_secret.env, emulator.client_secret)
        rosters[connection.name] = fetch_roster(connection, transport=emulator.transport())
    assert [u.message for u in unmatched_settings(config, rosters)] == []
    assert all(roster.sections for roster in rosters.values())
