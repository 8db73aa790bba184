"""Every setting of the seed product, end to end over real HTTP on loopback.

One test per row of DESIGN's table "Every setting of the seed product, as config". Each
runs the real command line (``ps2moodle plan --out``, ``apply PLANFILE -c CONFIG``, then
``plan --detailed-exitcode`` expecting 0) against the PowerSchool and Moodle emulators
served on ephemeral loopback ports, and judges the result by what Moodle then holds, read
from the site's tables (:mod:`.site_view`), against what the generated district's
PowerSchool tables say (:mod:`.harness`), never against the tool's own computations.

Most rows are shown on one district synced once for this module (:func:`riverside`);
rows that need a setting changed between runs (auth for new accounts, cohort renames,
section migration, scopes, secrets from files...) have a stack of their own.

The last row's second half, change sync over HTTPS (``ps2moodle serve``), is covered by
the serve tests in ``tests/serve``, not here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from ps2moodle_testkit.emulators.changes import add_teacher, move_student, withdraw_student
from ps2moodle_testkit.emulators.district import District

from .harness import (
    MakeStack,
    Stack,
    actions,
    config_text,
    connection,
    custom,
    load,
    managed_stack,
    ps_env,
    section,
    section_students,
    section_teachers,
    staff_username,
    staff_with_accounts,
    students_by_id,
    students_with_accounts,
)
from .site_view import owned

#: The district most rows are shown on: both schools of the tiny generated district,
#: prefixes, templates, fields, custom fields, cohorts, roles, terms and courses per
#: school in both modes, categories per course and per school. Both URLs end in "/".
RIVERSIDE = config_text(
    connection(
        "riverside",
        """
        schools: [100, 200]
        username_prefix: rs.
        course_number_prefix: RS-
        course_name_template: "{course_name} {section_number} ({term_abbreviation}) at {school_name}"
        students:
          fields:
            institution: "{school_name}"
            department: "Grade {grade_level}"
            city: Riverside
          custom_fields:
            - source: u_students_extension.preferredname
              moodle: preferredname
            - source: u_studentsuserfields.transcriptaddrzip
              moodle: zip
          auth: ldap
          cohorts:
            - field: grade_level
              name: "Grade {value}"
            - field: zip
              name: "ZIP {value}"
        staff:
          auth: oauth2
          fields:
            institution: Riverside Public Schools
            department: "Staff {teacher_number}"
          custom_fields:
            - source: u_def_ext_schoolstaff.department
              moodle: ps_department
        roles:
          student: student
          lead: editingteacher
          co_teacher: teacher
          job_share_teacher: editingteacher
        school_settings:
          100:
            terms: ["24-25", Q1, Q2, Q3, Q4]
            category: Elementary/Jefferson
            courses:
              HR1:
              LIBK5: { mode: group, category: Elementary/Library }
          200:
            terms: ["24-25", S1]
            category: High Schools/Washington
            courses:
              CALC:
              APGOV: { category: High Schools/Washington/AP }
              CHEMH:
              CHIN2:
              ART1: { mode: group }
        """,
        url_suffix="/",
    ),
    moodle_url_suffix="/",
)


@pytest.fixture(scope="module")
def riverside(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The tiny district synced once with :data:`RIVERSIDE` through the reviewed flow."""
    for stack in managed_stack(RIVERSIDE, tmp_path_factory.mktemp("riverside")):
        config = stack.write(RIVERSIDE)
        document = stack.sync(config)
        assert {action for action, _ in actions(document)} == {"create"}
        yield stack


def district(stack: Stack) -> District:
    return stack.district("riverside")


def fullname(d: District, course: str, number: str, term: str, school: str) -> str:
    name = next(c.name for c in d.courses if c.number == course)
    return f"{name} {number} ({term}) at {school}"


def epoch(day: object) -> int:
    return int(datetime.combine(day, time(0), tzinfo=UTC).timestamp())  # type: ignore[arg-type]


# connection name ----------------------------------------------------------------------------


def test_connection_name_namespaces_every_idnumber(riverside: Stack) -> None:
    view, d = riverside.view, district(riverside)
    accounts = view.owned_accounts()
    by_login = {s.web_id.lower(): s for s in d.students if s.web_id}
    students = [a for a in accounts.values() if ":student:" in a.idnumber]
    assert students
    for account in students:
        # The key is the PowerSchool DCID under the connection's name.
        assert account.idnumber == f"ps2m:riverside:student:{by_login[account.username.removeprefix('rs.')].dcid}"
    staff = [a for a in accounts.values() if ":staff:" in a.idnumber]
    assert staff and all(a.idnumber.startswith("ps2m:riverside:staff:") for a in staff)
    courses = view.owned_courses()
    assert courses and all(c.idnumber.startswith("ps2m:riverside:") for c in courses.values())
    cohorts = [c for c in view.cohorts().values() if owned(c.idnumber)]
    assert cohorts and all(c.idnumber.startswith("ps2m:riverside:cohort:") for c in cohorts)
    groups = [g for c in courses.values() for g in view.groups(c.id).values()]
    assert groups and all(g.idnumber.startswith("ps2m:riverside:") for g in groups)
    # Categories are shared by path between connections, so they carry no connection.
    owned_categories = [i for i in view.categories().values() if owned(i)]
    assert owned_categories and all(i.startswith("ps2m:cat:") for i in owned_categories)


# PowerSchool site URL (no trailing "/") --------------------------------------------------------


def test_powerschool_url_with_trailing_slash_is_normalized(riverside: Stack) -> None:
    written = (riverside.folder / "ps2moodle.yaml").read_text(encoding="utf-8")
    assert f"url: {riverside.powerschool_urls['riverside']}/\n" in written
    assert f"url: {riverside.moodle_url}/\n" in written
    paths = riverside.requests["riverside"]
    assert "/oauth/access_token" in paths
    assert paths and not [p for p in paths if p.startswith("//")]
    # And the roster read through it arrived in Moodle.
    assert len(riverside.view.owned_accounts()) > 40


# client ID / client secret -------------------------------------------------------------------


def test_client_credentials_from_the_environment(riverside: Stack) -> None:
    written = (riverside.folder / "ps2moodle.yaml").read_text(encoding="utf-8")
    client_id, secret = ps_env("riverside")
    assert f"client_id: ${{{client_id}}}" in written and f"client_secret: ${{{secret}}}" in written
    assert riverside.secret(secret) not in written
    assert riverside.view.owned_accounts()


def test_client_credentials_from_files_and_a_wrong_one_changes_nothing(
    make_stack: MakeStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = make_stack(config_text(connection("filed", "schools: [200]")))
    client_id, secret = ps_env("filed")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "ps_id").write_text(stack.secret(client_id) + "\n", encoding="utf-8")
    (secrets / "ps_secret").write_text(stack.secret(secret) + "\n", encoding="utf-8")
    (secrets / "moodle").write_text(stack.secret("E2E_MOODLE_TOKEN"), encoding="utf-8")
    text = (
        config_text(connection("filed", "schools: [200]"))
        .replace("token: ${E2E_MOODLE_TOKEN}", f"token_file: {secrets / 'moodle'}")
        .replace(f"client_id: ${{{client_id}}}", f"client_id_file: {secrets / 'ps_id'}")
        .replace(f"client_secret: ${{{secret}}}", f"client_secret_file: {secrets / 'ps_secret'}")
    )
    assert "${" not in text
    # The variables are gone: only the files can authenticate.
    for env in (client_id, secret, "E2E_MOODLE_TOKEN"):
        monkeypatch.delenv(env)
    config = stack.write(text)
    stack.sync(config)
    expected = {s.web_id.lower() for s in students_with_accounts(stack.district("filed"), [200])}  # type: ignore[union-attr]
    assert {a.username for a in stack.view.owned_accounts().values() if ":student:" in a.idnumber} == expected

    # A wrong secret: the plan fails, says which reference, never prints a secret, changes nothing.
    before = stack.view.everything()
    (secrets / "ps_secret").write_text("not-the-secret", encoding="utf-8")
    _, outcome = stack.plan(config, expect=1)
    assert stack.secret(client_id) not in outcome.output and "not-the-secret" not in outcome.output
    assert stack.view.everything() == before


# school numbers ------------------------------------------------------------------------------


def test_only_the_listed_schools_are_synced(make_stack: MakeStack) -> None:
    stack = make_stack(config_text(connection("high", "schools: [200]")))
    stack.sync(stack.write(config_text(connection("high", "schools: [200]"))))
    d = stack.district("high")
    accounts = stack.view.owned_accounts()
    students = {a.username for a in accounts.values() if ":student:" in a.idnumber}
    assert students == {s.web_id.lower() for s in students_with_accounts(d, [200])}  # type: ignore[union-attr]
    staff = {a.username for a in accounts.values() if ":staff:" in a.idnumber}
    assert staff == {staff_username(u) for u in staff_with_accounts(d, [200])}
    elementary = {s.web_id.lower() for s in students_with_accounts(d, [100])}  # type: ignore[union-attr]
    assert elementary and not elementary & students


# username prefix -------------------------------------------------------------------------------


def test_username_prefix(riverside: Stack) -> None:
    d, accounts = district(riverside), riverside.view.owned_accounts()
    students = {a.username for a in accounts.values() if ":student:" in a.idnumber}
    assert students == {"rs." + s.web_id.lower() for s in students_with_accounts(d, [100, 200])}  # type: ignore[union-attr]
    staff = {a.username for a in accounts.values() if ":staff:" in a.idnumber}
    assert staff == {"rs." + staff_username(u) for u in staff_with_accounts(d, [100, 200])}


# course number prefix, schema for section (course) name, terms, courses per school ---------------


def test_course_number_prefix_in_every_shortname(riverside: Stack) -> None:
    courses = riverside.view.owned_courses()
    assert set(courses) == {
        "RS-100-HR1-1-24-25-2024",
        "RS-100-LIBK5-2024",
        "RS-200-CALC-1-24-25-2024",
        "RS-200-APGOV-1-24-25-2024",
        "RS-200-CHEMH-1-24-25-2024",
        "RS-200-CHIN2-1-S1-2024",
        "RS-200-ART1-2024",
    }


def test_course_name_template(riverside: Stack) -> None:
    d, courses = district(riverside), riverside.view.owned_courses()
    high, elementary = "Washington High School", "Jefferson Elementary School"
    assert courses["RS-200-CALC-1-24-25-2024"].fullname == fullname(d, "CALC", "1", "24-25", high)
    assert courses["RS-200-CHIN2-1-S1-2024"].fullname == fullname(d, "CHIN2", "1", "S1", high)
    assert courses["RS-100-HR1-1-24-25-2024"].fullname == fullname(d, "HR1", "1", "24-25", elementary)
    # Group-mode courses span the year; their sections' groups are named by the template.
    assert courses["RS-100-LIBK5-2024"].fullname == "Library Skills K-5 (2024-2025)"
    groups = riverside.view.groups(courses["RS-100-LIBK5-2024"].id)
    assert set(groups) == {fullname(d, "LIBK5", str(n), f"Q{n}", elementary) for n in range(1, 5)}


def test_terms_per_school(riverside: Stack) -> None:
    d, courses = district(riverside), riverside.view.owned_courses()
    # School 200 syncs the year and S1: the S2 sections of CHIN2 and ART1 are not in Moodle.
    assert "RS-200-CHIN2-1-S1-2024" in courses and not [c for c in courses if "CHIN2-2" in c]
    art = riverside.view.groups(courses["RS-200-ART1-2024"].id)
    assert [g.idnumber for g in art.values()] == [f"ps2m:riverside:200:section:{section(d, 200, 'ART1', '1').dcid}"]
    # School 100 syncs its quarters: all four LIBK5 sections, one per quarter.
    library = riverside.view.groups(courses["RS-100-LIBK5-2024"].id)
    assert sorted(g.idnumber for g in library.values()) == sorted(
        f"ps2m:riverside:100:section:{section(d, 100, 'LIBK5', str(n)).dcid}" for n in range(1, 5)
    )
    # Course dates are the term's.
    chin = section(d, 200, "CHIN2", "1")
    term = d.term(200, chin.term_id)
    assert (courses["RS-200-CHIN2-1-S1-2024"].startdate, courses["RS-200-CHIN2-1-S1-2024"].enddate) == (
        epoch(term.first_day),
        epoch(term.last_day),
    )


def test_courses_per_school_in_section_and_group_mode(riverside: Stack) -> None:
    d, view = district(riverside), riverside.view
    courses = view.owned_courses()
    pupils = students_by_id(d)
    active = {s.id for s in students_with_accounts(d, [100, 200])}

    def usernames(ids: set[int]) -> set[str]:
        return {"rs." + pupils[i].web_id.lower() for i in ids if i in active}  # type: ignore[union-attr]

    # Section mode: one course per section, its students enrolled.
    calc = section(d, 200, "CALC")
    seats = view.seats(courses["RS-200-CALC-1-24-25-2024"].id)
    assert courses["RS-200-CALC-1-24-25-2024"].idnumber == f"ps2m:riverside:200:section:{calc.dcid}"
    assert {u for u, s in seats.items() if s.roles == {"student"}} == usernames(section_students(d, calc))
    # Group mode: one course for the course, each section a group of its students and teachers.
    library = courses["RS-100-LIBK5-2024"]
    assert library.idnumber == "ps2m:riverside:100:course:LIBK5:2024"
    groups = {g.idnumber: g for g in view.groups(library.id).values()}
    seats = view.seats(library.id)
    everyone: set[str] = set()
    for n in range(1, 5):
        sec = section(d, 100, "LIBK5", str(n))
        students = usernames(section_students(d, sec))
        members = groups[f"ps2m:riverside:100:section:{sec.dcid}"].members
        assert students <= members
        assert members - students == {
            "rs." + staff_username(d.user_by_dcid[p])
            for p, role in section_teachers(d, sec).items()
            if role in ("Lead Teacher", "Co-Teacher")
        }
        everyone |= students
    assert {u for u, s in seats.items() if "student" in s.roles} == everyone
    assert all(s.active for s in seats.values())


def test_category_per_course_and_per_school_default(riverside: Stack) -> None:
    courses = riverside.view.owned_courses()
    placed = {name: c.category for name, c in courses.items()}
    assert placed == {
        "RS-100-HR1-1-24-25-2024": "Elementary/Jefferson",
        "RS-100-LIBK5-2024": "Elementary/Library",
        "RS-200-CALC-1-24-25-2024": "High Schools/Washington",
        "RS-200-APGOV-1-24-25-2024": "High Schools/Washington/AP",
        "RS-200-CHEMH-1-24-25-2024": "High Schools/Washington",
        "RS-200-CHIN2-1-S1-2024": "High Schools/Washington",
        "RS-200-ART1-2024": "High Schools/Washington",
    }
    categories = riverside.view.categories()
    for path in ("Elementary", "Elementary/Jefferson", "High Schools", "High Schools/Washington/AP"):
        assert categories[path] == f"ps2m:cat:{path}"


# student fields, custom fields, staff fields ----------------------------------------------------


def test_student_fields(riverside: Stack) -> None:
    d, accounts = district(riverside), riverside.view.owned_accounts()
    schools = {s.number: s.name for s in d.schools}
    for student in students_with_accounts(d, [100, 200]):
        account = accounts["rs." + student.web_id.lower()]  # type: ignore[union-attr]
        assert (account.firstname, account.lastname, account.email) == (
            student.first_name,
            student.last_name,
            student.email.lower(),  # type: ignore[union-attr]
        )
        assert account.institution == schools[student.school_number]
        assert account.department == f"Grade {student.grade_level}"
        assert account.city == "Riverside"


def test_custom_profile_fields(riverside: Stack) -> None:
    d, accounts = district(riverside), riverside.view.owned_accounts()
    filled = 0
    for student in students_with_accounts(d, [100, 200]):
        account = accounts["rs." + student.web_id.lower()]  # type: ignore[union-attr]
        want = {
            "preferredname": custom(student, "u_students_extension.preferredname"),
            "zip": custom(student, "u_studentsuserfields.transcriptaddrzip"),
        }
        assert {k: account.custom.get(k, "") for k in want} == want
        assert "ps_department" not in account.custom or account.custom["ps_department"] == ""
        filled += sum(1 for v in want.values() if v)
    assert filled > 10
    for person in staff_with_accounts(d, [100, 200]):
        account = accounts["rs." + staff_username(person)]
        assert account.custom.get("ps_department", "") == custom(person, "u_def_ext_schoolstaff.department")


def test_staff_fields(riverside: Stack) -> None:
    d, accounts = district(riverside), riverside.view.owned_accounts()
    people = staff_with_accounts(d, [100, 200])
    assert people
    for person in people:
        account = accounts["rs." + staff_username(person)]
        assert (account.firstname, account.lastname, account.email) == (
            person.first_name,
            person.last_name,
            person.email.lower(),  # type: ignore[union-attr]
        )
        assert account.institution == "Riverside Public Schools"
        assert account.department == f"Staff {person.teacher_number}"
        assert account.city == ""  # a student field, not a staff one


# auth method for new students / staff ------------------------------------------------------------


def test_auth_of_new_students_and_staff(riverside: Stack, make_stack: MakeStack) -> None:
    accounts = riverside.view.owned_accounts()
    assert {a.auth for a in accounts.values() if ":student:" in a.idnumber} == {"ldap"}
    assert {a.auth for a in accounts.values() if ":staff:" in a.idnumber} == {"oauth2"}

    # The auth is for NEW accounts: changing it leaves existing ones as they are.
    def text(schools: str, student_auth: str) -> str:
        body = f"schools: {schools}\nstudents:\n  auth: {student_auth}\nstaff:\n  auth: cas\n"
        return config_text(connection("authed", body))

    stack = make_stack(text("[200]", "ldap"))
    stack.sync(stack.write(text("[200]", "ldap")))
    stack.sync(stack.write(text("[100, 200]", "shibboleth")))
    d = stack.district("authed")
    accounts = stack.view.owned_accounts()
    high = {s.web_id.lower() for s in students_with_accounts(d, [200])}  # type: ignore[union-attr]
    elementary = {s.web_id.lower() for s in students_with_accounts(d, [100])}  # type: ignore[union-attr]
    assert {accounts[u].auth for u in high} == {"ldap"}
    assert {accounts[u].auth for u in elementary} == {"shibboleth"}
    assert {a.auth for a in accounts.values() if ":staff:" in a.idnumber} == {"cas"}


# cohorts from profile fields ---------------------------------------------------------------------


def test_cohorts_from_profile_fields_at_system_level(riverside: Stack) -> None:
    d = district(riverside)
    cohorts = {c.idnumber: c for c in riverside.view.cohorts().values() if owned(c.idnumber)}
    students = students_with_accounts(d, [100, 200])
    grades = {s.grade_level for s in students}
    for grade in grades:
        cohort = cohorts[f"ps2m:riverside:cohort:grade_level:{grade}"]
        assert cohort.name == f"Grade {grade}" and cohort.system_level
        assert cohort.members == {"rs." + s.web_id.lower() for s in students if s.grade_level == grade}  # type: ignore[union-attr]
    zips = {custom(s, "u_studentsuserfields.transcriptaddrzip") for s in students} - {""}
    assert zips
    for code in zips:
        cohort = cohorts[f"ps2m:riverside:cohort:zip:{code}"]
        assert cohort.name == f"ZIP {code}" and cohort.system_level
        expected = {
            "rs." + s.web_id.lower()  # type: ignore[union-attr]
            for s in students
            if custom(s, "u_studentsuserfields.transcriptaddrzip") == code
        }
        assert cohort.members == expected
    assert len(cohorts) == len(grades) + len(zips)


def test_a_renamed_cohort_template_renames_the_same_cohorts(make_stack: MakeStack) -> None:
    def text(name: str) -> str:
        body = f'schools: [200]\nstudents:\n  cohorts:\n    - field: grade_level\n      name: "{name}"\n'
        return config_text(connection("named", body))

    stack = make_stack(text("Grade {value}"))
    stack.sync(stack.write(text("Grade {value}")))
    before = {c.idnumber: c for c in stack.view.cohorts().values() if owned(c.idnumber)}
    assert before and {c.name for c in before.values()} == {f"Grade {g}" for g in (9, 10, 11, 12)}

    document = stack.sync(stack.write(text("Class of grade {value}")))
    assert {a for a, _ in actions(document)} == {"update"}
    assert {k for _, k in actions(document)} == set(before)
    after = {c.idnumber: c for c in stack.view.cohorts().values() if owned(c.idnumber)}
    assert {k: c.id for k, c in after.items()} == {k: c.id for k, c in before.items()}
    assert {k: c.members for k, c in after.items()} == {k: c.members for k, c in before.items()}
    assert {c.name for c in after.values()} == {f"Class of grade {g}" for g in (9, 10, 11, 12)}


# role mapping ------------------------------------------------------------------------------------


def test_role_mapping(riverside: Stack) -> None:
    d, view = district(riverside), riverside.view
    courses = view.owned_courses()
    mapping = {"Lead Teacher": "editingteacher", "Co-Teacher": "teacher", "Job Share Teacher": "editingteacher"}
    seen: set[str] = set()
    for course in ("CALC", "APGOV", "CHEMH"):
        shortname = f"RS-200-{course}-1-24-25-2024"
        teachers = section_teachers(d, section(d, 200, course))
        seats = view.seats(courses[shortname].id)
        staff_seats = {u: s.roles for u, s in seats.items() if "student" not in s.roles}
        expected = {
            "rs." + staff_username(d.user_by_dcid[p]): frozenset({mapping[role]})
            for p, role in teachers.items()
            if role in mapping
        }
        assert staff_seats == expected
        seen |= {role for role in teachers.values()}
    # Each PowerSchool role was met, and the unmapped one (special ed) enrolled nobody.
    assert seen == {"Lead Teacher", "Co-Teacher", "Job Share Teacher", "Special Ed Teacher"}


# migrating sections via extension field ------------------------------------------------------------


def test_section_migration_reviewed_keeps_the_moodle_course(make_stack: MakeStack) -> None:
    def text(courses: str, migration: str = "") -> str:
        body = f'schools: [200]\n{migration}school_settings:\n  200:\n    terms: ["24-25"]\n    courses: {courses}\n'
        return config_text(connection("moving", body))

    field = "section_migration:\n  field: u_def_ext_sections.migrate_to\n"
    reviewed = field + (
        "  moves:\n    - { school: 200, from_course: ALG2, from_section: '1', to_course: ALG2H, to_section: '1' }\n"
    )
    stack = make_stack(text("{ ALG2: }"))
    d = stack.district("moving")
    old, new = section(d, 200, "ALG2"), section(d, 200, "ALG2H")
    assert old.migrate_to == "ALG2H"  # PowerSchool proposes: ALG2.1 continues as ALG2H (same section number)
    stack.sync(stack.write(text("{ ALG2: }")))
    course = stack.view.course_by_idnumber(f"ps2m:moving:200:section:{old.dcid}")

    # The field alone proposes: the plan reports it, and Moodle keeps the course as it is.
    before = stack.view.everything()
    plan_file, outcome = stack.plan(stack.write(text("{ ALG2: }", field)), "--detailed-exitcode", expect=0)
    assert "asks to migrate to ALG2H.1" in outcome.output
    assert load(plan_file)["changes"] == []
    assert stack.view.everything() == before

    # Reviewed (listed in the config): the same Moodle course continues as the new section.
    config = stack.write(text("{ ALG2: , ALG2H: }", reviewed))
    document = stack.sync(config)
    assert ("move", f"ps2m:moving:200:section:{new.dcid}") in actions(document, "course")
    moved = stack.view.course_by_idnumber(f"ps2m:moving:200:section:{new.dcid}")
    assert moved.id == course.id
    assert moved.shortname == "200-ALG2H-1-24-25-2024"
    assert not [c for c in stack.view.owned_courses().values() if c.idnumber.endswith(f":{old.dcid}")]
    pupils = students_by_id(d)
    active = {s.id for s in students_with_accounts(d, [200])}
    seats = stack.view.seats(moved.id)
    now_in = {pupils[i].web_id.lower() for i in section_students(d, new) if i in active}  # type: ignore[union-attr]
    left = {pupils[i].web_id.lower() for i in section_students(d, old) if i in active} - now_in  # type: ignore[union-attr]
    assert {u for u, s in seats.items() if s.roles == {"student"} and s.active} == now_in
    # Students of the old section not in the new one keep their place (and grades), suspended.
    assert {u for u, s in seats.items() if s.roles == {"student"} and not s.active} == left


# save only / sync all / sync users / sync courses ----------------------------------------------------


def test_save_only_validates_without_touching_either_system(make_stack: MakeStack) -> None:
    text = config_text(connection("checked", "schools: [200]"))
    stack = make_stack(text)
    before = stack.view.everything()
    outcome = stack.cli("validate", stack.write(text))
    assert outcome.code == 0, outcome.output
    broken = stack.write(text.replace("schools: [200]", "schools: [200]\nusername_prefx: x."), "broken.yaml")
    outcome = stack.cli("validate", broken)
    assert outcome.code == 1
    assert "broken.yaml:" in outcome.output and "username_prefx" in outcome.output
    _, outcome = stack.plan(broken, expect=1)
    assert stack.requests["checked"] == []
    assert stack.view.everything() == before


def test_sync_users_then_courses_then_all(make_stack: MakeStack) -> None:
    body = """
        schools: [200]
        students:
          cohorts:
            - field: grade_level
        school_settings:
          200:
            terms: ["24-25"]
            courses: { CALC: , ENG9: { mode: group } }
        """
    text = config_text(connection("scoped", body))
    stack = make_stack(text)
    config = stack.write(text)
    d = stack.district("scoped")

    # sync courses first: categories, courses and groups; nobody to enrol yet.
    stack.sync(config, "--scope", "courses")
    view = stack.view
    assert set(view.owned_courses()) == {"200-CALC-1-24-25-2024", "200-ENG9-2024"}
    assert not view.owned_accounts() and not [c for c in view.cohorts().values() if owned(c.idnumber)]
    assert all(view.seats(c.id) == {} for c in view.owned_courses().values())
    stack.plan(config, "--detailed-exitcode", expect=2)  # sync all still has users to make

    # sync users: accounts and cohorts, courses left as they are.
    stack.sync(config, "--scope", "users")
    accounts = stack.view.owned_accounts()
    assert {a.username for a in accounts.values() if ":student:" in a.idnumber} == {
        s.web_id.lower()  # type: ignore[union-attr]
        for s in students_with_accounts(d, [200])
    }
    assert [c for c in stack.view.cohorts().values() if owned(c.idnumber)]
    assert all(stack.view.seats(c.id) == {} for c in stack.view.owned_courses().values())

    # sync courses again: now the enrolments; then sync all has nothing left to do.
    stack.plan(config, "--scope", "courses", "--detailed-exitcode", expect=2)
    stack.sync(config, "--scope", "courses")
    calc = stack.view.owned_courses()["200-CALC-1-24-25-2024"]
    pupils = students_by_id(d)
    assert {u for u, s in stack.view.seats(calc.id).items() if s.roles == {"student"}} == {
        pupils[i].web_id.lower()  # type: ignore[union-attr]
        for i in section_students(d, section(d, 200, "CALC"))
        if pupils[i].web_id and pupils[i].email and pupils[i].enroll_status in (0, -1)
    }
    stack.converged(config)


# manual sync (plan / apply) ------------------------------------------------------------------------


def test_manual_sync_plan_then_apply_and_a_day_of_changes(make_stack: MakeStack) -> None:
    body = """
        schools: [200]
        school_settings:
          200:
            terms: ["24-25", S1]
            courses: { CALC: , CHIN2: , PRECALC: }
        """
    text = config_text(connection("manual", body))
    stack = make_stack(text)
    config = stack.write(text)
    d = stack.district("manual")
    site_before = stack.view.everything()
    plan_file, outcome = stack.plan(config, "--detailed-exitcode", expect=2)
    assert "to create" in outcome.output
    assert stack.view.everything() == site_before  # a plan changes nothing
    stack.apply(plan_file, config)
    # The same plan file again is refused: Moodle is no longer what it was reviewed against.
    after_first = stack.view.everything()
    after_first_categories = stack.view.categories()
    outcome = stack.apply(plan_file, config, expect=1)
    assert "cannot be applied as reviewed" in outcome.output
    assert stack.view.everything() == after_first
    stack.converged(config)

    # A day in PowerSchool: a student moves from CALC to PRECALC, a co-teacher joins CHIN2,
    # a student leaves the district.
    calc, precalc, chin = section(d, 200, "CALC"), section(d, 200, "PRECALC"), section(d, 200, "CHIN2", "1")
    pupils = students_by_id(d)
    active = {s.id for s in students_with_accounts(d, [200])}
    mover = min(section_students(d, calc) & active - section_students(d, precalc))
    leaver = min(section_students(d, chin) & active - {mover})
    teacher = next(
        s.id
        for s in d.school_staff
        if s.school_number == 200
        and s.status == 1
        and s.staff_status == 1
        and s.users_dcid not in section_teachers(d, chin)
        and s.users_dcid in {u.dcid for u in staff_with_accounts(d, [200])}
    )
    day = d.term(200, calc.term_id).first_day.replace(day=28)
    stack.sandbox.change("manual", lambda x: move_student(x, mover, calc.id, precalc.id, day))
    stack.sandbox.change("manual", lambda x: add_teacher(x, chin.id, teacher, "Co-Teacher", day))
    stack.sandbox.change("manual", lambda x: withdraw_student(x, leaver, day))

    outcome = stack.cli("apply", config, "--auto-approve", "--out", stack.folder / "now")  # plan and apply in one step
    assert outcome.code == 0, outcome.output
    stack.converged(config)
    view, courses = stack.view, stack.view.owned_courses()
    mover_name = pupils[mover].web_id.lower()  # type: ignore[union-attr]
    leaver_name = pupils[leaver].web_id.lower()  # type: ignore[union-attr]
    # Dropped: the enrolment is suspended (grades survive), not removed.
    assert not view.seats(courses["200-CALC-1-24-25-2024"].id)[mover_name].active
    assert view.seats(courses["200-PRECALC-1-24-25-2024"].id)[mover_name].active
    co_teacher = staff_username(d.user_by_dcid[d.staff_by_id[teacher].users_dcid])
    assert view.seats(courses["200-CHIN2-1-S1-2024"].id)[co_teacher].roles == {"teacher"}
    assert view.owned_accounts()[leaver_name].suspended
    assert not view.owned_accounts()[mover_name].suspended

    # A course added to the config later lands in the category the others made, through
    # a saved plan (apply reads the Moodle ids of what the new course hangs on).
    config = stack.write(text.replace("PRECALC: }", "PRECALC: , STAT: }"))
    document = stack.sync(config)
    assert [a for a, key in actions(document, "course")] == ["create"]
    courses = stack.view.owned_courses()
    assert courses["200-STAT-1-24-25-2024"].category == courses["200-CALC-1-24-25-2024"].category
    assert len(stack.view.categories()) == len(after_first_categories)
