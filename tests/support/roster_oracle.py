"""The ground truth of a PowerSchool read: what a correct client reads from a sample
district, derived from its tables directly (the client tests compare against it)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from ps2moodle_testkit.emulators.district import (
    District,
    DistrictRole,
    DistrictSchoolStaff,
    DistrictSection,
    DistrictSectionTeacher,
    DistrictStudent,
    DistrictUser,
)
from reconciler.powerschool import roster as r


def expected_roster(
    district: District,
    schools: Sequence[int],
    *,
    today: date,
    year_id: int | None = None,
    student_fields: Sequence[str] = (),
    staff_fields: Sequence[str] = (),
    section_field: str | None = None,
) -> r.Roster:
    """What a correct client reads for ``schools`` and the school year ``year_id``
    (default: the generated year): the ground truth, derived from the tables directly.

    The rules a client must follow are spelled out here once: every enroll status;
    staff active (SCHOOLSTAFF.STATUS 1) at a configured school; a section's teachers
    are its lead plus every SECTIONTEACHER row that had not ended by the earlier of
    ``today`` and the term's last day; enrolments keep dropped rows, and an unset date
    falls back to the term's bounds (first day; last day + 1).
    """
    wanted = set(schools)
    year = district.year_id if year_id is None else year_id
    terms = [t for t in district.terms if t.school_number in wanted and t.year_id == year]
    roster_terms = {(t.school_number, t.id): t for t in terms}
    sections = [s for s in district.sections if (s.school_number, s.term_id) in roster_terms]
    section_dcid = {s.id: s.dcid for s in sections}
    students = [s for s in district.students if s.school_number in wanted]
    student_dcid = {s.id: s.dcid for s in students}

    rows_by_section: dict[int, list[DistrictSectionTeacher]] = defaultdict(list)
    for row in district.section_teachers:
        if row.section_id in section_dcid:
            rows_by_section[row.section_id].append(row)

    def teachers(section: DistrictSection) -> tuple[r.SectionTeacher, ...]:
        term = roster_terms[(section.school_number, section.term_id)]
        cutoff = min(today, term.last_day)
        chosen: dict[int, tuple[int, str]] = {}
        lead = district.staff_by_id[section.teacher].users_dcid
        chosen[lead] = (0, "lead")
        for row in rows_by_section[section.id]:
            if row.end_date < cutoff:
                continue
            person = district.staff_by_id[row.teacher_id].users_dcid
            rank, role = _expected_role(district.role_by_id[row.role_id])
            if person not in chosen or (rank, role) < chosen[person]:
                chosen[person] = (rank, role)
        ordered = sorted(chosen.items(), key=lambda kv: (kv[1], kv[0]))
        return tuple(r.SectionTeacher(users_dcid=p, role=role) for p, (_, role) in ordered)

    roster_sections = tuple(
        r.Section(
            dcid=s.dcid,
            school_number=s.school_number,
            course_number=s.course_number,
            section_number=s.section_number,
            term_dcid=roster_terms[(s.school_number, s.term_id)].dcid,
            teachers=teachers(s),
            expression=s.expression,
            extension=((section_field, s.migrate_to),) if section_field and s.migrate_to else (),
        )
        for s in sorted(sections, key=lambda s: s.dcid)
    )

    enrolments = []
    cc = district.enrolments
    for i in range(len(cc)):
        section_id = abs(cc.section_id[i])
        if section_id not in section_dcid or cc.student_id[i] not in student_dcid:
            continue
        section = district.section_by_id[section_id]
        term = roster_terms[(section.school_number, section.term_id)]
        cc_row = cc.row(i)
        enrolments.append(
            r.SectionEnrolment(
                dcid=cc_row.dcid,
                section_dcid=section_dcid[section_id],
                student_dcid=student_dcid[cc_row.student_id],
                entry_date=cc_row.date_enrolled or term.first_day,
                exit_date=cc_row.date_left or term.last_day + timedelta(days=1),
                dropped=cc_row.dropped,
            )
        )
    enrolments.sort(key=lambda e: e.dcid)

    active: dict[int, list[DistrictSchoolStaff]] = defaultdict(list)
    for ss in district.school_staff:
        if ss.status == 1 and ss.school_number in wanted:
            active[ss.users_dcid].append(ss)
    staff = tuple(
        _expected_staff(district.user_by_dcid[dcid], sorted({ss.school_number for ss in rows}), staff_fields)
        for dcid, rows in sorted(active.items())
    )

    offered = sorted({c for n in wanted for c in district.school_courses.get(n, ())})
    courses = sorted((district.course_by_dcid[c] for c in offered), key=lambda c: (c.number, c.dcid))
    return r.Roster(
        schools=tuple(
            r.School(s.dcid, s.number, s.name, s.low_grade, s.high_grade)
            for s in sorted(district.schools, key=lambda s: s.number)
            if s.number in wanted
        ),
        terms=tuple(
            r.Term(
                dcid=t.dcid,
                term_id=t.id,
                school_number=t.school_number,
                year_id=t.year_id,
                name=t.name,
                abbreviation=t.abbreviation,
                first_day=t.first_day,
                last_day=t.last_day,
                portion=t.portion,
                is_year=t.is_year,
            )
            for t in sorted(terms, key=lambda t: (t.school_number, t.id))
        ),
        courses=tuple(r.Course(c.dcid, c.number, c.name) for c in courses),
        sections=roster_sections,
        students=tuple(_expected_student(s, student_fields) for s in sorted(students, key=lambda s: s.dcid)),
        staff=staff,
        enrolments=tuple(enrolments),
        student_counts={n: sum(1 for s in students if s.school_number == n) for n in sorted(wanted)},
    )


def _custom(values: Iterable[tuple[str, str, str]], fields: Sequence[str]) -> r.Extension:
    have = {f"{table}.{name}": value for table, name, value in values}
    return tuple(sorted((f, have[f.lower()]) for f in fields if have.get(f.lower())))


def _expected_student(s: DistrictStudent, fields: Sequence[str]) -> r.Student:
    return r.Student(
        dcid=s.dcid,
        student_number=s.student_number,
        username=s.web_id or "",
        first_name=s.first_name,
        last_name=s.last_name,
        school_number=s.school_number,
        grade_level=s.grade_level,
        enroll_status=s.status_letter,
        middle_name=s.middle_name or "",
        email=s.email or "",
        custom=_custom(s.custom, fields),
    )


def _expected_staff(u: DistrictUser, schools: list[int], fields: Sequence[str]) -> r.Staff:
    return r.Staff(
        users_dcid=u.dcid,
        teacher_number=u.teacher_number,
        username=u.teacher_login or u.admin_login or "",
        first_name=u.first_name,
        last_name=u.last_name,
        email=u.email or "",
        schools=tuple(schools),
        middle_name=u.middle_name or "",
        custom=_custom(u.custom, fields),
    )


_EXPECTED_ROLES = {
    "Lead Teacher": "lead",
    "Co-Teacher": "co_teacher",
    "Teacher Aide": "aide",
    "Class Observer": "observer",
}


def _expected_role(role: DistrictRole) -> tuple[int, str]:
    """(rank, normalized role): the lead ranks first, then roles alphabetically."""
    name = _EXPECTED_ROLES.get(role.name) or re.sub(r"[^a-z0-9]+", "_", role.name.lower()).strip("_")
    return (0 if name == "lead" else 1, name)
