"""Small hand-built rosters and configs for the pure engine tests (no HTTP)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from reconciler.config.model import (
    CohortRule,
    Config,
    Connection,
    CourseMode,
    CourseRule,
    MoodleSettings,
    PeopleSettings,
    PowerSchoolSettings,
    SchoolSettings,
    SecretRef,
)
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

SECRET = SecretRef(env="UNUSED_IN_PURE_TESTS")


def connection(name: str = "north", **overrides: Any) -> Connection:
    base = Connection(
        name=name,
        powerschool=PowerSchoolSettings(url="https://ps.example.org", client_id=SECRET, client_secret=SECRET),
        schools=(100,),
        students=PeopleSettings(cohorts=(CohortRule(field="grade_level", name="Grade level: {value}"),)),
        school_settings=(
            SchoolSettings(
                number=100,
                terms=("S1",),
                category="High Schools/Lincoln",
                courses=(CourseRule("ENG1", CourseMode.SECTION), CourseRule("ALG1", CourseMode.GROUP, "Math")),
            ),
        ),
    )
    return replace(base, **overrides)


def config(*connections: Connection, **overrides: Any) -> Config:
    base = Config(
        moodle=MoodleSettings(url="https://moodle.example.org", token=SECRET),
        connections=connections or (connection(),),
    )
    return replace(base, **overrides)


def student(dcid: int, username: str, *, grade: int = 9, status: str = "A", email: str | None = None) -> Student:
    return Student(
        dcid=dcid,
        student_number=str(100000 + dcid),
        username=username,
        first_name=f"First{dcid}",
        last_name=f"Last{dcid}",
        school_number=100,
        grade_level=grade,
        enroll_status=status,
        email=f"{username}@students.example.org" if email is None else email,
    )


def roster(**overrides: Any) -> Roster:
    """Lincoln (school 100): ENG1 sections 1 and 2 (section mode), ALG1 sections 1 and 2
    (group mode), S2 term sections that the config does not select."""
    s1 = Term(11, 3401, 100, 34, "Semester 1", "S1", date(2024, 8, 26), date(2025, 1, 17), 2)
    s2 = Term(12, 3402, 100, 34, "Semester 2", "S2", date(2025, 1, 21), date(2025, 6, 13), 2)
    year = Term(10, 3400, 100, 34, "2024-2025", "24-25", date(2024, 8, 26), date(2025, 6, 13), 1, is_year=True)
    lead = SectionTeacher(501, "lead")
    co = SectionTeacher(502, "co_teacher")
    base = Roster(
        schools=(School(1, 100, "Lincoln High", 9, 12),),
        terms=(year, s1, s2),
        courses=(Course(1, "ENG1", "English 1"), Course(2, "ALG1", "Algebra 1")),
        sections=(
            Section(201, 100, "ENG1", "1", 11, (lead, co)),
            Section(202, 100, "ENG1", "2", 11, (lead,)),
            Section(203, 100, "ALG1", "1", 11, (SectionTeacher(502, "lead"),)),
            Section(204, 100, "ALG1", "2", 11, (lead,)),
            Section(205, 100, "ENG1", "3", 12, (lead,)),
        ),
        students=(
            student(1, "ann", grade=9),
            student(2, "bob", grade=10),
            student(3, "cyd", grade=9, status="T"),
        ),
        staff=(
            Staff(501, "T501", "tlead", "Tess", "Lead", "tlead@staff.example.org", (100,)),
            Staff(502, "T502", "tco", "Carl", "Co", "tco@staff.example.org", (100,)),
        ),
        enrolments=(
            SectionEnrolment(301, 201, 1, date(2024, 8, 26), date(2025, 1, 18)),
            SectionEnrolment(302, 202, 2, date(2024, 8, 26), date(2025, 1, 18)),
            SectionEnrolment(303, 203, 1, date(2024, 8, 26), date(2025, 1, 18)),
            SectionEnrolment(304, 204, 2, date(2024, 8, 26), date(2025, 1, 18)),
            SectionEnrolment(305, 201, 2, date(2024, 8, 26), date(2024, 9, 30), dropped=True),
        ),
        student_counts={100: 3},
    )
    return replace(base, **overrides)
