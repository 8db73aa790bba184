"""Property: from small rosters built at random, with the text real rosters hold (accents,
apostrophes, ampersands, doubled spaces, upper-case logins and addresses, empty custom
fields), plan -> apply -> plan is empty and Moodle holds exactly the desired state, and it
stays so when PowerSchool then changes (renames, leavers, schedule changes).

The rosters go straight to the planner (a roster reader that returns them); Moodle is the
emulated site in process. The PowerSchool client and the generated districts are the
subject of :mod:`.test_convergence_properties`; this module is about what the text and
shape of a roster can do to the sync.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from reconciler.config.model import (
    CohortRule,
    Config,
    Connection,
    CourseMode,
    CourseRule,
    CustomField,
    MoodleSettings,
    PeopleSettings,
    PowerSchoolSettings,
    SchoolSettings,
    SecretRef,
)
from reconciler.moodle.client import MoodleClient
from reconciler.pipeline import run_apply, run_plan
from reconciler.powerschool.roster import (
    Course,
    Roster,
    School,
    Section,
    SectionEnrolment,
    SectionTeacher,
    Staff,
    Student,
    Term,
)

from .convergence import held_names, mismatches

TOKEN = "roster-property-token"
#: Never read: the rosters come from the test, not from a server.
UNUSED = SecretRef(env="E2E_UNUSED_SECRET", where="test")

YEAR = Term(10, 3400, 100, 34, "2024-2025", "24-25", date(2024, 8, 26), date(2025, 6, 13), 1, is_year=True)
S1 = Term(11, 3401, 100, 34, "Semester 1", "S1", date(2024, 8, 26), date(2025, 1, 17), 2)
COURSES = ("ENG1", "ALG1", "ART1")

CONFIG = Config(
    moodle=MoodleSettings(url="https://moodle.test", token=UNUSED, allow_accounts_same_email=True),
    connections=(
        Connection(
            name="text",
            powerschool=PowerSchoolSettings(url="https://ps.example.org", client_id=UNUSED, client_secret=UNUSED),
            schools=(100,),
            username_prefix="t.",
            students=PeopleSettings(
                fields=(
                    ("email", "{email}"),
                    ("firstname", "{first_name}"),
                    ("lastname", "{last_name}"),
                    ("department", "{school_name}, grade {grade_level}"),
                ),
                custom_fields=(CustomField("u_students_extension.preferredname", "preferredname"),),
                email_fallback="{student_number}@students.example.org",
                cohorts=(CohortRule("grade_level", "Grade {value}"), CohortRule("preferredname", "Called {value}")),
            ),
            roles=(("co_teacher", "teacher"), ("lead", "editingteacher"), ("student", "student")),
            school_settings=(
                SchoolSettings(
                    100,
                    terms=("24-25", "S1"),
                    category="Schools/Saint-Éloi & Sons",
                    courses=(CourseRule("ENG1"), CourseRule("ALG1", CourseMode.GROUP), CourseRule("ART1")),
                ),
            ),
        ),
    ),
)

#: Letters, spaces and the punctuation real names and titles carry.
NAME = st.text(
    alphabet=st.sampled_from(list("abcxyzABCXYZàéîõüñçÅØß ' -.&")),
    min_size=1,
    max_size=12,
).filter(lambda s: s.strip() != "")
LOGIN = st.from_regex(r"[A-Za-z][A-Za-z0-9._-]{0,8}", fullmatch=True)


@st.composite
def rosters(draw: st.DrawFn) -> Roster:
    courses = tuple(Course(i + 1, number, draw(NAME)) for i, number in enumerate(COURSES))
    staff_count = draw(st.integers(1, 4))
    staff = tuple(
        Staff(
            500 + i,
            f"T{i}",
            draw(LOGIN),
            draw(NAME),
            draw(NAME),
            email=draw(st.sampled_from(["", f"Teacher.{i}@Staff.Example.org", f"t{i}@staff.example.org"])),
            schools=(100,),
        )
        for i in range(staff_count)
    )
    sections = []
    for i in range(draw(st.integers(1, 5))):
        teachers = draw(
            st.lists(
                st.tuples(st.integers(500, 499 + staff_count), st.sampled_from(["lead", "co_teacher", "aide"])),
                max_size=3,
                unique_by=lambda t: t[0],
            )
        )
        sections.append(
            Section(
                200 + i,
                100,
                draw(st.sampled_from(COURSES)),
                str(i + 1),
                draw(st.sampled_from([YEAR.dcid, S1.dcid])),
                tuple(SectionTeacher(u, r) for u, r in teachers),
            )
        )
    students = tuple(
        Student(
            1000 + i,
            str(200000 + i),
            draw(st.one_of(LOGIN, st.just(""))),
            draw(NAME),
            draw(NAME),
            100,
            draw(st.integers(0, 12)),
            draw(st.sampled_from(["A", "A", "A", "P", "I", "T"])),
            email=draw(st.sampled_from(["", f"Pupil{i}@Students.Example.org", f"p{i}@students.example.org"])),
            custom=(("u_students_extension.preferredname", draw(st.sampled_from(["", "Al", " Bea ", "Cy & Di"]))),),
        )
        for i in range(draw(st.integers(1, 10)))
    )
    enrolments = tuple(
        SectionEnrolment(
            3000 + n,
            section.dcid,
            student.dcid,
            date(2024, 8, 26),
            date(2025, 6, 14),
            dropped=draw(st.booleans()),
        )
        for n, (section, student) in enumerate(
            (section, student) for section in sections for student in students if draw(st.booleans())
        )
    )
    return Roster(
        schools=(School(1, 100, draw(NAME), 0, 12),),
        terms=(YEAR, S1),
        courses=courses,
        sections=tuple(sections),
        students=students,
        staff=staff,
        enrolments=enrolments,
        student_counts={100: len(students)},
    )


@st.composite
def next_rosters(draw: st.DrawFn, roster: Roster) -> Roster:
    """What PowerSchool says a while later: people renamed or gone, enrolments dropped."""
    students = tuple(
        replace(s, last_name=draw(NAME)) if draw(st.booleans()) else s
        for s in roster.students
        if draw(st.integers(0, 4)) > 0
    )
    enrolments = tuple(replace(e, dropped=draw(st.booleans())) for e in roster.enrolments)
    staff = tuple(replace(s, first_name=draw(NAME)) if draw(st.booleans()) else s for s in roster.staff)
    return replace(roster, students=students, enrolments=enrolments, staff=staff)


def sync(site: MoodleSite, roster: Roster) -> list[str]:
    """Plan, apply, plan again: the second plan's changes (none when converged)."""
    with MoodleClient("https://moodle.test", TOKEN, transport=site.transport(), backoff_s=0.0) as moodle:
        run = run_plan(CONFIG, moodle, lambda _: roster)
        report = run_apply(CONFIG, moodle, run.plan, run.live)
        assert [f"{r.change.key}: {r.error}" for r in report.failures] == []
        again = run_plan(CONFIG, moodle, lambda _: roster)
    # A name someone else holds is the one thing left as it is, and each is reported.
    held = held_names(site, again.desired.state)
    assert held <= {n.key for n in again.plan.notices if n.level == "warning"}
    assert mismatches(site, again.desired.state, held) == []
    return [f"{c.action.value} {c.key}" for c in again.plan.changes]


@settings(
    max_examples=25,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
@given(data=st.data())
def test_any_small_roster_converges_and_stays_converged(data: st.DataObject) -> None:
    site = MoodleSite.fresh(TOKEN)
    site.add_profile_field("preferredname", "Preferred name")
    site.config.allowaccountssameemail = True  # generated people may share an address
    first = data.draw(rosters(), label="roster")
    assert sync(site, first) == []
    later = data.draw(next_rosters(first), label="later")
    assert sync(site, later) == []
