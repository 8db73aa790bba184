"""build_desired: the Moodle state a config and a roster imply."""

from __future__ import annotations

from dataclasses import replace

from reconciler import keys
from reconciler.config.model import CohortRule, CustomField, PeopleSettings, SectionMigration, SectionMove
from reconciler.desired import build_desired
from reconciler.model import Category, Cohort, Course, Enrolment, Group, Key, Kind, User
from reconciler.powerschool.roster import Section, SectionTeacher
from tests.support.factories import config, connection, roster, student


def test_students_staff_and_prefixes() -> None:
    conn = connection(username_prefix="n-")
    desired = build_desired(config(conn), {"north": roster()}).state
    users = {u.username: u for u in desired.by_kind(Kind.USER) if isinstance(u, User)}
    assert sorted(users) == ["n-ann", "n-bob", "n-tco", "n-tlead"]  # cyd is transferred out
    ann = users["n-ann"]
    assert ann.key == keys.student_key("north", 1)
    assert (ann.firstname, ann.lastname, ann.email, ann.auth) == (
        "First1",
        "Last1",
        "ann@students.example.org",
        "manual",
    )
    assert users["n-tlead"].key == keys.staff_key("north", 501)


def test_inactive_students_are_known_for_lookup_not_desired() -> None:
    desired = build_desired(config(), {"north": roster()})
    cyd = keys.student_key("north", 3)
    assert cyd not in desired.state
    assert cyd in desired.known_users
    assert desired.school_students == {("north", 100): 2}


def test_section_mode_courses_use_templates_and_selected_terms() -> None:
    desired = build_desired(config(), {"north": roster()}).state
    courses = {c.key: c for c in desired.by_kind(Kind.COURSE) if isinstance(c, Course)}
    eng1 = courses[keys.section_course_key("north", 100, 201)]
    assert eng1.fullname == "English 1 1 (S1)"
    assert eng1.shortname == "100-ENG1-1-S1-2024"
    assert eng1.category == keys.category_key(("High Schools", "Lincoln"))
    # Section 205 is in S2, which the config does not select.
    assert keys.section_course_key("north", 100, 205) not in courses


def test_categories_are_created_along_the_path() -> None:
    desired = build_desired(config(), {"north": roster()}).state
    cats = {c.key: c for c in desired.by_kind(Kind.CATEGORY) if isinstance(c, Category)}
    top, lincoln = keys.category_key(("High Schools",)), keys.category_key(("High Schools", "Lincoln"))
    assert cats[top].parent is None and cats[top].name == "High Schools"
    assert cats[lincoln].parent == top and cats[lincoln].name == "Lincoln"
    assert cats[keys.category_key(("Math",))].parent is None


def test_group_mode_makes_one_course_with_a_group_per_section() -> None:
    desired = build_desired(config(), {"north": roster()}).state
    course_key = keys.group_course_key("north", 100, "ALG1", 2024)
    course = desired.get(course_key)
    assert isinstance(course, Course)
    assert course.shortname == "100-ALG1-2024" and course.fullname == "Algebra 1 (2024-2025)"
    groups = [g for g in desired.by_kind(Kind.GROUP) if isinstance(g, Group)]
    assert {g.key for g in groups} == {keys.group_key("north", 100, 203), keys.group_key("north", 100, 204)}
    assert all(g.course == course_key for g in groups)
    members = {m.key.id for m in desired.by_kind(Kind.GROUP_MEMBER)}
    ann, bob = keys.student_key("north", 1), keys.student_key("north", 2)
    assert f"{keys.group_key('north', 100, 203).id}|{ann.id}" in members
    assert f"{keys.group_key('north', 100, 204).id}|{bob.id}" in members


def test_roles_from_the_mapping_add_up_in_group_mode() -> None:
    desired = build_desired(config(), {"north": roster()}).state
    enrols = {(e.course, e.user): e for e in desired.by_kind(Kind.ENROLMENT) if isinstance(e, Enrolment)}
    eng = keys.section_course_key("north", 100, 201)
    alg = keys.group_course_key("north", 100, "ALG1", 2024)
    lead, co = keys.staff_key("north", 501), keys.staff_key("north", 502)
    assert enrols[(eng, lead)].roles == ("editingteacher",)
    assert enrols[(eng, co)].roles == ("teacher",)
    # Carl leads ALG1.1; Tess leads ALG1.2: both editing teachers of the one course.
    assert enrols[(alg, co)].roles == ("editingteacher",)
    assert enrols[(eng, keys.student_key("north", 1))].roles == ("student",)


def test_dropped_enrolments_are_not_desired() -> None:
    desired = build_desired(config(), {"north": roster()}).state
    eng = keys.section_course_key("north", 100, 201)
    bob = keys.student_key("north", 2)
    assert not any(
        e.course == eng and e.user == bob for e in desired.by_kind(Kind.ENROLMENT) if isinstance(e, Enrolment)
    )


def test_unmapped_role_is_reported_not_enrolled() -> None:
    sections = (Section(201, 100, "ENG1", "1", 11, (SectionTeacher(501, "aide"),)),)
    desired = build_desired(config(), {"north": roster(sections=sections)})
    assert any("'aide'" in n.message for n in desired.notices)
    assert not any(isinstance(e, Enrolment) and e.user == keys.staff_key("north", 501) for e in desired.state)


def test_cohorts_keep_their_key_when_the_name_template_changes() -> None:
    first = build_desired(config(), {"north": roster()}).state
    renamed_students = replace(
        connection().students, cohorts=(replace(connection().students.cohorts[0], name="G{value}"),)
    )
    second = build_desired(config(connection(students=renamed_students)), {"north": roster()}).state
    c1 = {c.key: c for c in first.by_kind(Kind.COHORT) if isinstance(c, Cohort)}
    c2 = {c.key: c for c in second.by_kind(Kind.COHORT) if isinstance(c, Cohort)}
    assert (
        c1.keys()
        == c2.keys()
        == {keys.cohort_key("north", "grade_level", "9"), keys.cohort_key("north", "grade_level", "10")}
    )
    assert c1[keys.cohort_key("north", "grade_level", "9")].name == "Grade level: 9"
    assert c2[keys.cohort_key("north", "grade_level", "9")].name == "G9"


def test_people_without_login_or_email_are_skipped_with_a_notice() -> None:
    students = (student(1, "ann"), student(2, "", email=""), student(4, "dee", email=""))
    desired = build_desired(config(), {"north": roster(students=students)})
    usernames = {u.username for u in desired.state.by_kind(Kind.USER) if isinstance(u, User)}
    assert "dee" not in usernames and "ann" in usernames
    messages = [n.message for n in desired.notices]
    assert "1 person has no PowerSchool login, so no Moodle account (seed behaviour): ps2m:north:student:2" in messages
    assert (
        "1 person has no email and no email_fallback is configured; account skipped: ps2m:north:student:4" in messages
    )


def test_email_fallback_template() -> None:
    conn = connection(students=replace(PeopleSettings(), email_fallback="{student_number}@noemail.example.org"))
    desired = build_desired(config(conn), {"north": roster(students=(student(4, "dee", email=""),))}).state
    dee = next(u for u in desired.by_kind(Kind.USER) if isinstance(u, User) and u.username == "dee")
    assert dee.email == "100004@noemail.example.org"


def test_custom_fields_and_profile_fields() -> None:
    people = PeopleSettings(
        fields=(
            ("firstname", "{first_name}"),
            ("lastname", "{last_name}"),
            ("email", "{email}"),
            ("institution", "{school_name}"),
        ),
        custom_fields=(CustomField("u_ext.house", "house"),),
    )
    s = replace(student(1, "ann"), custom=(("u_ext.house", "Red"),))
    desired = build_desired(config(connection(students=people)), {"north": roster(students=(s,))}).state
    ann = next(u for u in desired.by_kind(Kind.USER) if isinstance(u, User) and u.username == "ann")
    assert dict(ann.profile) == {"institution": "Lincoln High"}
    assert dict(ann.customfields) == {"house": "Red"}


def test_duplicate_usernames_and_emails_are_reported() -> None:
    students = (
        student(1, "ann"),
        student(2, "ann"),
        student(5, "eve", email="family@example.org"),
        student(6, "fay", email="family@example.org"),
    )
    desired = build_desired(config(), {"north": roster(students=students)})
    assert sum(1 for u in desired.state.by_kind(Kind.USER) if isinstance(u, User) and u.username == "ann") == 1
    messages = " ".join(n.message for n in desired.notices)
    assert "'ann'" in messages and "already used" in messages
    assert "2 accounts share one email (ps2m:north:student:5, ps2m:north:student:6)" in messages
    assert "family@example.org" not in messages


def test_usernames_moodle_refuses_are_skipped() -> None:
    desired = build_desired(config(), {"north": roster(students=(student(1, "José M"),))})
    assert not [
        u for u in desired.state.by_kind(Kind.USER) if isinstance(u, User) and u.key == keys.student_key("north", 1)
    ]
    assert "characters Moodle refuses" in desired.notices[0].message


def test_reviewed_section_migration_records_a_move() -> None:
    migrated = replace(roster().sections[1], extension=(("u_sec.new_course_id", "ENG1.3"),), term_dcid=11)
    target = Section(206, 100, "ENG1", "3", 11, (SectionTeacher(501, "lead"),))
    sections = (roster().sections[0], migrated, target)
    move = SectionMove(school=100, from_course="ENG1", from_section="2", to_course="ENG1", to_section="3")
    conn = connection(section_migration=SectionMigration(field="u_sec.new_course_id", moves=(move,)))
    desired = build_desired(config(conn), {"north": roster(sections=sections)})
    old, new = keys.section_course_key("north", 100, 202), keys.section_course_key("north", 100, 206)
    assert desired.moves == {new: old}
    assert old not in desired.state and new in desired.state


def test_unreviewed_section_migration_is_only_reported() -> None:
    migrated = replace(roster().sections[1], extension=(("u_sec.new_course_id", "ENG1.3"),))
    conn = connection(section_migration=SectionMigration(field="u_sec.new_course_id"))
    desired = build_desired(config(conn), {"north": roster(sections=(migrated,))})
    assert desired.moves == {}
    assert keys.section_course_key("north", 100, 202) in desired.state
    assert any("section_migration.moves" in n.message for n in desired.notices)


def test_two_connections_never_collide() -> None:
    north = connection("north", username_prefix="n-", course_number_prefix="N")
    south = connection("south", username_prefix="s-", course_number_prefix="S")
    desired = build_desired(config(north, south), {"north": roster(), "south": roster()}).state
    users = [u for u in desired.by_kind(Kind.USER) if isinstance(u, User)]
    assert len(users) == 8 and len({u.username for u in users}) == 8
    courses = [c for c in desired.by_kind(Kind.COURSE) if isinstance(c, Course)]
    assert len({c.shortname for c in courses}) == len(courses) == 6
    assert {Key(Kind.USER, u.key.id).id.split(":")[1] for u in users} == {"north", "south"}


def test_values_moodle_refuses_keep_the_person_and_name_only_key_and_field() -> None:
    students = (student(1, "ps2m:ann", email="ann@example.org"), student(2, "bob", email="bob@localhost"))
    desired = build_desired(config(), {"north": roster(students=students)})
    ann, bob = keys.student_key("north", 1), keys.student_key("north", 2)
    assert ann not in desired.state and bob not in desired.state
    assert {ann, bob} <= desired.kept
    assert not [r for r in desired.state if ann in r.references() or bob in r.references()]
    messages = [n.message for n in desired.notices]
    assert (
        "1 account left out, Moodle would refuse the username (characters Moodle refuses in a username: only "
        "a-z 0-9 - . _ @); an existing account keeps its enrolments, groups and cohorts as they are: "
        f"{ann.id}" in messages
    )
    assert any(m.startswith("1 account left out, Moodle would refuse the email (") and bob.id in m for m in messages)
    assert not [m for m in messages if "ps2m:ann" in m.replace(ann.id, "") or "localhost" in m]


def test_a_refused_course_cohort_or_group_is_kept_with_its_members_left_out() -> None:
    long_name = "N" * 300
    rule = CohortRule(field="grade_level", name="<b>Grade</b> {value}")
    conn = connection(
        students=PeopleSettings(cohorts=(rule,)),
        course_name_template="{course_name} " + long_name,
    )
    desired = build_desired(config(conn), {"north": roster()})
    kinds = {k.kind for k in desired.kept}
    assert kinds == {Kind.COURSE, Kind.GROUP, Kind.COHORT}
    assert not [r for r in desired.state if any(ref in desired.kept for ref in r.references())]
    assert not [r for r in desired.state if r.key in desired.kept]
    text = " ".join(n.message for n in desired.notices)
    assert "courses left out, Moodle would refuse the fullname (longer than 254 characters)" in text
    assert "cohorts left out, Moodle would refuse the name (HTML tags)" in text
    assert "groups left out, Moodle would refuse the name (longer than 254 characters)" in text
