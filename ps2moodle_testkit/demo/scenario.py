"""An everyday day in PowerSchool, for the demo and the example plans: a student changes
section, a teacher joins a class as co-teacher, a student transfers out."""

from __future__ import annotations

from ps2moodle_testkit.demo.sandbox import Sandbox
from ps2moodle_testkit.emulators.changes import add_teacher, move_student, withdraw_student
from ps2moodle_testkit.emulators.district import District, DistrictSection, DistrictStudent


def everyday_changes(sandbox: Sandbox) -> list[str]:
    """Make three everyday changes in the first connection's PowerSchool and describe them:
    a schedule change, a new co-teacher and a student who leaves (all at or around
    Washington High, school 300, and Roosevelt Middle, 200, of the generated district)."""
    connection = sandbox.config.connections[0]
    district = sandbox.districts[connection.name]
    day = district.term(300, district.year_id * 100).first_day.replace(day=28)
    mover, from_section, to_section = _a_schedule_change(district)
    section, teacher = _a_new_co_teacher(district)
    leaver = _a_leaver(district, exclude=mover)
    sandbox.change(connection.name, lambda d: move_student(d, mover, from_section.id, to_section.id, day))
    sandbox.change(connection.name, lambda d: add_teacher(d, section.id, teacher, "Co-Teacher", day))
    sandbox.change(connection.name, lambda d: withdraw_student(d, leaver.id, day))
    staff = district.user_by_dcid[district.staff_by_id[teacher].users_dcid]
    student = district.student_by_id[mover]
    return [
        f"{student.first_name} {student.last_name} moves from {from_section.course_number} section "
        f"{from_section.section_number} to section {to_section.section_number}",
        f"{staff.first_name} {staff.last_name} joins {section.course_number} section {section.section_number} "
        "as co-teacher",
        f"{leaver.first_name} {leaver.last_name} transfers out of the district",
    ]


def _a_schedule_change(district: District) -> tuple[int, DistrictSection, DistrictSection]:
    by_id = district.section_by_id
    for row in district.enrolments:
        section = by_id.get(row.section_id)
        if row.dropped or section is None or not _this_year(district, section):
            continue
        sibling = next(
            (
                s
                for s in district.sections
                if s.school_number == 300
                and s.course_number == section.course_number
                and s.term_id == section.term_id
                and s.id != section.id
            ),
            None,
        )
        if sibling is not None:
            return row.student_id, section, sibling
    raise RuntimeError("the generated district has no section with a sibling to move a student to")


def _a_new_co_teacher(district: District) -> tuple[DistrictSection, int]:
    teaching: dict[int, set[int]] = {}
    for row in district.section_teachers:
        teaching.setdefault(row.section_id, set()).add(row.teacher_id)
    teachers = [s.id for s in district.school_staff if s.school_number == 300 and s.status == 1 and s.staff_status == 1]
    for section in district.sections:
        if not _this_year(district, section) or section.course_number == "ENG9":
            continue
        candidate = next((t for t in teachers if t not in teaching.get(section.id, set())), None)
        if candidate is not None:
            return section, candidate
    raise RuntimeError("the generated district has no teacher free to co-teach")


def _a_leaver(district: District, *, exclude: int) -> DistrictStudent:
    enrolled = {row.student_id for row in district.enrolments if not row.dropped}
    for student in district.students:
        active = student.enroll_status == 0 and bool(student.web_id) and student.id in enrolled
        if student.school_number == 200 and active and student.id != exclude:
            return student
    raise RuntimeError("the generated district has no active student to withdraw")


def _this_year(district: District, section: DistrictSection) -> bool:
    """A section of Washington High (300) in the generated (current) school year."""
    return section.school_number == 300 and section.term_id // 100 == district.year_id
