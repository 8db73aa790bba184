"""Applying a small change reads only the courses it touches (what the incremental run relies on)."""

from __future__ import annotations

import pytest

from ps2moodle_testkit.bench.change import one_percent_change
from ps2moodle_testkit.bench.config import (
    MOODLE_TOKEN_ENV,
    PROFILE_FIELDS,
    PS_CLIENT_ID_ENV,
    PS_CLIENT_SECRET_ENV,
    bench_config,
)
from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.generator import generate_district
from ps2moodle_testkit.emulators.moodle import MoodleSite
from ps2moodle_testkit.emulators.powerschool import PowerSchoolEmulator
from reconciler.config.model import Connection
from reconciler.model import Enrolment, GroupMember, Kind
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.roles import RoleMap
from reconciler.pipeline import RosterReader, read_for_apply, run_apply, run_plan
from reconciler.powerschool.roster import Roster
from reconciler.powerschool.source import fetch_roster

TOKEN = "test-token"


def _reader(district: District, emulator: PowerSchoolEmulator) -> RosterReader:
    def read(connection: Connection) -> Roster:
        return fetch_roster(connection, transport=emulator.transport(), year_id=district.year_id)

    return read


def test_apply_of_a_small_change_reads_only_the_courses_it_touches(monkeypatch: pytest.MonkeyPatch) -> None:
    district = generate_district("tiny")
    site = MoodleSite.fresh(token=TOKEN)
    for shortname in PROFILE_FIELDS:
        site.add_profile_field(shortname, shortname)
    emulator = PowerSchoolEmulator(district)
    for name, value in (
        (MOODLE_TOKEN_ENV, TOKEN),
        (PS_CLIENT_ID_ENV, emulator.client_id),
        (PS_CLIENT_SECRET_ENV, emulator.client_secret),
    ):
        monkeypatch.setenv(name, value)
    config = bench_config(district, moodle_url="https://moodle.test", powerschool_url="http://127.0.0.1", workers=2)
    client = MoodleClient("https://moodle.test", TOKEN, concurrency=2, transport=site.transport())
    first = run_plan(config, client, _reader(district, emulator))
    assert run_apply(config, client, first.plan, first.live).complete
    owned_courses = len(first.desired.state.by_kind(Kind.COURSE))

    changed = one_percent_change(district, seed=5).district  # an elementary (group) and a high school student
    emulator = PowerSchoolEmulator(changed, client_id=emulator.client_id, client_secret=emulator.client_secret)
    second = run_plan(config, client, _reader(changed, emulator))
    grouped = {c.group_course.id for c in second.plan.changes if isinstance(c.resource, GroupMember) and c.group_course}
    touched = grouped | {c.resource.course.id for c in second.plan.changes if isinstance(c.resource, Enrolment)}
    assert 0 < len(grouped) < len(touched) < owned_courses

    client.stats.reset()
    live = read_for_apply(client, second.plan, RoleMap.from_settings(config.moodle))
    # One list and one suspended-only list per touched course, at most; never every course.
    assert client.stats.calls["core_enrol_get_enrolled_users"] <= 2 * len(touched)
    assert client.stats.calls["core_group_get_course_groups"] == len(grouped)
    assert run_apply(config, client, second.plan, live).complete
    assert run_plan(config, client, _reader(changed, emulator)).plan.is_empty
