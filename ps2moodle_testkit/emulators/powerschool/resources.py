"""The ``/ws/v1`` resources of a generated district, as clean Python values.

Each builder returns the resource the way reference §3 shows it before serialization
(:mod:`wire` applies the quirks). :class:`Collection` describes a list endpoint: its rows,
the fields ``q=`` can filter on, its fixed sort order and how one row renders.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

from ps2moodle_testkit.emulators.district import (
    STATUS_DESCRIPTIONS,
    District,
    DistrictCourse,
    DistrictSchool,
    DistrictSchoolStaff,
    DistrictSection,
    DistrictStudent,
    DistrictTerm,
)
from ps2moodle_testkit.emulators.powerschool.tables import Column, Getter, extension_values

Resource = dict[str, Any]
Render = Callable[[object, frozenset[str], tuple[str, ...]], Resource]

STUDENT_EXPANSIONS = (
    "demographics, addresses, alerts, phones, school_enrollment, ethnicity_race, contact, contact_info, "
    "initial_enrollment, schedule_setup, fees, lunch"
)
STUDENT_EXTENSIONS = (
    "s_stu_crdc_x,activities,c_studentlocator,u_students_extension,u_studentsuserfields,studentcorefields"
)
STAFF_EXPANSIONS = "addresses, emails, phones, school_affiliations"
STAFF_EXTENSIONS = "u_def_ext_schoolstaff"
SCHOOL_EXPANSIONS = "school_boundary, full_time_equivalencies, school_fees_setup"
SCHOOL_EXTENSIONS = "schoolscorefields,c_school_registrar,s_sch_crdc_x"
SECTION_EXTENSIONS = "s_sec_crdc_x,u_def_ext_sections"


@dataclass(frozen=True)
class Collection:
    """A v1 list endpoint: ``{plural: {singular: [...]}}``."""

    singular: str
    rows: Sequence[object]
    columns: dict[str, Column]
    sort: Callable[[object], Any]
    render: Render
    expansions: str = ""
    #: The @extensions attribute; None when the resource has none (section enrollments).
    extensions: str | None = ""

    @property
    def plural(self) -> str:
        return self.singular + "s"


def _cols(*specs: tuple[str, Getter, str]) -> dict[str, Column]:
    return {name: Column(name, get, kind) for name, get, kind in specs}


class Resources:
    """Builds v1 resources and collections over one district."""

    def __init__(self, district: District, *, staff_users_dcid: bool = True) -> None:
        self.d = district
        self.staff_users_dcid = staff_users_dcid
        self.school_by_dcid = {s.dcid: s for s in district.schools}
        self.school_by_number = district.school_by_number
        self.course_by_number = {c.number: c for c in district.courses}
        self.term_by_dcid = {t.dcid: t for t in district.terms}
        self.section_by_dcid = {s.dcid: s for s in district.sections}
        self.student_by_dcid = {s.dcid: s for s in district.students}
        self.staff_by_dcid = {s.dcid: s for s in district.school_staff}

    # -- lookups --------------------------------------------------------------------

    def term_of(self, section: DistrictSection) -> DistrictTerm:
        return self.d.term(section.school_number, section.term_id)

    @cached_property
    def affiliations(self) -> dict[int, list[DistrictSchoolStaff]]:
        """SCHOOLSTAFF rows per person."""
        rows: dict[int, list[DistrictSchoolStaff]] = defaultdict(list)
        for ss in self.d.school_staff:
            rows[ss.users_dcid].append(ss)
        return rows

    @cached_property
    def enrolments_by_section(self) -> dict[int, list[int]]:
        """CC row numbers per SECTIONS.ID (dropped rows included)."""
        rows: dict[int, list[int]] = defaultdict(list)
        for i, section_id in enumerate(self.d.enrolments.section_id):
            rows[abs(section_id)].append(i)
        return rows

    def school_dcid(self, number: int) -> int:
        return self.school_by_number[number].dcid

    # -- resources --------------------------------------------------------------------

    def school(
        self, row: object, expansions: frozenset[str] = frozenset(), extensions: tuple[str, ...] = ()
    ) -> Resource:
        assert isinstance(row, DistrictSchool)
        return {
            "@expansions": SCHOOL_EXPANSIONS,
            "@extensions": SCHOOL_EXTENSIONS,
            "id": row.dcid,
            "name": row.name,
            "school_number": str(row.number),
            "state_province_id": f"{4100000 + row.number:08d}",
            "low_grade": row.low_grade,
            "high_grade": row.high_grade,
            "alternate_school_number": 0,
            "addresses": {
                "physical": {
                    "street": f"{row.number % 1000 + 7} Elm St",
                    "city": "Springfield",
                    "state_province": "MA",
                    "postal_code": "01105",
                }
            },
            "phones": {"main": {"number": f"413-555-{row.number % 10000:04d}"}},
        }

    def student(self, row: object, expansions: frozenset[str], extensions: tuple[str, ...]) -> Resource:
        assert isinstance(row, DistrictStudent)
        s = row
        school = self.school_by_number[s.school_number]
        letter = s.status_letter
        blocks: dict[str, Any] = {
            "demographics": {
                "gender": s.gender,
                "birth_date": s.birth_date,
                "projected_graduation_year": s.birth_date.year + 18,
            },
            "addresses": {},
            "alerts": {},
            "phones": {},
            "school_enrollment": {
                "enroll_status": letter,
                "enroll_status_description": STATUS_DESCRIPTIONS[letter],
                "enroll_status_code": s.enroll_status,
                "grade_level": s.grade_level,
                "entry_date": s.entry_date,
                "exit_date": s.exit_date,
                "school_number": str(s.school_number),
                "school_id": school.dcid,
                "entry_code": "01",
            },
            "ethnicity_race": {},
            "contact": {},
            "contact_info": {"email": s.email},
            "initial_enrollment": {"school_entry_date": s.entry_date, "school_entry_grade_level": s.grade_level},
            "schedule_setup": {"next_school": str(s.school_number), "sched_next_year_grade": s.grade_level + 1},
            "fees": {},
            "lunch": {"balance_1": "0.00", "balance_2": "0.00", "lunch_id": str(s.id + 4000)},
        }
        resource: Resource = {
            "@expansions": STUDENT_EXPANSIONS,
            "@extensions": STUDENT_EXTENSIONS,
            "id": s.dcid,
            "local_id": s.student_number,
            "student_username": s.web_id,
            "state_province_id": s.state_id,
            "name": {"first_name": s.first_name, "middle_name": s.middle_name, "last_name": s.last_name},
        }
        resource.update({k: v for k, v in blocks.items() if k in expansions})
        _add_extensions(resource, extensions, STUDENT_EXTENSIONS, s.custom)
        return resource

    def staff(self, row: object, expansions: frozenset[str], extensions: tuple[str, ...]) -> Resource:
        assert isinstance(row, DistrictSchoolStaff)
        user = self.d.user_by_dcid[row.users_dcid]
        blocks: dict[str, Any] = {
            "addresses": {},
            "emails": {"work_email": user.email},
            "phones": {},
            "school_affiliations": {
                "school_affiliation": [
                    {
                        "school_id": self.school_dcid(a.school_number) if a.school_number else 0,
                        "type": a.staff_status,
                        "status": a.status,
                    }
                    for a in self.affiliations[row.users_dcid]
                ]
            },
        }
        resource: Resource = {
            "@expansions": STAFF_EXPANSIONS,
            "@extensions": STAFF_EXTENSIONS,
            "id": row.dcid,
            "users_dcid": row.users_dcid if self.staff_users_dcid else None,
            "local_id": user.teacher_number,
            "admin_username": user.admin_login,
            "teacher_username": user.teacher_login,
            "name": {"first_name": user.first_name, "middle_name": user.middle_name, "last_name": user.last_name},
        }
        resource.update({k: v for k, v in blocks.items() if k in expansions})
        _add_extensions(resource, extensions, STAFF_EXTENSIONS, user.custom)
        return resource

    def course(
        self, row: object, expansions: frozenset[str] = frozenset(), extensions: tuple[str, ...] = ()
    ) -> Resource:
        assert isinstance(row, DistrictCourse)
        return {"@extensions": "", "id": row.dcid, "course_number": row.number, "course_name": row.name}

    def term(self, row: object, expansions: frozenset[str] = frozenset(), extensions: tuple[str, ...] = ()) -> Resource:
        assert isinstance(row, DistrictTerm)
        school = self.school_by_number[row.school_number]
        return {
            "@extensions": "",
            "id": row.dcid,
            "school_id": school.dcid if row.school_number else 0,
            "start_year": row.year_id + 1990,
            "portion": row.portion,
            "start_date": row.first_day,
            "end_date": row.last_day,
            "abbreviation": row.abbreviation,
            "name": row.name,
        }

    def section(self, row: object, expansions: frozenset[str], extensions: tuple[str, ...]) -> Resource:
        assert isinstance(row, DistrictSection)
        term = self.term_of(row)
        resource: Resource = {
            "@expansions": "term",
            "@extensions": SECTION_EXTENSIONS,
            "id": row.dcid,
            "school_id": self.school_dcid(row.school_number),
            "course_id": self.course_by_number[row.course_number].dcid,
            "term_id": term.dcid,
            "section_number": row.section_number,
            "expression": row.expression,
            "external_expression": row.external_expression,
            "staff_id": self.d.staff_by_id[row.teacher].dcid,
            "gradebooktype": "2",
        }
        if "term" in expansions:
            resource["term"] = self.term(term)
        custom = (("u_def_ext_sections", "migrate_to", row.migrate_to),) if row.migrate_to else ()
        _add_extensions(resource, extensions, SECTION_EXTENSIONS, custom)
        return resource

    def section_enrollment(
        self, row: object, expansions: frozenset[str] = frozenset(), extensions: tuple[str, ...] = ()
    ) -> Resource:
        assert isinstance(row, int)
        cc = self.d.enrolments.row(row)
        section = self.d.section_by_id[abs(cc.section_id)]
        return {
            "id": cc.dcid,
            "section_id": section.dcid,
            "student_id": self.d.student_by_id[cc.student_id].dcid,
            "entry_date": cc.date_enrolled,
            "exit_date": cc.date_left,
            "dropped": cc.dropped,
        }

    # -- collections ---------------------------------------------------------------------

    def schools(self) -> Collection:
        rows = [s for s in self.d.schools if s.kind != "office"]
        cols = _cols(
            ("id", _get("dcid"), "int"), ("school_number", _get("number"), "int"), ("name", _get("name"), "str")
        )
        return Collection("school", rows, cols, _get("name"), self.school, SCHOOL_EXPANSIONS, SCHOOL_EXTENSIONS)

    def students(self, school_number: int | None) -> Collection:
        rows = self.d.students
        if school_number is not None:
            rows = tuple(s for s in rows if s.school_number == school_number)
        cols = _cols(
            ("id", _get("dcid"), "int"),
            ("local_id", _get("student_number"), "str"),
            ("student_username", _get("web_id"), "str"),
            ("state_province_id", _get("state_id"), "str"),
            ("name.first_name", _get("first_name"), "str"),
            ("name.last_name", _get("last_name"), "str"),
            ("school_enrollment.enroll_status", _get("status_letter"), "str"),
            ("school_enrollment.enroll_status_code", _get("enroll_status"), "int"),
            ("school_enrollment.grade_level", _get("grade_level"), "int"),
            ("school_enrollment.entry_date", _get("entry_date"), "date"),
            ("school_enrollment.exit_date", _get("exit_date"), "date"),
        )
        return Collection("student", rows, cols, _get("dcid"), self.student, STUDENT_EXPANSIONS, STUDENT_EXTENSIONS)

    def staff_of(self, school_number: int) -> Collection:
        # Only staff with an active (current) affiliation at the school.
        rows = [ss for ss in self.d.school_staff if ss.school_number == school_number and ss.status == 1]
        users = self.d.user_by_dcid
        cols = _cols(
            ("id", _get("dcid"), "int"),
            ("users_dcid", _get("users_dcid"), "int"),
            ("local_id", lambda ss: users[_users_dcid(ss)].teacher_number, "str"),
            ("name.last_name", lambda ss: users[_users_dcid(ss)].last_name, "str"),
            ("name.first_name", lambda ss: users[_users_dcid(ss)].first_name, "str"),
        )
        return Collection("staff", rows, cols, _get("dcid"), self.staff, STAFF_EXPANSIONS, STAFF_EXTENSIONS)

    def courses_of(self, school_number: int) -> Collection:
        by_dcid = self.d.course_by_dcid
        rows = [by_dcid[c] for c in self.d.school_courses.get(school_number, ())]
        cols = _cols(
            ("id", _get("dcid"), "int"), ("course_number", _get("number"), "str"), ("course_name", _get("name"), "str")
        )
        return Collection("course", rows, cols, _get("number"), self.course)

    def sections_of(self, school_number: int) -> Collection:
        rows = [s for s in self.d.sections if s.school_number == school_number]
        term = self.term_of
        courses = self.course_by_number
        cols = _cols(
            ("id", _get("dcid"), "int"),
            ("section_number", _get("section_number"), "str"),
            ("course_id", lambda s: courses[_section(s).course_number].dcid, "int"),
            ("term_id", lambda s: term(_section(s)).dcid, "int"),
            ("term.start_year", lambda s: term(_section(s)).year_id + 1990, "int"),
        )

        def order(s: object) -> tuple[int, int, int]:
            section = _section(s)
            return (section.dcid, courses[section.course_number].dcid, term(section).dcid)

        return Collection("section", rows, cols, order, self.section, "term", SECTION_EXTENSIONS)

    def terms_of(self, school_number: int) -> Collection:
        rows = [t for t in self.d.terms if t.school_number == school_number]
        cols = _cols(
            ("id", _get("dcid"), "int"),
            ("abbreviation", _get("abbreviation"), "str"),
            ("start_year", lambda t: _term(t).year_id + 1990, "int"),
            ("portion", _get("portion"), "int"),
        )
        return Collection("term", rows, cols, lambda t: (_term(t).portion, _term(t).first_day), self.term)

    def enrollments_of(self, section: DistrictSection) -> Collection:
        cc = self.d.enrolments
        students = self.d.student_by_id
        rows = self.enrolments_by_section.get(section.id, [])
        cols = _cols(("student_id", lambda i: students[cc.student_id[_int(i)]].dcid, "int"))

        def order(i: object) -> tuple[int, date]:
            row = cc.row(_int(i))
            return (students[row.student_id].dcid, row.date_enrolled or date.min)

        return Collection("section_enrollment", rows, cols, order, self.section_enrollment, extensions=None)


def _add_extensions(
    resource: Resource, requested: tuple[str, ...], available: str, custom: Sequence[tuple[str, str, str]]
) -> None:
    """``_extension_data`` for the requested extension tables this resource has (unknown ones
    are ignored, as PowerSchool does). ``recordFound`` is false even with values (LAS)."""
    known = available.split(",")
    tables = [t for t in requested if t in known]
    if not tables:
        return
    resource["_extension_data"] = {
        "_table_extension": [
            {
                "recordFound": False,
                "name": table,
                "_field": [
                    {"name": name, "type": "String", "value": value}
                    for name, value in sorted(extension_values(custom, table).items())
                ],
            }
            for table in tables
        ]
    }


def _get(name: str) -> Getter:
    return lambda row: getattr(row, name)


def _section(row: object) -> DistrictSection:
    assert isinstance(row, DistrictSection)
    return row


def _term(row: object) -> DistrictTerm:
    assert isinstance(row, DistrictTerm)
    return row


def _int(row: object) -> int:
    assert isinstance(row, int)
    return row


def _users_dcid(row: object) -> int:
    assert isinstance(row, DistrictSchoolStaff)
    return row.users_dcid
