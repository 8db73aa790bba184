"""The benchmark's incremental run: 1% of the students change in PowerSchool.

A third each, picked with a seeded generator so every run changes the same students:

- **moves**: a schedule change from one section to another section of the same course
  and term (one enrolment suspended, one created);
- **leavers**: a student transfers out (the account and every enrolment suspended);
- **newcomers**: a new student joins a school with the classes of a classmate (an
  account, its enrolments, cohort and group memberships created).

No student is picked twice. The table edits are those of :mod:`ps2moodle_testkit.emulators.changes`.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import date

from ps2moodle_testkit.emulators.changes import admit_student, move_student, withdraw_student
from ps2moodle_testkit.emulators.district import District, DistrictStudent

#: Share of the district's students the change touches.
SHARE = 0.01


@dataclass(frozen=True)
class Change:
    """The changed district and what was changed (student IDs)."""

    district: District
    moved: tuple[int, ...]
    left: tuple[int, ...]
    joined: tuple[int, ...]

    @property
    def summary(self) -> str:
        return f"{len(self.moved)} moves, {len(self.left)} leavers, {len(self.joined)} newcomers"


def one_percent_change(district: District, seed: int = 1) -> Change:
    """Change :data:`SHARE` of ``district``'s students (at least one of each kind)."""
    rng = random.Random(seed)
    per_kind = max(1, round(len(district.students) * SHARE / 3))
    on = date(district.start_year, 10, 1)
    classes = _active_classes(district)
    # Students with an account and a schedule, in a stable order before sampling.
    candidates = sorted(s.id for s in district.students if s.enroll_status == 0 and s.web_id and classes.get(s.id))
    picked = rng.sample(candidates, 3 * per_kind)
    movers, leavers, models = picked[:per_kind], picked[per_kind : 2 * per_kind], picked[2 * per_kind :]

    siblings = _sibling_sections(district)
    moved: list[int] = []
    for student_id in movers:
        options = [(s, t) for s in classes[student_id] for t in siblings.get(s, ()) if t not in classes[student_id]]
        if options:
            from_section, to_section = rng.choice(options)
            district = move_student(district, student_id, from_section, to_section, on)
            moved.append(student_id)
    for student_id in leavers:
        district = withdraw_student(district, student_id, on)
    joined: list[int] = []
    next_id = max(s.id for s in district.students) + 1
    next_dcid = max(s.dcid for s in district.students) + 1
    for offset, model_id in enumerate(models):
        student = _newcomer(district.student_by_id[model_id], next_id + offset, next_dcid + offset, on)
        district = admit_student(district, student, classes[model_id], on)
        joined.append(student.id)
    return Change(district, tuple(moved), tuple(leavers), tuple(joined))


def _active_classes(district: District) -> dict[int, list[int]]:
    """Each student's active sections (SECTIONS.ID), in table order."""
    classes: dict[int, list[int]] = defaultdict(list)
    rows = district.enrolments
    for student_id, section_id in zip(rows.student_id, rows.section_id, strict=True):
        if section_id > 0:
            classes[student_id].append(section_id)
    return classes


def _sibling_sections(district: District) -> dict[int, list[int]]:
    """For each section, the other sections of its course in the same term at its school."""
    by_course: dict[tuple[int, str, int], list[int]] = defaultdict(list)
    for section in district.sections:
        by_course[(section.school_number, section.course_number, section.term_id)].append(section.id)
    return {sid: [o for o in group if o != sid] for group in by_course.values() for sid in group}


def _newcomer(model: DistrictStudent, student_id: int, dcid: int, on: date) -> DistrictStudent:
    """A new student at ``model``'s school and grade, with a login and e-mail of their own."""
    login = f"new{student_id}"
    return replace(
        model,
        id=student_id,
        dcid=dcid,
        student_number=str(900000 + student_id),
        web_id=login,
        first_name="New",
        last_name=f"Student {student_id}",
        email=f"{login}@students.example.org",
        entry_date=on,
        custom=(),
    )
