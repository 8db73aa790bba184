"""The named PowerQueries the emulator knows (reference §5.2).

A PowerQuery is POSTed with a JSON object of arguments and answers rows whose values are
all strings. ``flattened`` queries put each row's columns at one level; the others group
them by table (``tables.students``) as table queries do. ``fields`` is what the plugin's
``access_request`` must grant, else PowerSchool answers 403 "Validation Failed".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ps2moodle_testkit.emulators.district import District

Row = dict[str, str]


@dataclass(frozen=True)
class PowerQuery:
    """One named query: how it answers and what it needs."""

    name: str
    title: str
    table: str
    key: str
    flattened: bool
    fields: tuple[str, ...]
    run: Callable[[District, Mapping[str, object]], list[Row]]


def _section_enrollments(d: District, args: Mapping[str, object]) -> list[Row]:
    """Students currently enrolled (not dropped) in the sections named by DCID."""
    wanted = args["section_dcid"]
    if not isinstance(wanted, list):
        raise TypeError("section_dcid must be an array")
    dcids = {int(str(x)) for x in wanted}
    section_ids = {s.id for s in d.sections if s.dcid in dcids}
    students = d.student_by_id
    rows = []
    cc = d.enrolments
    for i in range(len(cc)):
        if cc.section_id[i] in section_ids:
            s = students[cc.student_id[i]]
            rows.append(
                {
                    "dcid": str(s.dcid),
                    "id": str(s.id),
                    "student_number": s.student_number,
                    "first_name": s.first_name,
                    "last_name": s.last_name,
                    "lastfirst": f"{s.last_name}, {s.first_name}",
                    "gender": s.gender,
                    "grade_level": str(s.grade_level),
                }
            )
    rows.sort(key=lambda r: (r["lastfirst"], int(r["dcid"])))
    return rows


def _dcid_id_map(d: District, args: Mapping[str, object]) -> list[Row]:
    """Every student's DCID and internal ID."""
    return [{"dcid": str(s.dcid), "id": str(s.id)} for s in sorted(d.students, key=lambda s: s.dcid)]


_STUDENT_COLUMNS = ("dcid", "id", "student_number", "first_name", "last_name", "lastfirst", "gender", "grade_level")

POWERQUERIES = {
    q.name: q
    for q in (
        PowerQuery(
            name="com.pearson.core.teachers.sectionEnrollments",
            title="Students",
            table="students",
            key="dcid",
            flattened=True,
            fields=(*(f"students.{c}" for c in _STUDENT_COLUMNS), "cc.sectionid", "cc.studentid", "sections.dcid"),
            run=_section_enrollments,
        ),
        PowerQuery(
            name="com.pearson.core.student.student_dcid_id_map",
            title="Students",
            table="students",
            key="dcid",
            flattened=False,
            fields=("students.dcid", "students.id"),
            run=_dcid_id_map,
        ),
    )
}
