"""PowerSchool records to roster objects: pure functions, no I/O.

Input records come straight from a response; every field goes through :mod:`quirks`, so
whether PowerSchool sent ``114679`` or ``"114679"``, an object or a one-item list, the
result is the same. The joins PowerSchool leaves to its clients happen here too: tables
refer to each other by internal IDs (SECTIONS.TEACHER is a SCHOOLSTAFF.ID, CC.STUDENTID a
STUDENTS.ID), the roster by DCIDs.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from reconciler.errors import SourceError
from reconciler.powerschool import quirks as qk
from reconciler.powerschool.roster import (
    Course,
    Extension,
    School,
    Section,
    SectionEnrolment,
    SectionTeacher,
    Staff,
    Student,
    Term,
)

Record = Mapping[str, Any]

_STATUS_LETTERS = {-2: "I", -1: "P", 0: "A", 1: "I", 2: "T", 3: "G", 4: "H"}

#: ROLEDEF keys of PowerSchool's predefined co-teaching roles (reference §10.4). A
#: predefined role is matched by key first, then by name; ids differ per install.
_ROLE_KEYS = {
    "com.pearson.powerschool.coteach.primary.teacher": "lead",
    "com.pearson.powerschool.coteach.teacher.aide": "aide",
    "com.pearson.powerschool.coteach.class.observer": "observer",
}
_ROLE_NAMES = {
    "lead teacher": "lead",
    "co-teacher": "co_teacher",
    "co teacher": "co_teacher",
    "coteacher": "co_teacher",
    "teacher aide": "aide",
    "class observer": "observer",
    "observer": "observer",
}


def extension_refs(refs: Iterable[str], what: str) -> dict[str, list[str]]:
    """Extension fields written ``table.field``, grouped by (lower-case) table, or a
    :class:`SourceError` naming a reference that does not say its table (the v1 API
    returns extension fields only for tables named in ``extensions=``)."""
    grouped: dict[str, list[str]] = {}
    for ref in refs:
        table, dot, name = ref.lower().partition(".")
        if not dot or not table or not name or "." in name:
            raise SourceError(
                f"{what} {ref!r}: write PowerSchool extension fields as extension_table.field, "
                "e.g. u_studentsuserfields.homeroom"
            )
        grouped.setdefault(table, []).append(name)
    return grouped


def custom_values(values: Mapping[str, str], fields: Sequence[str]) -> Extension:
    """The requested custom fields that have a value, as sorted (name as configured, value)."""
    return tuple(sorted((f, values[f.lower()]) for f in fields if values.get(f.lower())))


# -- v1 resources ---------------------------------------------------------------------------


def school(rec: Record) -> School:
    """A ``/ws/v1/district/school`` record."""
    high = qk.integer_or_none(rec.get("high_grade"))
    return School(
        dcid=qk.integer(rec["id"]),
        number=qk.integer(rec["school_number"]),
        name=qk.text(rec.get("name")),
        low_grade=qk.integer_or_none(rec.get("low_grade")) or 0,
        high_grade=12 if high is None else high,
    )


def course(rec: Record) -> Course:
    """A ``/ws/v1/school/{id}/course`` record (a numeric course number arrives as a number)."""
    return Course(
        dcid=qk.integer(rec["id"]), number=qk.text(rec["course_number"]), name=qk.text(rec.get("course_name"))
    )


def student(rec: Record, school_number: int, fields: Sequence[str]) -> Student:
    """A ``/ws/v1/school/{id}/student`` record read with the ``school_enrollment`` and
    ``contact_info`` expansions (and the extensions of ``fields``)."""
    name = qk.block(rec.get("name"))
    enrollment = qk.block(rec.get("school_enrollment"))
    letter = qk.text(enrollment.get("enroll_status")).upper()
    if not letter:
        letter = _STATUS_LETTERS.get(qk.integer(enrollment["enroll_status_code"]), "I")
    return Student(
        dcid=qk.integer(rec["id"]),
        student_number=qk.text(rec.get("local_id")),
        username=qk.text(rec.get("student_username")),
        first_name=qk.text(name.get("first_name")),
        last_name=qk.text(name.get("last_name")),
        school_number=school_number,
        grade_level=qk.integer(enrollment["grade_level"]),
        enroll_status=letter,
        middle_name=qk.text(name.get("middle_name")),
        email=qk.text(qk.block(rec.get("contact_info")).get("email")),
        custom=custom_values(qk.extension_fields(rec), fields),
    )


@dataclass(frozen=True, slots=True)
class StaffRecord:
    """One ``/ws/v1/school/{id}/staff`` record: a person at one school. ``users_dcid`` is
    None on servers too old to send it."""

    staff_dcid: int
    users_dcid: int | None
    school_number: int
    teacher_number: str
    username: str
    first_name: str
    middle_name: str
    last_name: str
    email: str
    custom: Extension


def staff_record(rec: Record, school_number: int, fields: Sequence[str]) -> StaffRecord:
    """A staff record read with the ``emails`` expansion."""
    name = qk.block(rec.get("name"))
    return StaffRecord(
        staff_dcid=qk.integer(rec["id"]),
        users_dcid=qk.integer_or_none(rec.get("users_dcid")),
        school_number=school_number,
        teacher_number=qk.text(rec.get("local_id")),
        username=qk.text(rec.get("teacher_username")) or qk.text(rec.get("admin_username")),
        first_name=qk.text(name.get("first_name")),
        middle_name=qk.text(name.get("middle_name")),
        last_name=qk.text(name.get("last_name")),
        email=qk.text(qk.block(rec.get("emails")).get("work_email")),
        custom=custom_values(qk.extension_fields(rec), fields),
    )


def merge_staff(records: Iterable[StaffRecord], users_of: Mapping[int, int]) -> tuple[Staff, ...]:
    """One :class:`Staff` per person (USERS.DCID) from their per-school records, sorted.

    ``users_of`` maps SCHOOLSTAFF.DCID to USERS.DCID, for servers whose records lack it.
    """
    people: dict[int, list[StaffRecord]] = defaultdict(list)
    for r in records:
        person = r.users_dcid if r.users_dcid is not None else users_of.get(r.staff_dcid)
        if person is None:
            raise ValueError(f"staff record {r.staff_dcid} has no person (users_dcid)")
        people[person].append(r)
    staff = []
    for person, rows in sorted(people.items()):
        rows.sort(key=lambda r: r.school_number)
        first = rows[0]
        custom: dict[str, str] = {}
        for r in reversed(rows):
            custom.update(r.custom)
        staff.append(
            Staff(
                users_dcid=person,
                teacher_number=first.teacher_number,
                username=first.username,
                first_name=first.first_name,
                last_name=first.last_name,
                email=first.email,
                schools=tuple(sorted({r.school_number for r in rows})),
                middle_name=first.middle_name,
                custom=tuple(sorted(custom.items())),
            )
        )
    return tuple(staff)


# -- table rows (every value a string) --------------------------------------------------------


def term(row: Record) -> Term:
    """A TERMS row."""
    first, last = qk.day(row["firstday"]), qk.day(row["lastday"])
    if first is None or last is None:
        raise ValueError(f"term {row.get('dcid')} has no first or last day")
    return Term(
        dcid=qk.integer(row["dcid"]),
        term_id=qk.integer(row["id"]),
        school_number=qk.integer(row["schoolid"]),
        year_id=qk.integer(row["yearid"]),
        name=qk.text(row.get("name")),
        abbreviation=qk.text(row["abbreviation"]),
        first_day=first,
        last_day=last,
        portion=qk.integer_or_none(row.get("portion")) or 1,
        is_year=qk.flag(row.get("isyearrec")),
    )


@dataclass(frozen=True, slots=True)
class SectionRow:
    """A SECTIONS row: internal ``id`` (what CC and SECTIONTEACHER refer to) and ``dcid``."""

    id: int
    dcid: int
    school_number: int
    course_number: str
    section_number: str
    term_id: int
    teacher: int | None
    expression: str


def section_row(row: Record) -> SectionRow:
    return SectionRow(
        id=qk.integer(row["id"]),
        dcid=qk.integer(row["dcid"]),
        school_number=qk.integer(row["schoolid"]),
        course_number=qk.text(row["course_number"]),
        section_number=qk.text(row["section_number"]),
        term_id=qk.integer(row["termid"]),
        teacher=qk.integer_or_none(row.get("teacher")),
        expression=qk.text(row.get("expression")),
    )


@dataclass(frozen=True, slots=True)
class TeacherRow:
    """A SECTIONTEACHER row; ``teacher_id`` is a SCHOOLSTAFF.ID."""

    id: int
    section_id: int
    teacher_id: int
    role_id: int
    end_date: date | None


def teacher_row(row: Record) -> TeacherRow:
    return TeacherRow(
        id=qk.integer(row["id"]),
        section_id=qk.integer(row["sectionid"]),
        teacher_id=qk.integer(row["teacherid"]),
        role_id=qk.integer(row["roleid"]),
        end_date=qk.day(row.get("end_date")),
    )


def role(row: Record) -> tuple[int, str]:
    """A ROLEDEF row as (id, normalized role)."""
    return qk.integer(row["id"]), role_name(qk.text(row.get("name")), qk.text(row.get("rolekey")))


def role_name(name: str, rolekey: str) -> str:
    """``lead``, ``co_teacher``, ``aide``, ``observer``, or the snake_case of a district's own
    role name ("Special Ed Teacher" -> ``special_ed_teacher``)."""
    known = _ROLE_KEYS.get(rolekey.strip().lower()) or _ROLE_NAMES.get(name.strip().lower())
    return known or re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "teacher"


@dataclass(frozen=True, slots=True)
class StaffRow:
    """A SCHOOLSTAFF row: the person (``users_dcid``) behind a per-school ID and DCID."""

    id: int
    dcid: int
    users_dcid: int


def staff_row(row: Record) -> StaffRow:
    return StaffRow(qk.integer(row["id"]), qk.integer(row["dcid"]), qk.integer(row["users_dcid"]))


@dataclass(frozen=True, slots=True)
class CCRow:
    """A CC row; ``section_id`` is negative when the enrolment was dropped."""

    dcid: int
    student_id: int
    section_id: int
    entered: date | None
    left: date | None


def cc_row(row: Record) -> CCRow:
    return CCRow(
        dcid=qk.integer(row["dcid"]),
        student_id=qk.integer(row["studentid"]),
        section_id=qk.integer(row["sectionid"]),
        entered=qk.day(row.get("dateenrolled")),
        left=qk.day(row.get("dateleft")),
    )


def id_pair(row: Record) -> tuple[int, int]:
    """A (DCID, ID) row of a table keyed both ways (students)."""
    return qk.integer(row["dcid"]), qk.integer(row["id"])


def extension_value(row: Record, key: str, field: str) -> tuple[int, str]:
    """A row of a 1:1 extension table: (parent DCID, the field's text)."""
    return qk.integer(row[key]), qk.text(row.get(field.lower()))


# -- joins ---------------------------------------------------------------------------------


def choose_year(terms: Iterable[Term], today: date) -> int:
    """The school year to sync: the one whose full-year term spans ``today`` (the district
    office's first), else the next one to start, else the latest."""
    years = sorted((t for t in terms if t.is_year), key=lambda t: (t.school_number != 0, t.first_day))
    if not years:
        raise ValueError("PowerSchool has no full-year term")
    for t in years:
        if t.first_day <= today <= t.last_day:
            return t.year_id
    upcoming = [t for t in years if t.first_day > today]
    if upcoming:
        return min(upcoming, key=lambda t: t.first_day).year_id
    return max(years, key=lambda t: t.last_day).year_id


def sections(
    rows: Iterable[SectionRow],
    terms: Mapping[tuple[int, int], Term],
    teachers: Iterable[TeacherRow],
    roles: Mapping[int, str],
    person_of: Mapping[int, int],
    extension: Mapping[int, str],
    field: str | None,
    today: date,
) -> tuple[Section, ...]:
    """Sections with their teachers and roles, sorted by DCID.

    ``terms`` is keyed by (school number, TERMS.ID); ``person_of`` maps SCHOOLSTAFF.ID to
    USERS.DCID. A section's teachers are its lead (SECTIONS.TEACHER) plus every
    SECTIONTEACHER row that had not ended by the earlier of today and the term's last day
    (a co-teacher who left in October is gone; a finished term keeps the teachers it ended
    with). A person holding several roles keeps the lead's, else the first by name.
    """
    by_section: dict[int, list[TeacherRow]] = defaultdict(list)
    for t in teachers:
        by_section[t.section_id].append(t)
    result = []
    for row in rows:
        term = terms[(row.school_number, row.term_id)]
        cutoff = min(today, term.last_day)
        chosen: dict[int, tuple[int, str]] = {}
        if row.teacher is not None and row.teacher in person_of:
            chosen[person_of[row.teacher]] = (0, "lead")
        for t in by_section[row.id]:
            if (t.end_date is not None and t.end_date < cutoff) or t.teacher_id not in person_of:
                continue
            name = roles.get(t.role_id, "teacher")
            rank = (0 if name == "lead" else 1, name)
            person = person_of[t.teacher_id]
            if person not in chosen or rank < chosen[person]:
                chosen[person] = rank
        ordered = sorted(chosen.items(), key=lambda kv: (kv[1], kv[0]))
        value = extension.get(row.dcid, "")
        result.append(
            Section(
                dcid=row.dcid,
                school_number=row.school_number,
                course_number=row.course_number,
                section_number=row.section_number,
                term_dcid=term.dcid,
                teachers=tuple(SectionTeacher(users_dcid=p, role=r) for p, (_, r) in ordered),
                expression=row.expression,
                extension=((field, value),) if field and value else (),
            )
        )
    result.sort(key=lambda s: s.dcid)
    return tuple(result)


def enrolments(
    rows: Iterable[CCRow], sections: Mapping[int, tuple[int, Term]], student_dcid: Mapping[int, int]
) -> tuple[SectionEnrolment, ...]:
    """CC rows as enrolments, sorted by DCID; dropped rows are kept, flagged.

    ``sections`` maps SECTIONS.ID to (DCID, term); ``student_dcid`` maps STUDENTS.ID to
    DCID. An unset date (PowerSchool's 1900-01-01) reads as the term's first day, or the
    day after its last. A row whose student is not one of the configured schools' students
    is left out: the roster has no account for them.
    """
    result = []
    for r in rows:
        section = sections.get(abs(r.section_id))
        student = student_dcid.get(r.student_id)
        if section is None or student is None:
            continue
        dcid, term = section
        result.append(
            SectionEnrolment(
                dcid=r.dcid,
                section_dcid=dcid,
                student_dcid=student,
                entry_date=r.entered or term.first_day,
                exit_date=r.left or term.last_day + timedelta(days=1),
                dropped=r.section_id < 0,
            )
        )
    result.sort(key=lambda e: e.dcid)
    return tuple(result)
