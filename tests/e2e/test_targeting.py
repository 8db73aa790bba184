"""Targeted plans (``plan --school N``, ``--target KIND:KEY``) against the emulated sites:
a targeted plan holds only changes inside its target, says so in its header, and applying
it touches nothing outside: the full plan afterwards still holds every other pending
change, exactly as before.

The district is the demo's (``examples/district.yaml``, generated, small), applied, then
one everyday day in PowerSchool (a move and a co-teacher at school 300, a leaver at 200)
and a newcomer at school 300.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from typer.testing import CliRunner

from ps2moodle_testkit.demo.sandbox import Sandbox
from ps2moodle_testkit.emulators.changes import admit_student
from ps2moodle_testkit.emulators.district import District
from reconciler import keys
from reconciler.cli import app
from reconciler.model import Enrolment, GroupMember, Key, Kind, User
from reconciler.pipeline import PlanRun, plan_document, run_apply, run_plan
from reconciler.plan.file import seal
from reconciler.plan.model import Action, Change
from reconciler.render import PlanFormat, render
from reconciler.targeting import TargetNotFound, Targets, parse_target

NEWCOMER = "newcomer1"


def admit_newcomer(district: District) -> District:
    """A new student at school 300, in the classes of the first active student there."""
    model = next(s for s in district.students if s.school_number == 300 and s.enroll_status == 0 and s.web_id)
    classes = [r.section_id for r in district.enrolments if r.student_id == model.id and not r.dropped][:2]
    student = replace(
        model,
        id=max(s.id for s in district.students) + 1,
        dcid=max(s.dcid for s in district.students) + 1,
        student_number="990001",
        web_id=NEWCOMER,
        first_name="New",
        last_name="Student",
        email=f"{NEWCOMER}@students.example.org",
        custom=(),
    )
    return admit_student(district, student, classes, date(district.start_year, 9, 28))


@pytest.fixture
def sandbox(day_after: Sandbox) -> Sandbox:
    day_after.change(day_after.config.connections[0].name, admit_newcomer)
    return day_after


def plan(box: Sandbox, targets: Targets | None = None) -> PlanRun:
    with box.moodle_client() as moodle:
        return run_plan(box.config, moodle, box.roster_reader(), targets=targets)


def apply(box: Sandbox, run: PlanRun) -> None:
    with box.moodle_client() as moodle:
        assert run_apply(box.config, moodle, run.plan, run.live).failures == []


def pending(run: PlanRun) -> set[tuple[Action, Key]]:
    return {(c.action, c.key) for c in run.plan.changes}


def user_of(change: Change) -> Key | None:
    res = change.resource
    if isinstance(res, User):
        return res.key
    return next((ref for ref in res.references() if ref.kind is Kind.USER), None)


def assert_nothing_else_touched(box: Sandbox, full: PlanRun, targeted: PlanRun) -> None:
    """Apply the targeted plan: the full plan then holds exactly the other changes."""
    assert targeted.plan.changes and len(targeted.plan.changes) < len(full.plan.changes)
    apply(box, targeted)
    assert pending(plan(box)) == pending(full) - pending(targeted)


def test_a_school_target_changes_only_that_schools_courses(sandbox: Sandbox) -> None:
    full = plan(sandbox)
    targeted = plan(sandbox, Targets(schools=(300,)))

    for change in targeted.plan.changes:
        assert change.key.kind in (Kind.COURSE, Kind.ENROLMENT, Kind.GROUP, Kind.GROUP_MEMBER)
        res = change.resource
        where = res.key if change.key.kind in (Kind.COURSE, Kind.GROUP) else res.references()[0]
        assert keys.school_of(where) == "300"  # an enrolment's course, a membership's group
    # The leaver (school 200) and every account change are outside.
    assert not any(c.key.kind is Kind.USER for c in targeted.plan.changes)
    # The newcomer's enrolments need their account, created outside the target: left out, and said.
    newcomer = next(c.key for c in full.plan.changes if isinstance(c.after, User) and c.after.username == NEWCOMER)
    assert not any(user_of(c) == newcomer for c in targeted.plan.changes)
    [waiting] = [n for n in targeted.plan.notices if "inside the target left out" in n.message]
    assert str(newcomer) in waiting.message and waiting.level == "warning"
    outside = len(full.plan.changes) - len(targeted.plan.changes) - int(waiting.message.split()[0])
    assert any(f"{outside} pending changes outside the target" in n.message for n in targeted.plan.notices)
    assert_nothing_else_touched(sandbox, full, targeted)


def test_a_person_target_covers_their_account_and_memberships(sandbox: Sandbox) -> None:
    full = plan(sandbox)
    leaver = next(c for c in full.plan.changes if c.key.kind is Kind.USER and c.action is Action.SUSPEND)
    assert isinstance(leaver.before, User)
    targeted = plan(sandbox, Targets(specs=(parse_target(f"person:{leaver.before.username}"),)))

    assert {user_of(c) for c in targeted.plan.changes} == {leaver.key}
    theirs = {(c.action, c.key) for c in full.plan.changes if user_of(c) == leaver.key}
    assert pending(targeted) == theirs
    assert {c.key.kind for c in targeted.plan.changes} >= {Kind.USER, Kind.ENROLMENT, Kind.COHORT_MEMBER}
    assert_nothing_else_touched(sandbox, full, targeted)


def test_a_new_person_target_brings_their_account_and_enrolments(sandbox: Sandbox) -> None:
    targeted = plan(sandbox, Targets(specs=(parse_target(f"person:{NEWCOMER}"),)))
    kinds = {c.key.kind for c in targeted.plan.changes}
    assert Kind.USER in kinds and Kind.ENROLMENT in kinds
    assert all(c.action is Action.CREATE for c in targeted.plan.changes)
    assert not [n for n in targeted.plan.notices if "inside the target left out" in n.message]


def test_a_course_and_a_section_target(sandbox: Sandbox) -> None:
    full = plan(sandbox)
    # The co-teacher's new enrolment: its course, by shortname and by its section's DCID.
    coteach = next(
        c
        for c in full.plan.changes
        if isinstance(c.after, Enrolment) and c.action is Action.CREATE and "editingteacher" in c.after.roles
    )
    assert isinstance(coteach.after, Enrolment)
    course = full.live.get(coteach.after.course)
    assert course is not None
    dcid = course.key.id.rsplit(":", 1)[1]
    by_name = plan(sandbox, Targets(specs=(parse_target(f"course:{course.label}"),)))
    by_section = plan(sandbox, Targets(specs=(parse_target(f"section:{dcid}"),)))

    assert pending(by_name) == pending(by_section)
    for change in by_name.plan.changes:
        res = change.resource
        assert isinstance(res, Enrolment | GroupMember) or change.key == course.key
        if isinstance(res, Enrolment):
            assert res.course == course.key
    assert (Action.CREATE, coteach.key) in pending(by_name)
    assert_nothing_else_touched(sandbox, full, by_name)


def test_the_plan_header_says_it_is_targeted(sandbox: Sandbox) -> None:
    from reconciler.pipeline import plan_document as document

    run = plan(sandbox, Targets(schools=(300,), specs=(parse_target(f"person:{NEWCOMER}"),)))
    newcomer = next(c.key for c in run.plan.changes if c.key.kind is Kind.USER)
    doc = document(sandbox.config, run)
    assert doc.scope == f"all, targeted at school 300, person {newcomer.id}"
    doc = seal(doc)
    assert f"scope all, targeted at school 300, person {newcomer.id}" in render(doc, PlanFormat.TEXT)
    assert "targeted at school 300" in render(doc, PlanFormat.MARKDOWN)
    assert plan_document(sandbox.config, plan(sandbox)).scope == "all"


def test_a_target_that_names_nothing_is_an_error(sandbox: Sandbox) -> None:
    with pytest.raises(TargetNotFound, match="--target person:nobody-here: no such person"):
        plan(sandbox, Targets(specs=(parse_target("person:nobody-here"),)))
    with pytest.raises(TargetNotFound, match="--school 999: no course or group"):
        plan(sandbox, Targets(schools=(999,)))


@pytest.mark.parametrize("given", ["bogus", "school:300", "person:", "course"])
def test_a_malformed_target_is_refused_before_anything_is_read(given: str) -> None:
    result = CliRunner().invoke(app, ["plan", "no-such-config.yaml", "--target", given])
    assert result.exit_code == 1
    assert f"--target {given!r}: expected KIND:KEY with KIND one of person, section, course" in result.output
    assert "Traceback" not in result.output
