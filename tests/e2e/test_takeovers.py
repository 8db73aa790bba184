"""Names someone else holds, and objects taken over, end to end over loopback HTTP.

Found by the property tests and pinned here as plain cases, each through the reviewed
flow (``plan --out``, ``apply PLANFILE``, ``plan --detailed-exitcode``):

- a rename Moodle would refuse (PowerSchool changes a login, or the shortname template
  changes, to a name an account or course the tool does not own already has) is left out
  of the plan and reported, while the rest of the object is still kept in sync;
- adopting a course or an account the tool's own enrolments, groups and cohort
  memberships are already in converges in one apply: the plan that adopts knows what is
  inside, and nothing of anyone else's is touched.
"""

from __future__ import annotations

from dataclasses import replace

from ps2moodle_testkit.emulators.changes import withdraw_student
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
from .site_view import Unowned, unowned_snapshot

BODY = SCHOOL_200
ADOPT = """
adopt:
  - kind: user
    match: "*"
  - kind: course
    match: "*"
safety:
  thresholds:
    "adopt:user": { count: 5 }
"""


def synced(make_stack: MakeStack, body: str = BODY, tail: str = "") -> tuple[Stack, str]:
    text = config_text(connection("taken", body), tail=tail)
    stack = make_stack(text)
    stack.sync(stack.write(text))
    return stack, text


def call(stack: Stack, function: str, params: dict[str, object]) -> object:
    with stack.sandbox.moodle_client() as moodle:
        return moodle.call(function, params)


def test_a_new_login_someone_else_holds_is_reported_not_attempted(make_stack: MakeStack) -> None:
    stack, text = synced(make_stack)
    district = stack.district("taken")
    student = min(students_with_accounts(district, [200]), key=lambda s: s.id)
    old_name = str(student.web_id).lower()
    account = stack.view.owned_accounts()[old_name]
    # Someone makes an account by hand; PowerSchool then gives the student that very login,
    # and a new last name.
    call(
        stack,
        "core_user_create_users",
        {
            "users": [
                {
                    "username": "taken.login",
                    "firstname": "Hand",
                    "lastname": "Made",
                    "email": "hand.made@elsewhere.example.net",
                    "password": "Hand-made-1",
                }
            ]
        },
    )
    renamed = tuple(
        replace(s, web_id="taken.login", last_name="Newname") if s.id == student.id else s for s in district.students
    )
    stack.sandbox.change("taken", lambda d: replace(d, students=renamed))

    config = stack.write(text)
    plan_file, outcome = stack.plan(config)
    assert f"{account.idnumber} keeps its username" in outcome.output
    changes = read_plan(plan_file).changes
    assert [(c.action.value, c.key.id, [f.field for f in c.fields]) for c in changes] == [
        ("update", account.idnumber, ["lastname"])
    ]
    stack.apply(plan_file, config)
    outcome = stack.converged(config)  # nothing Moodle would refuse is planned again
    assert "keeps its username" in outcome.output
    accounts = stack.view.accounts()
    assert (accounts[old_name].lastname, accounts[old_name].idnumber) == ("Newname", account.idnumber)
    assert accounts["taken.login"].idnumber == "" and accounts["taken.login"].lastname == "Made"


def test_a_new_shortname_someone_else_holds_is_reported_not_attempted(make_stack: MakeStack) -> None:
    stack, text = synced(make_stack)
    calc = stack.view.owned_courses()["200-CALC-1-24-25-2024"]
    call(
        stack,
        "core_course_create_courses",
        {"courses": [{"fullname": "A teacher's own", "shortname": "CALC-1-24-25-2024", "categoryid": 1}]},
    )
    templates = (
        '    course_shortname_template: "{course_number}-{section_number}-{term_abbreviation}-{year}"\n'
        '    course_name_template: "{course_name} (section {section_number})"\n'
    )
    changed = text.replace("    schools: [200]\n", "    schools: [200]\n" + templates)
    config = stack.write(changed)
    plan_file, outcome = stack.plan(config)
    assert "course '200-CALC-1-24-25-2024' cannot be renamed to 'CALC-1-24-25-2024'" in outcome.output
    stack.apply(plan_file, config)
    outcome = stack.converged(config)
    course = stack.view.course_by_idnumber(calc.idnumber)
    assert (course.id, course.shortname) == (calc.id, "200-CALC-1-24-25-2024")
    assert course.fullname.endswith("(section 1)")
    assert stack.view.courses()["CALC-1-24-25-2024"].fullname == "A teacher's own"
    # The art group's name follows the same template, but groups cannot be renamed through
    # this tool's web service: the plan says so instead of failing at every apply.
    assert "1 group keeps its Moodle name" in outcome.output
    art = stack.view.owned_courses()["200-ART1-2024"]
    assert [g.name for g in stack.view.groups(art.id).values()] == ["Studio Art I 1 (S1)"]


def test_adopting_a_course_that_holds_our_people_converges_in_one_apply(make_stack: MakeStack) -> None:
    stack, text = synced(make_stack, tail=ADOPT)
    district = stack.district("taken")
    art = stack.view.owned_courses()["200-ART1-2024"]
    seats_before = stack.view.seats(art.id)
    groups_before = stack.view.groups(art.id)
    # Someone blanks the course's ID number; a student leaves the art class meanwhile, and
    # a helper of someone else's is enrolled and put in its group.
    call(stack, "core_course_update_courses", {"courses": [{"id": art.id, "idnumber": ""}]})
    call(
        stack,
        "core_user_create_users",
        {
            "users": [
                {
                    "username": "helper",
                    "firstname": "Class",
                    "lastname": "Helper",
                    "email": "helper@volunteers.example.net",
                    "password": "Helper-pass-1",
                }
            ]
        },
    )
    helper = stack.view.accounts()["helper"].id
    group = next(iter(groups_before.values()))
    call(stack, "enrol_manual_enrol_users", {"enrolments": [{"roleid": 4, "userid": helper, "courseid": art.id}]})
    call(stack, "core_group_add_group_members", {"members": [{"groupid": group.id, "userid": helper}]})
    sec = section(district, 200, "ART1", "1")
    active = {s.id for s in students_with_accounts(district, [200])}
    leaver = min(section_students(district, sec) & active)
    stack.sandbox.change("taken", lambda d: withdraw_student(d, leaver, d.term(200, sec.term_id).first_day))

    config = stack.write(text)
    plan_file, _ = stack.plan(config)
    document = load(plan_file)
    planned = {(c["action"], c["kind"]) for c in document["changes"]}
    assert ("adopt", "course") in planned
    assert ("create", "group") not in planned and ("create", "enrolment") not in planned
    untouched = unowned_snapshot(stack.site, Unowned.of(stack.site).without(users=set(), courses={art.id}))
    stack.apply(plan_file, config)
    stack.converged(config)  # one apply was enough

    course = stack.view.course_by_idnumber(art.idnumber)
    assert course.id == art.id
    seats = stack.view.seats(art.id)
    leaver_name = next(str(s.web_id).lower() for s in district.students if s.id == leaver)
    assert not seats[leaver_name].active and seats_before[leaver_name].active
    assert seats["helper"].roles == {"teacher"} and seats["helper"].active
    groups = stack.view.groups(art.id)
    assert {g.id for g in groups.values()} == {g.id for g in groups_before.values()}
    assert "helper" in groups[group.name].members and leaver_name not in groups[group.name].members
    assert unowned_snapshot(stack.site, Unowned.of(stack.site).without(users=set(), courses={art.id})) == untouched


def test_adopting_an_account_that_is_in_our_courses_and_cohorts_converges_in_one_apply(
    make_stack: MakeStack,
) -> None:
    stack, text = synced(make_stack, tail=ADOPT)
    district = stack.district("taken")
    student = min(students_with_accounts(district, [200]), key=lambda s: s.id)
    name = str(student.web_id).lower()
    account = stack.view.owned_accounts()[name]
    # Someone blanks the account's ID number, and puts it in a cohort and a course it does
    # not belong in (one of the tool's).
    call(stack, "core_user_update_users", {"users": [{"id": account.id, "idnumber": ""}]})
    cohorts = {c.name: c for c in stack.view.cohorts().values()}
    wrong = next(c for c in cohorts.values() if name not in c.members)
    call(
        stack,
        "core_cohort_add_cohort_members",
        {
            "members": [
                {"cohorttype": {"type": "id", "value": wrong.id}, "usertype": {"type": "id", "value": account.id}}
            ]
        },
    )
    calc = stack.view.owned_courses()["200-CALC-1-24-25-2024"]
    if name not in stack.view.seats(calc.id):
        call(
            stack,
            "enrol_manual_enrol_users",
            {"enrolments": [{"roleid": 5, "userid": account.id, "courseid": calc.id}]},
        )

    config = stack.write(text)
    plan_file, _ = stack.plan(config)
    planned = [(c["action"], c["kind"]) for c in load(plan_file)["changes"]]
    assert ("adopt", "user") in planned
    stack.apply(plan_file, config)
    stack.converged(config)  # one apply was enough

    assert stack.view.owned_accounts()[name].id == account.id
    assert name not in stack.view.cohorts()[wrong.idnumber].members
    in_calc = student.id in section_students(district, section(district, 200, "CALC"))
    assert stack.view.seats(calc.id)[name].active == in_calc


def _sitemanager_takeover(make_stack: MakeStack, tail: str) -> tuple[Stack, str, int, str]:
    """Issue 11, hole 5: a hand-made staff account ``sitemanager``; PowerSchool then gives a
    student (new to Moodle) that very login. Returns the stack, the config text, the
    account's Moodle id and the student's key."""
    stack, text = synced(make_stack, tail=tail)
    account = stack.hand_made_account("sitemanager", "site.manager@staff.example.net")
    newcomer = stack.admit("taken", "CALC", web_id="sitemanager", email="kid@students.example.org")
    return stack, text, account, keys.student_key("taken", newcomer.dcid).id


TAKE_ANY_ACCOUNT = """
adopt:
  - kind: user
    match: "*"
"""


def test_a_student_login_equal_to_a_staff_account_is_not_a_takeover_by_default(make_stack: MakeStack) -> None:
    stack, text, account_id, student = _sitemanager_takeover(make_stack, TAKE_ANY_ACCOUNT)
    before = unowned_snapshot(stack.site)

    config = stack.write(text)
    plan_file, outcome = stack.plan(config, expect=1)  # the adoption brake refuses it
    assert "1 user adopt: more than the limit of 0 (adopt:user)" in outcome.output
    assert f"adopting {student} changes the existing account's email: check it is the same person" in outcome.output
    assert [c["action"] for c in load(plan_file)["changes"] if c["kind"] == "user"] == ["adopt"]
    refused = stack.apply(plan_file, config, expect=1)
    assert "the safety checks refused this plan" in refused.output
    assert unowned_snapshot(stack.site) == before
    account = stack.view.accounts()["sitemanager"]
    assert (account.id, account.idnumber, account.email) == (account_id, "", "site.manager@staff.example.net")


def test_an_adopt_rule_that_requires_the_email_leaves_a_stranger_account_alone(make_stack: MakeStack) -> None:
    tail = TAKE_ANY_ACCOUNT + '    require: [email]\nsafety:\n  thresholds:\n    "adopt:user": { count: 10 }\n'
    stack, text, account_id, student = _sitemanager_takeover(make_stack, tail)
    before = unowned_snapshot(stack.site)

    config = stack.write(text)
    plan_file, outcome = stack.plan(config)
    assert (
        f"{student} is not adopted: adopt rule user:* requires email to match the existing user, and email does not"
        in outcome.output
    )
    assert [c for c in load(plan_file)["changes"] if c["key"] == student] == []
    stack.apply(plan_file, config)
    assert unowned_snapshot(stack.site) == before
    assert stack.view.accounts()["sitemanager"].id == account_id
