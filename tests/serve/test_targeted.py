"""Runs targeted at what a notification names: the records the body names, the schools
read, and a targeted run's plan and writes staying inside its target."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ps2moodle_testkit.emulators.changes import withdraw_student
from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.moodle.model import User
from ps2moodle_testkit.emulators.powerschool import PowerSchoolEmulator
from reconciler import keys
from reconciler.config.model import Config, Connection
from reconciler.model import Key
from reconciler.plan.file import read_plan
from reconciler.powerschool.roster import Roster
from reconciler.serve.schedule import Trigger
from reconciler.serve.sync import Connectors, Outcome, RunReport, sync_once
from reconciler.serve.targeted import Named, SchoolIndex
from reconciler.serve.webhook import named

from .systems import PS_ID, PS_SECRET, TODAY, Systems


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # What the emulator sends: the record's path (and its id).
        (
            {"key": "k", "event_type": "UPDATE", "resource": "/ws/v1/student/41", "id": 41},
            (Named("student", "UPDATE", 41),),
        ),
        # A pattern beside an id, a batch in a wrapper, duplicates named once.
        (
            {
                "events": [
                    {"eventType": "insert", "resource": "/ws/v1/section_enrollment/*", "id": 7},
                    {"event_type": "DELETE", "ref": "/ws/v1/section/9"},
                    {"eventType": "insert", "resource": "/ws/v1/section_enrollment/*", "id": 7},
                ]
            },
            (Named("section_enrollment", "INSERT", 7), Named("section", "DELETE", 9)),
        ),
        # Nothing usable: no record, a resource this tool does not read, a pattern without an id.
        ({"key": "k", "event_type": "UPDATE"}, ()),
        ({"event_type": "UPDATE", "resource": "/ws/v1/school/3"}, ()),
        ([{"resource": "/ws/v1/student/3"}, {"resource": "/ws/v1/term/5"}], ()),
        ({"event_type": "UPDATE", "resource": "/ws/v1/student/*"}, ()),
        ({"event_type": "UPDATE", "resource": "/ws/v1/student/*", "id": "12; drop"}, ()),
        (None, ()),
    ],
)
def test_the_records_a_notification_names(body: object, expected: tuple[Named, ...]) -> None:
    assert named(body) == expected


def test_only_updates_of_records_seen_before_narrow_the_read(district: District) -> None:
    index = SchoolIndex()
    student = district.students[0]
    index.schools[("d", "student", student.dcid)] = frozenset({student.school_number})
    index.schools[("d", "section", 5)] = frozenset({200})

    assert index.schools_to_read("d", [Named("student", "UPDATE", student.dcid)]) == {student.school_number}
    assert index.schools_to_read("d", [Named("student", "UPDATE", student.dcid), Named("section", "UPDATE", 5)]) == {
        student.school_number,
        200,
    }
    # A new record, a school change or a delete may be anywhere: every school is read.
    assert index.schools_to_read("d", [Named("student", "INSERT", student.dcid)]) is None
    assert index.schools_to_read("d", [Named("student", "SCHOOL_ENROLLMENT", student.dcid)]) is None
    assert index.schools_to_read("d", [Named("student", "UPDATE", 999999)]) is None
    assert index.schools_to_read("other", [Named("student", "UPDATE", student.dcid)]) is None


class _Reads:
    """The systems' roster reader, recording the schools each read asked for."""

    def __init__(self, systems: Systems) -> None:
        self.systems = systems
        self.schools: list[tuple[int, ...]] = []

    def connectors(self) -> Connectors:
        return dataclasses.replace(self.systems.connectors(), roster=self.read)

    def read(self, connection: Connection) -> Roster:
        self.schools.append(connection.schools)
        return self.systems.connectors().roster(connection)


@pytest.fixture
def synced(config: Config, systems: Systems) -> Iterator[tuple[Config, _Reads, SchoolIndex]]:
    """Moodle after a first full run applied, and the index that run filled."""
    applying = dataclasses.replace(config, serve=dataclasses.replace(config.serve, auto_apply=True))
    reads, index = _Reads(systems), SchoolIndex()
    first = sync_once(applying, Trigger.STARTUP, connectors=reads.connectors(), index=index)
    assert first.outcome is Outcome.APPLIED and first.target == ""
    reads.schools.clear()
    yield applying, reads, index


def _account(systems: Systems, key: Key) -> User | None:
    return systems.moodle.users.first("idnumber", key.id)


def _plan_keys(config: Config, report: RunReport) -> list[tuple[str, Key, set[Key]]]:
    plan = read_plan(Path(config.serve.out_dir) / str(report.folder) / "plan.json").plan
    return [(c.action.value, c.key, set(c.resource.references())) for c in plan.changes]


def test_a_targeted_run_changes_only_its_target_and_never_removes_outside_it(
    synced: tuple[Config, _Reads, SchoolIndex], systems: Systems, district: District
) -> None:
    config, reads, index = synced
    synced_students = [s for s in district.students if _account(systems, keys.student_key("d", s.dcid))]
    renamed = synced_students[0]
    leaver = next(s for s in synced_students[1:] if s.school_number == renamed.school_number)
    leaver_account = _account(systems, keys.student_key("d", leaver.dcid))
    enrolled_before = systems.moodle.user_enrolments.by_id()
    # PowerSchool changes twice; only the rename is notified.
    changed = withdraw_student(district, leaver.id, TODAY)
    changed = dataclasses.replace(
        changed,
        students=tuple(
            dataclasses.replace(s, first_name="Renamed") if s.dcid == renamed.dcid else s for s in changed.students
        ),
    )
    systems.powerschool = PowerSchoolEmulator(changed, client_id=PS_ID, client_secret=PS_SECRET)

    report = sync_once(
        config,
        Trigger.WEBHOOK,
        connectors=reads.connectors(),
        named=[Named("student", "UPDATE", renamed.dcid)],
        index=index,
    )

    target = keys.student_key("d", renamed.dcid)
    assert report.outcome is Outcome.APPLIED and report.target == f"person {target.id}"
    assert reads.schools == [(renamed.school_number,)]  # one school read, not the district
    assert _plan_keys(config, report) == [("update", target, set())]
    account = _account(systems, target)
    assert account is not None and account.firstname == "Renamed"
    # The withdrawn student, outside the target, keeps every enrolment and stays active.
    assert systems.moodle.user_enrolments.by_id() == enrolled_before
    assert _account(systems, keys.student_key("d", leaver.dcid)) == leaver_account

    full = sync_once(config, Trigger.SCHEDULE, connectors=reads.connectors(), index=index)
    assert full.target == "" and full.applied > 0  # the full run takes the withdrawal
    assert systems.moodle.user_enrolments.by_id() != enrolled_before


def test_a_notification_naming_nothing_held_is_a_full_run(
    synced: tuple[Config, _Reads, SchoolIndex], district: District
) -> None:
    config, reads, index = synced
    report = sync_once(
        config, Trigger.WEBHOOK, connectors=reads.connectors(), named=[Named("student", "INSERT", 987654)], index=index
    )
    assert report.target == "" and report.outcome is Outcome.NO_CHANGES
    every = config.connections[0].schools
    assert reads.schools == [every, every]  # the targeted read found nothing, then the full run
    folder = Path(config.serve.out_dir) / str(report.folder)
    assert json.loads((folder / "plan.json").read_text(encoding="utf-8"))["scope"] == "all"
