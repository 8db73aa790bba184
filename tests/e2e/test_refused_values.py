"""Values Moodle would refuse, end to end over loopback HTTP (the emulated Moodle refuses
them as a real Moodle 4.5 does: parameter types, validate_email, column lengths).

PowerSchool data a Moodle site cannot hold (a login with a colon, a 10 KB course name, an
HTML last name, an address that is not one) must not make every apply fail the same way,
and must not read as "gone from PowerSchool" either: the object is left out of the plan
with a warning naming its key and the field, and what Moodle already holds of it (the
account, the course, their enrolments, groups and cohorts) stays exactly as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from ps2moodle_testkit.emulators.changes import move_student
from ps2moodle_testkit.emulators.district import District
from reconciler import keys
from reconciler.plan.file import read_plan

from .harness import (
    SCHOOL_200,
    MakeStack,
    Stack,
    config_text,
    connection,
    load,
    section,
    section_students,
    students_with_accounts,
)

Edit = Callable[[District, int], District]


def _student(field: str, value: str) -> Edit:
    def edit(district: District, student_id: int) -> District:
        students = tuple(replace(s, **{field: value}) if s.id == student_id else s for s in district.students)
        return replace(district, students=students)

    return edit


def _synced(make_stack: MakeStack) -> tuple[Stack, str]:
    text = config_text(connection("odd", SCHOOL_200))
    stack = make_stack(text)
    stack.sync(stack.write(text))
    return stack, text


def _art_student(district: District) -> int:
    """A student with an account who is in the art course (a group) and a cohort."""
    art = section(district, 200, "ART1", "1")
    active = {s.id for s in students_with_accounts(district, [200])}
    return min(section_students(district, art) & active)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (_student("web_id", "ps2m:taken"), "username"),  # issue 11, hole 6
        (_student("web_id", "x" * 101), "username"),
        (_student("last_name", "<b>Bold</b>"), "lastname"),
        (_student("first_name", "N" * 10_000), "firstname"),
        (_student("email", "not-an-address"), "email"),
        (_student("email", "someone@localhost"), "email"),
    ],
    ids=["login-ps2m:", "login-101-chars", "html-lastname", "10KB-firstname", "email-no-at", "email-no-dot"],
)
def test_a_person_whose_value_moodle_refuses_keeps_account_and_memberships(
    make_stack: MakeStack, edit: Edit, field: str
) -> None:
    stack, text = _synced(make_stack)
    district = stack.district("odd")
    student_id = _art_student(district)
    dcid = next(s.dcid for s in district.students if s.id == student_id)
    key = keys.student_key("odd", dcid).id
    before = stack.view.everything()
    stack.sandbox.change("odd", lambda d: edit(d, student_id))

    config = stack.write(text)
    plan_file, outcome = stack.plan(config, "--detailed-exitcode")  # exit 0: nothing to change
    assert load(plan_file)["changes"] == []
    assert f"Moodle would refuse the {field} (" in outcome.output
    assert key in outcome.output
    assert "keeps its enrolments, groups and cohorts as they are" in outcome.output
    stack.apply(plan_file, config)
    assert stack.view.everything() == before


def test_a_course_whose_name_moodle_refuses_is_left_as_it_is(make_stack: MakeStack) -> None:
    stack, text = _synced(make_stack)
    district = stack.district("odd")
    calc = section(district, 200, "CALC")
    course = keys.section_course_key("odd", 200, calc.dcid).id
    before = stack.view.everything()
    courses = tuple(replace(c, name="Calculus " + "x" * 10_000) if c.number == "CALC" else c for c in district.courses)
    # The course gets a 10 KB name, and a student moves from it to a class the config
    # does not select meanwhile.
    leaver = min(section_students(district, calc))
    elsewhere = next(s for s in district.sections if s.school_number == 200 and s.course_number not in ("CALC", "ART1"))
    first_day = district.term(200, calc.term_id).first_day
    stack.sandbox.change(
        "odd", lambda d: move_student(replace(d, courses=courses), leaver, calc.id, elsewhere.id, first_day)
    )

    config = stack.write(text)
    plan_file, outcome = stack.plan(config, "--detailed-exitcode")
    assert load(plan_file)["changes"] == []
    assert "1 course left out, Moodle would refuse the fullname (longer than 254 characters)" in outcome.output
    assert course in outcome.output
    stack.apply(plan_file, config)
    assert stack.view.everything() == before


def test_an_html_group_name_leaves_the_group_and_its_members_alone(make_stack: MakeStack) -> None:
    stack, text = _synced(make_stack)
    # Group names follow the section name template: an HTML course name reaches the group
    # (and the course, whose name is the same template in group mode).
    templates = '    course_name_template: "{course_name} <i>{section_number}</i>"\n'
    changed = text.replace("    schools: [200]\n", "    schools: [200]\n" + templates)
    before = stack.view.everything()
    config = stack.write(changed)
    plan_file, outcome = stack.plan(config)
    assert "1 group left out, Moodle would refuse the name (HTML tags)" in outcome.output
    assert "1 course left out, Moodle would refuse the fullname (HTML tags)" in outcome.output
    assert all(c["action"] not in ("delete", "suspend") for c in load(plan_file)["changes"])
    stack.apply(plan_file, config)
    stack.converged(config)
    after = stack.view.everything()
    assert after == before


def test_a_new_account_whose_email_someone_has_is_left_out_not_failed_at_every_apply(make_stack: MakeStack) -> None:
    stack, text = _synced(make_stack)
    stack.hand_made_account("librarian", "shared.desk@school.example.org")
    newcomer = stack.admit("odd", "CALC", web_id="newcomer", email="Shared.Desk@school.example.org")
    before = stack.view.everything()

    config = stack.write(text)
    plan_file, outcome = stack.plan(config, "--detailed-exitcode")  # nothing Moodle would take
    assert "1 account left out: another Moodle account already has its email" in outcome.output
    assert keys.student_key("odd", newcomer.dcid).id in outcome.output
    assert "shared.desk" not in outcome.output.lower()
    stack.apply(plan_file, config)
    assert stack.view.everything() == before

    # A site that allows accounts to share an e-mail says so, and gets the account.
    stack.site.config.allowaccountssameemail = True
    allowed = text.replace("connections:\n", "  allow_accounts_same_email: true\nconnections:\n", 1)
    stack.sync(stack.write(allowed))
    assert stack.view.owned_accounts()["newcomer"].email == "shared.desk@school.example.org"


def test_an_email_change_to_an_address_someone_has_is_held_back(make_stack: MakeStack) -> None:
    stack, text = _synced(make_stack)
    district = stack.district("odd")
    student = min(students_with_accounts(district, [200]), key=lambda s: s.id)
    name = str(student.web_id).lower()
    account = stack.view.owned_accounts()[name]
    stack.hand_made_account("frontdesk", "front.desk@school.example.org")
    changed = _student("email", "front.desk@school.example.org")(district, student.id)
    stack.sandbox.change("odd", lambda _: _student("last_name", "Newname")(changed, student.id))

    config = stack.write(text)
    plan_file, outcome = stack.plan(config)
    assert "1 account keeps its email: another Moodle account already has the new one" in outcome.output
    assert account.idnumber in outcome.output and "front.desk" not in outcome.output
    assert [(c.action.value, [f.field for f in c.fields]) for c in read_plan(plan_file).changes] == [
        ("update", ["lastname"])
    ]
    stack.apply(plan_file, config)
    stack.converged(config)
    after = stack.view.owned_accounts()[name]
    assert (after.email, after.lastname) == (account.email, "Newname")
