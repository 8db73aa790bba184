"""Day-to-day PowerSchool changes applied to a generated district (for the demo and tests).

Each function returns a new :class:`District`; the original is never modified. They
change the tables the way PowerSchool itself records such events: a schedule change
drops the old CC row (negative SECTIONID, DATELEFT set) and adds a new one; a new
co-teacher is a SECTIONTEACHER row; a student who leaves gets a transferred-out status
and an exit date, with their CC rows dropped; a new student is a STUDENTS row with a CC
row per class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date

from ps2moodle_testkit.emulators.district import District, DistrictSectionTeacher, DistrictStudent, Enrolments

#: STUDENTS.ENROLL_STATUS of a student transferred out.
TRANSFERRED_OUT = 2


def _copy(rows: Enrolments) -> Enrolments:
    out = Enrolments()
    for column in Enrolments.__slots__:
        getattr(out, column).extend(getattr(rows, column))
    return out


def _drop(rows: Enrolments, student_id: int, section_id: int | None, on: date) -> int:
    """Drop the student's active rows (of one section, or all); how many were dropped."""
    dropped = 0
    for i in range(len(rows)):
        sid = rows.section_id[i]
        if rows.student_id[i] == student_id and sid > 0 and section_id in (None, sid):
            rows.section_id[i] = -sid
            rows.date_left[i] = on.toordinal()
            dropped += 1
    return dropped


def move_student(district: District, student_id: int, from_section: int, to_section: int, on: date) -> District:
    """A schedule change: the student leaves ``from_section`` and joins ``to_section`` (SECTIONS.IDs)."""
    rows = _copy(district.enrolments)
    if not _drop(rows, student_id, from_section, on):
        raise ValueError(f"student {student_id} is not enrolled in section {from_section}")
    rows.add(
        student_id,
        to_section,
        on.toordinal(),
        district.term(*_section_term(district, to_section)).last_day.toordinal() + 1,
    )
    return replace(district, enrolments=rows)


def drop_class(district: District, student_id: int, section_id: int, on: date) -> District:
    """The student leaves one section (its CC row is dropped: SECTIONID negated)."""
    rows = _copy(district.enrolments)
    if not _drop(rows, student_id, section_id, on):
        raise ValueError(f"student {student_id} is not enrolled in section {section_id}")
    return replace(district, enrolments=rows)


def add_teacher(district: District, section_id: int, teacher_id: int, role_name: str, on: date) -> District:
    """A new SECTIONTEACHER row: ``teacher_id`` (SCHOOLSTAFF.ID) joins the section in a ROLEDEF role."""
    role = next((r for r in district.roles if r.name == role_name), None)
    if role is None:
        raise ValueError(f"no ROLEDEF named {role_name!r}")
    school, term_id = _section_term(district, section_id)
    row = DistrictSectionTeacher(
        id=max(t.id for t in district.section_teachers) + 1,
        section_id=section_id,
        teacher_id=teacher_id,
        role_id=role.id,
        allocation=100,
        start_date=on,
        end_date=district.term(school, term_id).last_day,
    )
    return replace(district, section_teachers=(*district.section_teachers, row))


def withdraw_student(district: District, student_id: int, on: date) -> District:
    """The student transfers out: status T, exit date ``on``, every class dropped."""
    rows = _copy(district.enrolments)
    _drop(rows, student_id, None, on)
    students = tuple(
        replace(s, enroll_status=TRANSFERRED_OUT, exit_date=on) if s.id == student_id else s for s in district.students
    )
    return replace(district, students=students, enrolments=rows)


def admit_student(district: District, student: DistrictStudent, section_ids: Sequence[int], on: date) -> District:
    """A new student (a STUDENTS row whose ID and DCID are not taken) joins ``section_ids`` on ``on``."""
    if student.id in district.student_by_id or any(s.dcid == student.dcid for s in district.students):
        raise ValueError(f"student ID {student.id} or DCID {student.dcid} is taken")
    rows = _copy(district.enrolments)
    for section_id in section_ids:
        last_day = district.term(*_section_term(district, section_id)).last_day
        rows.add(student.id, section_id, on.toordinal(), last_day.toordinal() + 1)
    return replace(district, students=(*district.students, student), enrolments=rows)


def _section_term(district: District, section_id: int) -> tuple[int, int]:
    section = district.section_by_id[section_id]
    return section.school_number, section.term_id
