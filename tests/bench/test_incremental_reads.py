"""Applying a small change reads only the courses it touches (what the incremental run relies
on), and only what it needs of them: the same facts, with or without the many-course read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

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
from reconciler.config.model import Config, Connection
from reconciler.model import Course, Enrolment, GroupMember, Key, Kind, State, User
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.live.enrolments import MANY_COURSES
from reconciler.moodle.roles import RoleMap
from reconciler.moodle.setup import role_preset, site_needs
from reconciler.pipeline import PlanRun, RosterReader, read_for_apply, run_apply, run_plan
from reconciler.plan.model import Action, Plan
from reconciler.plan.stale import find_stale
from reconciler.powerschool.roster import Roster
from reconciler.powerschool.source import fetch_roster

TOKEN = "test-token"


def _reader(district: District, emulator: PowerSchoolEmulator) -> RosterReader:
    def read(connection: Connection) -> Roster:
        return fetch_roster(connection, transport=emulator.transport(), year_id=district.year_id)

    return read


@dataclass
class _Changed:
    """A tiny district synced into Moodle, then changed in PowerSchool and planned."""

    site: MoodleSite
    client: MoodleClient
    config: Config
    plan: Plan
    #: Moodle as the plan read it (every owned object).
    full: State
    #: PowerSchool as changed.
    reader: RosterReader
    owned_courses: int

    def read(self) -> State:
        self.client.stats.reset()
        return read_for_apply(self.client, self.plan, RoleMap.from_settings(self.config.moodle))

    def touched(self) -> set[Key]:
        return {c.key for c in self.plan.changes} | {c.before.key for c in self.plan.changes if c.before}

    def courses(self) -> tuple[set[Key], set[Key]]:
        """The courses whose enrolments the plan changes, and those of them where an
        account it does not create is enrolled or enrolled anew."""
        new_users = {c.key for c in self.plan.changes if c.key.kind is Kind.USER and c.action is Action.CREATE}
        users: dict[Key, set[Key]] = {}
        for c in self.plan.changes:
            if isinstance(c.resource, Enrolment):
                users.setdefault(c.resource.course, set()).add(c.resource.user)
        return set(users), {course for course, enrolled in users.items() if enrolled - new_users}


@pytest.fixture
def changed(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Changed]:
    district = generate_district("tiny")
    site = MoodleSite.fresh(token=TOKEN)
    site.add_function(MANY_COURSES)  # as moodle-setup lists it
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
    with MoodleClient("https://moodle.test", TOKEN, concurrency=2, transport=site.transport()) as client:
        first = run_plan(config, client, _reader(district, emulator))
        assert run_apply(config, client, first.plan, first.live).complete
        after = one_percent_change(district, seed=5).district  # an elementary (group) and a high school student
        emulator = PowerSchoolEmulator(after, client_id=emulator.client_id, client_secret=emulator.client_secret)
        reader = _reader(after, emulator)
        second: PlanRun = run_plan(config, client, reader)
        owned = len(first.desired.state.by_kind(Kind.COURSE))
        yield _Changed(site, client, config, second.plan, second.live, reader, owned)


def test_apply_of_a_small_change_reads_only_the_courses_it_touches(changed: _Changed) -> None:
    changed.site.remove_function(MANY_COURSES)  # one course a call
    plan = changed.plan
    grouped = {c.group_course for c in plan.changes if isinstance(c.resource, GroupMember) and c.group_course}
    touched = grouped | {c.resource.course for c in plan.changes if isinstance(c.resource, Enrolment)}
    assert 0 < len(grouped) < len(touched) < changed.owned_courses

    live = changed.read()
    calls = changed.client.stats.calls
    # One list and one suspended-only list per touched course, at most; never every course.
    assert calls["core_enrol_get_enrolled_users"] <= 2 * len(touched)
    assert calls["core_group_get_course_groups"] == len(grouped)
    assert run_apply(changed.config, changed.client, plan, live).complete
    assert run_plan(changed.config, changed.client, changed.reader).plan.is_empty


def test_many_courses_a_call_and_no_read_of_what_the_plan_creates(changed: _Changed) -> None:
    courses, of_existing_accounts = changed.courses()
    assert 0 < len(of_existing_accounts) < len(courses), "a newcomer, a leaver and a mover"

    live = changed.read()
    calls = changed.client.stats.calls
    # The active enrolments of every course an existing account's change touches, two
    # workers' worth of calls; the suspended ones only of a course where a touched account
    # is not active (a mover's new section); nothing of the newcomers' own courses.
    assert 1 <= calls[MANY_COURSES] <= 8
    assert calls["core_enrol_get_enrolled_users"] < len(of_existing_accounts)
    for key in changed.touched():
        assert live.get(key) == changed.full.get(key), key
    assert find_stale(changed.plan, live) == []


def test_without_the_many_course_read_the_courses_are_read_one_by_one(changed: _Changed) -> None:
    changed.site.remove_function(MANY_COURSES)
    live = changed.read()
    calls = changed.client.stats.calls
    assert calls[MANY_COURSES] >= 1  # refused, once per batch
    _, of_existing_accounts = changed.courses()
    assert calls["core_enrol_get_enrolled_users"] >= len(of_existing_accounts)
    for key in changed.touched():
        assert live.get(key) == changed.full.get(key), key


def test_a_role_without_the_capabilities_it_checks_reads_one_by_one(changed: _Changed) -> None:
    with changed.site.lock:
        sync = changed.site.permissions.setup(changed.site, "create_sync_user", "ps2m-sync", "sync-token")
    assert sync is not None
    role = changed.site.permissions.import_preset(changed.site, _preset_without(changed.config, "moodle/role:review"))
    changed.site.permissions.assign_at_system(changed.site, role, sync)
    with MoodleClient("https://moodle.test", "sync-token", concurrency=2, transport=changed.site.transport()) as client:
        live = read_for_apply(client, changed.plan, RoleMap.from_settings(changed.config.moodle))
        assert client.stats.calls[MANY_COURSES] >= 1
    for key in changed.touched():
        assert live.get(key) == changed.full.get(key), key


def test_a_touched_enrolment_suspended_by_hand_is_stale(changed: _Changed) -> None:
    suspension = next(
        c for c in changed.plan.changes if c.action is Action.SUSPEND and isinstance(c.resource, Enrolment)
    )
    assert isinstance(suspension.before, Enrolment)
    course = changed.full.get(suspension.before.course)
    assert isinstance(course, Course) and course.moodle_id and suspension.before.moodle_id
    enrolment = {"roleid": 5, "userid": suspension.before.moodle_id, "courseid": course.moodle_id, "suspend": 1}
    changed.client.call("enrol_manual_enrol_users", {"enrolments": [enrolment]})

    stale = find_stale(changed.plan, changed.read())
    assert stale == [f"{suspension.key}: changed in Moodle since the plan was made (suspended)"]


def test_a_role_given_by_hand_on_a_touched_enrolment_is_stale(changed: _Changed) -> None:
    suspension = next(
        c for c in changed.plan.changes if c.action is Action.SUSPEND and isinstance(c.resource, Enrolment)
    )
    assert isinstance(suspension.before, Enrolment)
    course = changed.full.get(suspension.before.course)
    assert isinstance(course, Course)
    assignment = {
        "roleid": 4,
        "userid": suspension.before.moodle_id,
        "contextlevel": "course",
        "instanceid": course.moodle_id,
    }
    changed.client.call("core_role_assign_roles", {"assignments": [assignment]})

    stale = find_stale(changed.plan, changed.read())
    assert any(line.startswith(str(suspension.key)) and "(roles)" in line for line in stale), stale


def test_a_newcomer_created_by_hand_makes_the_plan_stale_with_its_enrolments(changed: _Changed) -> None:
    newcomer = next(c for c in changed.plan.changes if c.key.kind is Kind.USER and c.action is Action.CREATE)
    assert isinstance(newcomer.after, User)
    ids = changed.client.call(
        "core_user_create_users",
        {
            "users": [
                {
                    "username": newcomer.after.username,
                    "firstname": "A",
                    "lastname": "B",
                    "email": "ab@example.org",
                    "idnumber": newcomer.key.id,
                    "createpassword": 1,
                }
            ]
        },
    )
    enrolment = next(
        c for c in changed.plan.changes if isinstance(c.resource, Enrolment) and c.resource.user == newcomer.key
    )
    course = changed.full.get(enrolment.resource.course)
    assert isinstance(course, Course)
    changed.client.call(
        "enrol_manual_enrol_users",
        {"enrolments": [{"roleid": 5, "userid": ids[0]["id"], "courseid": course.moodle_id}]},
    )

    stale = find_stale(changed.plan, changed.read())
    assert any(line.startswith(f"{newcomer.key} ") and "now exists in Moodle" in line for line in stale), stale
    assert any(line.startswith(f"{enrolment.key}:") and "now exists in Moodle" in line for line in stale), stale


def _preset_without(config: Config, capability: str) -> str:
    needs = site_needs(config)
    return role_preset(
        replace(needs, capabilities=tuple(c for c in needs.capabilities if c != capability)), "ps2m_sync", "Sync"
    )
