"""Grades at risk, against the emulated Moodle: changes that end someone's access to a
course where they have graded work are marked in the plan, and the ones that take grades
out of the gradebook (unenrol, delete) are refused without an override.

The district is the demo's (``examples/district.yaml``, generated, small) after one
everyday day in PowerSchool: a student changes section, a student transfers out. Grades
are given in Moodle directly (the gradebook setup steps of the ``grades/`` recording).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from ps2moodle_testkit.demo.sandbox import Sandbox
from reconciler.config.model import EnrolmentRemoval, RemovalPolicy, SafetyPolicy, UserRemoval
from reconciler.desired import build_desired
from reconciler.model import Enrolment, Kind
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.grades import FUNCTION
from reconciler.moodle.roles import RoleMap
from reconciler.pipeline import (
    PlanRun,
    Scope,
    decide,
    plan_document,
    read_moodle,
    read_rosters,
    run_apply,
    run_plan,
)
from reconciler.plan.model import Action, Change
from reconciler.redact import redact_document


@pytest.fixture
def sandbox(day_after: Sandbox) -> Sandbox:
    return day_after


def with_removal(box: Sandbox, **removal: object) -> None:
    box.config = replace(box.config, removal=replace(box.config.removal, **removal))


def plan(box: Sandbox, override: str | None = None) -> tuple[PlanRun, MoodleClient]:
    moodle = box.moodle_client()
    with moodle:
        return run_plan(box.config, moodle, box.roster_reader(), override_reason=override), moodle


def unchecked_plan(box: Sandbox) -> PlanRun:
    """The plan as it stands, without asking Moodle about grades (to pick whom to grade)."""
    with box.moodle_client() as moodle:
        desired = build_desired(box.config, read_rosters(box.config, box.roster_reader()))
        live = read_moodle(moodle, desired, Scope.ALL, RoleMap.from_settings(box.config.moodle))
        return decide(box.config, desired, live, scope=Scope.ALL)


def ending(run: PlanRun, kind: Kind) -> list[Change]:
    return [c for c in run.plan.changes if c.key.kind is kind and c.action in (Action.SUSPEND, Action.DELETE)]


def grade(box: Sandbox, run: PlanRun, enrolment: Enrolment, *grades: str) -> None:
    """Give the enrolled user ``grades`` on as many new manual items of the course."""
    course = run.live.get(enrolment.course)
    assert course is not None and course.moodle_id is not None and enrolment.moodle_id is not None
    for number, value in enumerate(grades, start=1):
        box.moodle.setup("add_graded_item", course.moodle_id, f"Essay {number}")
        box.moodle.setup("set_grade", course.moodle_id, f"Essay {number}", enrolment.moodle_id, value)


def notices_by_key(run: PlanRun) -> dict[str, str]:
    return {n.key: n.message for n in run.plan.notices if n.key}


def test_a_student_with_graded_work_who_drops_a_section_is_flagged(sandbox: Sandbox) -> None:
    before = unchecked_plan(sandbox)
    dropped = ending(before, Kind.ENROLMENT)
    assert len(dropped) >= 2  # the mover's old section and the leaver's classes
    graded, ungraded = dropped[0], dropped[1:]
    assert isinstance(graded.before, Enrolment)
    grade(sandbox, before, graded.before, "0", "85")  # a 0 is graded work too

    run, moodle = plan(sandbox)

    flagged = notices_by_key(run)
    assert (
        flagged[graded.key.id]
        == "has 2 graded items in this course: suspending keeps them, but the student loses access"
    )
    assert not any(c.key.id in flagged for c in ungraded)
    assert run.verdict.ok  # suspending keeps the grades: marked, not refused
    # A redacted view keeps the mark (it names no one) and says whose enrolment by key only.
    view = redact_document(plan_document(sandbox.config, run))
    kept = [n for n in view.notices if n.key == graded.key.id]
    assert [n.message for n in kept] == [flagged[graded.key.id]]
    # One call per course with a dropped enrolment, whatever the number of people in it.
    courses = {c.before.course for c in dropped if isinstance(c.before, Enrolment)}
    assert moodle.stats.calls[FUNCTION] == len(courses)


def test_with_unenrol_the_plan_is_refused_without_an_override(sandbox: Sandbox) -> None:
    with_removal(sandbox, enrolments=EnrolmentRemoval.UNENROL)
    before = unchecked_plan(sandbox)
    dropped = ending(before, Kind.ENROLMENT)
    assert {c.action for c in dropped} == {Action.DELETE}
    graded = dropped[0]
    assert isinstance(graded.before, Enrolment)
    grade(sandbox, before, graded.before, "85")

    refused, _ = plan(sandbox)
    assert not refused.verdict.ok
    violations = [v for v in refused.verdict.violations if "graded work" in v]
    assert violations == [
        f"1 unenrolment would take graded work out of the gradebook (graded_work_guard): {graded.key.id}"
    ]
    assert notices_by_key(refused)[graded.key.id] == (
        "has 1 graded item in this course: unenrolling takes them out of the gradebook"
    )

    overridden, _ = plan(sandbox, override="end of term: grades exported")
    assert overridden.verdict.ok and overridden.verdict.overridden


def test_the_guard_can_be_turned_off(sandbox: Sandbox) -> None:
    with_removal(sandbox, enrolments=EnrolmentRemoval.UNENROL)
    sandbox.config = replace(sandbox.config, safety=replace(sandbox.config.safety, graded_work_guard=False))
    before = unchecked_plan(sandbox)
    graded = ending(before, Kind.ENROLMENT)[0]
    assert isinstance(graded.before, Enrolment)
    grade(sandbox, before, graded.before, "85")
    run, _ = plan(sandbox)
    assert run.verdict.ok
    assert graded.key.id in notices_by_key(run)  # still marked


def test_an_already_suspended_enrolment_is_asked_about_alone(sandbox: Sandbox) -> None:
    # Suspended first (the default policy), graded work and all; later the district
    # switches to unenrol: Moodle's course-wide report no longer lists the student.
    suspended = unchecked_plan(sandbox)
    graded = ending(suspended, Kind.ENROLMENT)[0]
    assert isinstance(graded.before, Enrolment)
    grade(sandbox, suspended, graded.before, "70")
    with sandbox.moodle_client() as moodle:
        assert run_apply(sandbox.config, moodle, suspended.plan, suspended.live).failures == []
    with_removal(sandbox, enrolments=EnrolmentRemoval.UNENROL)

    run, moodle = plan(sandbox)

    assert graded.key.id in notices_by_key(run)
    assert any(graded.key.id in v for v in run.verdict.violations)
    unenrolled = ending(run, Kind.ENROLMENT)
    assert all(isinstance(c.before, Enrolment) and c.before.suspended for c in unenrolled)
    assert moodle.stats.calls[FUNCTION] == len(unenrolled)  # one per user: none is listed


def test_an_account_with_graded_work_is_flagged_and_its_deletion_refused(sandbox: Sandbox) -> None:
    with_removal(sandbox, users=UserRemoval.DELETE)
    before = unchecked_plan(sandbox)
    [leaver] = ending(before, Kind.USER)
    theirs = [
        c.before
        for c in ending(before, Kind.ENROLMENT)
        if isinstance(c.before, Enrolment) and c.before.user == leaver.key
    ]
    assert len(theirs) >= 2
    grade(sandbox, before, theirs[0], "50")
    grade(sandbox, before, theirs[1], "60", "65")

    run, _ = plan(sandbox)

    assert notices_by_key(run)[leaver.key.id] == (
        "has 3 graded items in 2 courses: deleting the account takes them out of the gradebook"
    )
    assert f"1 account deletion would take graded work out of the gradebook (graded_work_guard): {leaver.key.id}" in (
        run.verdict.violations
    )


def test_without_the_grade_report_the_plan_says_so(sandbox: Sandbox) -> None:
    sandbox.moodle.remove_function(FUNCTION)
    run, _ = plan(sandbox)
    assert run.verdict.ok  # suspensions: nothing leaves the gradebook
    [unchecked] = [n for n in run.plan.notices if "not checked for graded work" in n.message]
    assert "Access control exception" in unchecked.message or "accessexception" in unchecked.message

    with_removal(sandbox, enrolments=EnrolmentRemoval.UNENROL)
    refused, _ = plan(sandbox)
    assert not refused.verdict.ok
    assert any("could not be checked" in v for v in refused.verdict.violations)


def test_a_plan_that_ends_nobodys_access_asks_nothing(sandbox: Sandbox) -> None:
    sandbox.config = replace(
        sandbox.config,
        removal=RemovalPolicy(users=UserRemoval.KEEP, enrolments=EnrolmentRemoval.KEEP),
        safety=SafetyPolicy(),
    )
    run, moodle = plan(sandbox)
    assert not ending(run, Kind.ENROLMENT) and not ending(run, Kind.USER)
    assert moodle.stats.calls[FUNCTION] == 0
