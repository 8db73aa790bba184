"""The PowerSchool roster: typed, frozen, already normalized.

Everything here is what the PowerSchool client read for ONE connection, with the API's
serialization quirks (one-element lists as objects, numbers as strings, omitted empty
lists) already ironed out. Identifiers follow PowerSchool's own semantics:

- ``dcid`` fields are the v1 ``id`` values (table DCIDs), the stable keys we build
  Moodle idnumbers from;
- schools are referred to by ``school_number`` (what other tables call SCHOOLID);
- a staff member is one person (USERS.DCID, v1 ``users_dcid``) across schools.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

Extension = tuple[tuple[str, str], ...]
"""Custom and extension fields as sorted (name, value) pairs; name as the config spells it."""

#: Enroll status letters (v1 ``enroll_status``): A active, P pre-registered, I inactive,
#: T transferred out, G graduated, H historical.
ENROLL_STATUSES = ("A", "P", "I", "T", "G", "H")


@dataclass(frozen=True, slots=True)
class School:
    """A school; ``number`` is SCHOOLS.SCHOOL_NUMBER, ``dcid`` the v1 id."""

    dcid: int
    number: int
    name: str
    low_grade: int = 0
    high_grade: int = 12


@dataclass(frozen=True, slots=True)
class Term:
    """A term at one school. ``term_id`` is TERMS.ID (YEARID*100+n), not unique across schools."""

    dcid: int
    term_id: int
    school_number: int
    year_id: int
    name: str
    abbreviation: str
    first_day: date
    last_day: date
    portion: int = 1
    is_year: bool = False

    @property
    def start_year(self) -> int:
        """The calendar year the school year starts in (YEARID + 1990)."""
        return self.year_id + 1990


@dataclass(frozen=True, slots=True)
class Course:
    """A course in the district catalogue; ``number`` is the natural key sections join on."""

    dcid: int
    number: str
    name: str


@dataclass(frozen=True, slots=True)
class SectionTeacher:
    """A teacher of a section. ``role`` is normalized: ``lead``, ``co_teacher``, ``aide``,
    ``observer``, or the snake_case of a district-defined ROLEDEF name."""

    users_dcid: int
    role: str


@dataclass(frozen=True, slots=True)
class Section:
    """A section (class) of a course in a term at a school."""

    dcid: int
    school_number: int
    course_number: str
    section_number: str
    term_dcid: int
    teachers: tuple[SectionTeacher, ...] = ()
    expression: str = ""
    extension: Extension = ()

    def extension_value(self, name: str) -> str:
        """The value of an extension field, or '' when unset."""
        return dict(self.extension).get(name, "")


@dataclass(frozen=True, slots=True)
class Student:
    """A student. ``username`` is the PowerSchool student access account (may be empty)."""

    dcid: int
    student_number: str
    username: str
    first_name: str
    last_name: str
    school_number: int
    grade_level: int
    enroll_status: str
    middle_name: str = ""
    email: str = ""
    custom: Extension = ()

    def custom_value(self, name: str) -> str:
        """The value of a custom field, or '' when unset."""
        return dict(self.custom).get(name, "")


@dataclass(frozen=True, slots=True)
class Staff:
    """A staff member (one person). ``schools`` are the school numbers they are affiliated with."""

    users_dcid: int
    teacher_number: str
    username: str
    first_name: str
    last_name: str
    email: str = ""
    schools: tuple[int, ...] = ()
    active: bool = True
    middle_name: str = ""
    custom: Extension = ()

    def custom_value(self, name: str) -> str:
        """The value of a custom field, or '' when unset."""
        return dict(self.custom).get(name, "")


@dataclass(frozen=True, slots=True)
class SectionEnrolment:
    """A student's enrolment in a section (a CC row). ``dropped`` mirrors a negative SECTIONID."""

    dcid: int
    section_dcid: int
    student_dcid: int
    entry_date: date
    exit_date: date
    dropped: bool = False


@dataclass(frozen=True)
class Roster:
    """Everything read from one PowerSchool connection for the configured schools."""

    schools: tuple[School, ...] = ()
    terms: tuple[Term, ...] = ()
    courses: tuple[Course, ...] = ()
    sections: tuple[Section, ...] = ()
    students: tuple[Student, ...] = ()
    staff: tuple[Staff, ...] = ()
    enrolments: tuple[SectionEnrolment, ...] = ()
    #: Students counted per school by the count endpoints, for the truncation guard.
    student_counts: Mapping[int, int] = field(default_factory=dict)

    @cached_property
    def school_by_number(self) -> dict[int, School]:
        return {s.number: s for s in self.schools}

    @cached_property
    def term_by_dcid(self) -> dict[int, Term]:
        return {t.dcid: t for t in self.terms}

    @cached_property
    def course_by_number(self) -> dict[str, Course]:
        return {c.number: c for c in self.courses}

    @cached_property
    def section_by_dcid(self) -> dict[int, Section]:
        return {s.dcid: s for s in self.sections}

    @cached_property
    def student_by_dcid(self) -> dict[int, Student]:
        return {s.dcid: s for s in self.students}

    @cached_property
    def staff_by_dcid(self) -> dict[int, Staff]:
        return {s.users_dcid: s for s in self.staff}
