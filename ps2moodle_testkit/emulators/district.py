"""A sample district: PowerSchool's tables as the PowerSchool emulator serves them.

:class:`District` holds one school year's SCHOOLS, TERMS, COURSES, STUDENTS, USERS,
SCHOOLSTAFF, SECTIONS, SECTIONTEACHER, ROLEDEF and CC rows (reference §10), made by
:mod:`ps2moodle_testkit.emulators.generator`. The big CC table is stored by column
(:class:`Enrolments`) so 300,000 rows stay small.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import NamedTuple

# --- public constants --------------------------------------------------------------

#: Extension (custom field) tables and fields the generator fills, as ``table.field``.
STUDENT_FIELDS = (
    "u_students_extension.preferredname",
    "u_students_extension.pronouns",
    "u_studentsuserfields.transcriptaddrzip",
)
STAFF_FIELDS = ("u_def_ext_schoolstaff.department",)
SECTION_FIELD = "u_def_ext_sections.migrate_to"


# --- the tables ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DistrictSchool:
    """A SCHOOLS row. ``kind``: office, elementary, middle, high or graduated."""

    dcid: int
    id: int
    number: int
    name: str
    abbreviation: str
    kind: str
    low_grade: int
    high_grade: int


@dataclass(frozen=True, slots=True)
class DistrictTerm:
    """A TERMS row; ``id`` is YEARID*100+n and repeats at every school."""

    dcid: int
    id: int
    school_number: int
    year_id: int
    name: str
    abbreviation: str
    first_day: date
    last_day: date
    portion: int
    is_year: bool


@dataclass(frozen=True, slots=True)
class DistrictCourse:
    """A COURSES row."""

    dcid: int
    id: int
    number: str
    name: str


@dataclass(frozen=True, slots=True)
class DistrictStudent:
    """A STUDENTS row; ``enroll_status`` is the numeric code (0 active, -1 pre-registered...)."""

    dcid: int
    id: int
    student_number: str
    web_id: str | None
    first_name: str
    middle_name: str | None
    last_name: str
    school_number: int
    grade_level: int
    enroll_status: int
    email: str | None
    gender: str
    birth_date: date
    entry_date: date
    exit_date: date
    state_id: str
    #: Extension values as (table, field, value).
    custom: tuple[tuple[str, str, str], ...] = ()

    @property
    def status_letter(self) -> str:
        """The v1 ``enroll_status`` letter for the numeric code."""
        return STATUS_LETTERS.get(self.enroll_status, "I")


@dataclass(frozen=True, slots=True)
class DistrictUser:
    """A USERS row: one person, whatever their schools."""

    dcid: int
    teacher_number: str
    first_name: str
    middle_name: str | None
    last_name: str
    email: str | None
    teacher_login: str | None
    admin_login: str | None
    home_school: int
    custom: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class DistrictSchoolStaff:
    """A SCHOOLSTAFF row: one person at one school. status 1 current, 2 no longer here;
    staff_status 0 not assigned, 1 teacher, 2 staff, 3 lunch staff, 4 substitute."""

    id: int
    dcid: int
    users_dcid: int
    school_number: int
    status: int
    staff_status: int


@dataclass(frozen=True, slots=True)
class DistrictSection:
    """A SECTIONS row; ``teacher`` is the lead's SCHOOLSTAFF.ID, ``term_id`` a TERMS.ID."""

    id: int
    dcid: int
    school_number: int
    course_number: str
    section_number: str
    term_id: int
    teacher: int
    expression: str
    external_expression: str
    room: str
    migrate_to: str | None = None


@dataclass(frozen=True, slots=True)
class DistrictSectionTeacher:
    """A SECTIONTEACHER row (the lead has one too); ``teacher_id`` is SCHOOLSTAFF.ID."""

    id: int
    section_id: int
    teacher_id: int
    role_id: int
    allocation: int
    start_date: date
    end_date: date


@dataclass(frozen=True, slots=True)
class DistrictRole:
    """A ROLEDEF row; ``rolekey`` is empty for district-defined roles."""

    id: int
    name: str
    rolekey: str


class Enrolment(NamedTuple):
    """One CC row as read from :class:`Enrolments`; dates are None when unset."""

    dcid: int
    id: int
    student_id: int
    section_id: int
    date_enrolled: date | None
    date_left: date | None

    @property
    def dropped(self) -> bool:
        """A dropped enrolment stores a negative SECTIONID."""
        return self.section_id < 0


class Enrolments:
    """The CC table, by column: student id, signed section id, and dates as ordinals
    (0 = unset, which PowerSchool stores as 1900-01-01). Row ``i`` has ID
    ``ID_BASE + i`` and DCID ``DCID_BASE + i``, so neither needs storing."""

    ID_BASE = 300001
    DCID_BASE = 600001
    __slots__ = ("date_enrolled", "date_left", "section_id", "student_id")

    def __init__(self) -> None:
        self.student_id = array("q")
        self.section_id = array("q")
        self.date_enrolled = array("l")
        self.date_left = array("l")

    def add(self, student_id: int, section_id: int, enrolled: int, left: int) -> None:
        """Append a row (dates as ordinals, 0 = unset)."""
        self.student_id.append(student_id)
        self.section_id.append(section_id)
        self.date_enrolled.append(enrolled)
        self.date_left.append(left)

    def __len__(self) -> int:
        return len(self.student_id)

    def row(self, i: int) -> Enrolment:
        """Row ``i`` as a named tuple."""
        enrolled, left = self.date_enrolled[i], self.date_left[i]
        return Enrolment(
            self.DCID_BASE + i,
            self.ID_BASE + i,
            self.student_id[i],
            self.section_id[i],
            date.fromordinal(enrolled) if enrolled else None,
            date.fromordinal(left) if left else None,
        )

    def __iter__(self) -> Iterator[Enrolment]:
        return (self.row(i) for i in range(len(self)))


STATUS_LETTERS = {-2: "I", -1: "P", 0: "A", 1: "I", 2: "T", 3: "G", 4: "H"}
STATUS_DESCRIPTIONS = {
    "A": "Active",
    "P": "Pre-Registered",
    "I": "Inactive",
    "T": "Transferred-Out",
    "G": "Graduated",
    "H": "Historical",
}


@dataclass(frozen=True)
class District:
    """A generated district: PowerSchool's tables, ready for the emulator and the tests."""

    name: str
    scale: str
    seed: int
    start_year: int
    schools: tuple[DistrictSchool, ...]
    terms: tuple[DistrictTerm, ...]
    courses: tuple[DistrictCourse, ...]
    students: tuple[DistrictStudent, ...]
    users: tuple[DistrictUser, ...]
    school_staff: tuple[DistrictSchoolStaff, ...]
    sections: tuple[DistrictSection, ...]
    section_teachers: tuple[DistrictSectionTeacher, ...]
    roles: tuple[DistrictRole, ...]
    enrolments: Enrolments
    #: Course DCIDs each school offers (what ``/ws/v1/school/{id}/course`` lists).
    school_courses: dict[int, tuple[int, ...]] = field(default_factory=dict)

    @property
    def year_id(self) -> int:
        """YEARID of the generated (current) school year."""
        return self.start_year - 1990

    @property
    def school_numbers(self) -> tuple[int, ...]:
        """Numbers of the real schools (not the district office nor graduated students)."""
        return tuple(s.number for s in self.schools if s.kind not in ("office", "graduated"))

    @cached_property
    def school_by_number(self) -> dict[int, DistrictSchool]:
        return {s.number: s for s in self.schools}

    @cached_property
    def user_by_dcid(self) -> dict[int, DistrictUser]:
        return {u.dcid: u for u in self.users}

    @cached_property
    def staff_by_id(self) -> dict[int, DistrictSchoolStaff]:
        return {s.id: s for s in self.school_staff}

    @cached_property
    def section_by_id(self) -> dict[int, DistrictSection]:
        return {s.id: s for s in self.sections}

    @cached_property
    def student_by_id(self) -> dict[int, DistrictStudent]:
        return {s.id: s for s in self.students}

    @cached_property
    def course_by_dcid(self) -> dict[int, DistrictCourse]:
        return {c.dcid: c for c in self.courses}

    @cached_property
    def role_by_id(self) -> dict[int, DistrictRole]:
        return {x.id: x for x in self.roles}

    def term(self, school_number: int, term_id: int) -> DistrictTerm:
        """The term a section refers to (TERMS.ID is only unique per school)."""
        return self._terms_by_school_id[(school_number, term_id)]

    @cached_property
    def _terms_by_school_id(self) -> dict[tuple[int, int], DistrictTerm]:
        return {(t.school_number, t.id): t for t in self.terms}
