"""PowerSchool's tables over a generated district, as the schema endpoints see them.

A :class:`Table` is a sequence of rows plus named, typed column getters; it knows nothing
about HTTP. The getters read the district's own objects (or, for CC, its column arrays),
so no table is copied. ``schema_tables`` builds every table the emulator serves on
``/ws/schema/table/{name}``, including the ``u_*`` extension tables.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ps2moodle_testkit.emulators.district import (
    SECTION_FIELD,
    STAFF_FIELDS,
    STUDENT_FIELDS,
    District,
    DistrictSchoolStaff,
    DistrictSection,
    DistrictStudent,
    DistrictTerm,
    DistrictUser,
)

Getter = Callable[[Any], object]
"""Reads one column of a row (a district object, or a row number for CC)."""


@dataclass(frozen=True, slots=True)
class Column:
    """A readable column: lower-case ``name``, a getter, and its ``kind`` (int, str, date, bool)."""

    name: str
    get: Getter
    kind: str = "str"


@dataclass(frozen=True)
class Table:
    """Rows plus columns. ``key`` names the column used as a record's ``id``; ``index``
    names a column whose equality filter is answered from a prebuilt bucket."""

    name: str
    title: str
    rows: Sequence[object]
    columns: dict[str, Column]
    key: str
    index: str | None = None
    _buckets: dict[object, list[object]] = field(default_factory=dict, repr=False)

    def bucket(self, value: object) -> list[object]:
        """The rows whose ``index`` column equals ``value`` (built on first use)."""
        if not self._buckets and self.index is not None:
            get = self.columns[self.index].get
            groups: dict[object, list[object]] = defaultdict(list)
            for row in self.rows:
                groups[get(row)].append(row)
            self._buckets.update(groups)
            self._buckets.setdefault(None, [])  # marks the index as built even when empty
        return self._buckets.get(value, [])


def _columns(*specs: tuple[str, Getter, str]) -> dict[str, Column]:
    return {name: Column(name, get, kind) for name, get, kind in specs}


def _attr(name: str) -> Getter:
    return lambda row: getattr(row, name)


def schema_tables(d: District) -> dict[str, Table]:
    """Every table the emulated server exposes, by lower-case name."""
    tables = [
        _students(d),
        _schools(d),
        _users(d),
        _school_staff(d),
        _courses(d),
        _sections(d),
        _section_teachers(d),
        _roles(d),
        _terms(d),
        _cc(d),
        *_extensions(d),
    ]
    return {t.name: t for t in tables}


def _students(d: District) -> Table:
    def lastfirst(s: object) -> str:
        assert isinstance(s, DistrictStudent)
        return f"{s.last_name}, {s.first_name}"

    cols = _columns(
        ("id", _attr("id"), "int"),
        ("dcid", _attr("dcid"), "int"),
        ("student_number", _attr("student_number"), "str"),
        ("student_web_id", _attr("web_id"), "str"),
        ("first_name", _attr("first_name"), "str"),
        ("middle_name", _attr("middle_name"), "str"),
        ("last_name", _attr("last_name"), "str"),
        ("lastfirst", lastfirst, "str"),
        ("schoolid", _attr("school_number"), "int"),
        ("grade_level", _attr("grade_level"), "int"),
        ("enroll_status", _attr("enroll_status"), "int"),
        ("entrydate", _attr("entry_date"), "date"),
        ("exitdate", _attr("exit_date"), "date"),
        ("gender", _attr("gender"), "str"),
        ("dob", _attr("birth_date"), "date"),
        ("state_studentnumber", _attr("state_id"), "str"),
    )
    return Table("students", "Students", d.students, cols, key="dcid", index="schoolid")


def _schools(d: District) -> Table:
    rows = [s for s in d.schools if s.kind != "office"]
    cols = _columns(
        ("id", _attr("id"), "int"),
        ("dcid", _attr("dcid"), "int"),
        ("school_number", _attr("number"), "int"),
        ("name", _attr("name"), "str"),
        ("abbreviation", _attr("abbreviation"), "str"),
        ("low_grade", _attr("low_grade"), "int"),
        ("high_grade", _attr("high_grade"), "int"),
    )
    return Table("schools", "Schools", rows, cols, key="dcid")


def _users(d: District) -> Table:
    def lastfirst(u: object) -> str:
        assert isinstance(u, DistrictUser)
        return f"{u.last_name}, {u.first_name}"

    cols = _columns(
        ("dcid", _attr("dcid"), "int"),
        ("teachernumber", _attr("teacher_number"), "str"),
        ("first_name", _attr("first_name"), "str"),
        ("middle_name", _attr("middle_name"), "str"),
        ("last_name", _attr("last_name"), "str"),
        ("lastfirst", lastfirst, "str"),
        ("email_addr", _attr("email"), "str"),
        ("teacherloginid", _attr("teacher_login"), "str"),
        ("loginid", _attr("admin_login"), "str"),
        ("homeschoolid", _attr("home_school"), "int"),
    )
    return Table("users", "Users", d.users, cols, key="dcid")


def _school_staff(d: District) -> Table:
    cols = _columns(
        ("id", _attr("id"), "int"),
        ("dcid", _attr("dcid"), "int"),
        ("users_dcid", _attr("users_dcid"), "int"),
        ("schoolid", _attr("school_number"), "int"),
        ("status", _attr("status"), "int"),
        ("staffstatus", _attr("staff_status"), "int"),
    )
    return Table("schoolstaff", "SchoolStaff", d.school_staff, cols, key="dcid", index="schoolid")


def _courses(d: District) -> Table:
    cols = _columns(
        ("id", _attr("id"), "int"),
        ("dcid", _attr("dcid"), "int"),
        ("course_number", _attr("number"), "str"),
        ("course_name", _attr("name"), "str"),
    )
    return Table("courses", "Courses", d.courses, cols, key="dcid")


def _sections(d: District) -> Table:
    cc = d.enrolments
    counts: dict[int, int] = {}

    def no_of_students(s: object) -> int:
        assert isinstance(s, DistrictSection)
        if not counts:
            counts.update(dict.fromkeys((x.id for x in d.sections), 0))
            for section_id in cc.section_id:
                if section_id > 0:
                    counts[section_id] += 1
        return counts[s.id]

    cols = _columns(
        ("id", _attr("id"), "int"),
        ("dcid", _attr("dcid"), "int"),
        ("schoolid", _attr("school_number"), "int"),
        ("course_number", _attr("course_number"), "str"),
        ("section_number", _attr("section_number"), "str"),
        ("termid", _attr("term_id"), "int"),
        ("teacher", _attr("teacher"), "int"),
        ("expression", _attr("expression"), "str"),
        ("external_expression", _attr("external_expression"), "str"),
        ("room", _attr("room"), "str"),
        ("no_of_students", no_of_students, "int"),
    )
    return Table("sections", "Sections", d.sections, cols, key="dcid", index="schoolid")


def _section_teachers(d: District) -> Table:
    cols = _columns(
        ("id", _attr("id"), "int"),
        ("sectionid", _attr("section_id"), "int"),
        ("teacherid", _attr("teacher_id"), "int"),
        ("roleid", _attr("role_id"), "int"),
        ("allocation", _attr("allocation"), "int"),
        ("start_date", _attr("start_date"), "date"),
        ("end_date", _attr("end_date"), "date"),
    )
    return Table("sectionteacher", "SectionTeacher", d.section_teachers, cols, key="id")


def _roles(d: District) -> Table:
    cols = _columns(("id", _attr("id"), "int"), ("name", _attr("name"), "str"), ("rolekey", _attr("rolekey"), "str"))
    return Table("roledef", "RoleDef", d.roles, cols, key="id")


def _terms(d: District) -> Table:
    cols = _columns(
        ("id", _attr("id"), "int"),
        ("dcid", _attr("dcid"), "int"),
        ("schoolid", _attr("school_number"), "int"),
        ("yearid", _attr("year_id"), "int"),
        ("name", _attr("name"), "str"),
        ("abbreviation", _attr("abbreviation"), "str"),
        ("firstday", _attr("first_day"), "date"),
        ("lastday", _attr("last_day"), "date"),
        ("portion", _attr("portion"), "int"),
        ("isyearrec", lambda t: int(t.is_year) if isinstance(t, DistrictTerm) else None, "int"),
    )
    return Table("terms", "Terms", d.terms, cols, key="dcid", index="schoolid")


def _cc(d: District) -> Table:
    """CC by row number: the district stores it by column. The columns CC copies from its
    section (school, signed term) are precomputed, as filters test them on every row."""
    cc = d.enrolments
    sections = d.section_by_id
    school_of = array("q")
    term_of = array("q")
    for section_id in cc.section_id:
        owner = sections[abs(section_id)]
        school_of.append(owner.school_number)
        term_of.append(-owner.term_id if section_id < 0 else owner.term_id)

    def section(i: int) -> DistrictSection:
        return sections[abs(cc.section_id[i])]

    def offset(base: int) -> Getter:
        return lambda i: base + i

    def column(values: Sequence[int]) -> Getter:
        return lambda i: values[i]

    def day(ordinals: Sequence[int]) -> Getter:
        return lambda i: date.fromordinal(ordinals[i]) if ordinals[i] else None

    cols = _columns(
        ("id", offset(cc.ID_BASE), "int"),
        ("dcid", offset(cc.DCID_BASE), "int"),
        ("studentid", column(cc.student_id), "int"),
        ("sectionid", column(cc.section_id), "int"),
        ("termid", column(term_of), "int"),
        ("schoolid", column(school_of), "int"),
        ("course_number", lambda i: section(i).course_number, "str"),
        ("section_number", lambda i: section(i).section_number, "str"),
        ("teacherid", lambda i: section(i).teacher, "int"),
        ("expression", lambda i: section(i).expression, "str"),
        ("dateenrolled", day(cc.date_enrolled), "date"),
        ("dateleft", day(cc.date_left), "date"),
    )
    return Table("cc", "CC", range(len(cc)), cols, key="dcid", index="schoolid")


def _extension(name: str, parent_key: str, rows: Sequence[object], fields: Sequence[str], values: ValuesOf) -> Table:
    """A 1:1 extension table: its parent's DCID plus one column per field."""
    specs: list[tuple[str, Getter, str]] = [(parent_key, _attr("dcid"), "int")]
    for f in fields:
        specs.append((f, (lambda key: lambda row: values(row).get(key))(f), "str"))
    return Table(name, name, rows, _columns(*specs), key=parent_key)


ValuesOf = Callable[[object], dict[str, str]]


def extension_values(custom: Sequence[tuple[str, str, str]], table: str) -> dict[str, str]:
    """The values a record holds in one extension table, by field."""
    return {f: v for t, f, v in custom if t == table}


def _fields_by_table(sources: Sequence[str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for source in sources:
        table, _, name = source.partition(".")
        grouped[table].append(name)
    return grouped


def _extensions(d: District) -> list[Table]:
    """One table per extension; like PowerSchool, a row only for records that have one."""
    tables = []
    for table, fields in _fields_by_table(STUDENT_FIELDS).items():

        def student_values(s: object, t: str = table) -> dict[str, str]:
            return extension_values(s.custom, t) if isinstance(s, DistrictStudent) else {}

        students: list[object] = [s for s in d.students if student_values(s)]
        tables.append(_extension(table, "studentsdcid", students, fields, student_values))
    users = d.user_by_dcid
    for table, fields in _fields_by_table(STAFF_FIELDS).items():

        def staff_values(ss: object, t: str = table) -> dict[str, str]:
            return extension_values(users[ss.users_dcid].custom, t) if isinstance(ss, DistrictSchoolStaff) else {}

        staff: list[object] = [ss for ss in d.school_staff if staff_values(ss)]
        tables.append(_extension(table, "schoolstaffdcid", staff, fields, staff_values))
    section_table, _, section_field = SECTION_FIELD.partition(".")

    def section_values(s: object) -> dict[str, str]:
        return {section_field: s.migrate_to} if isinstance(s, DistrictSection) and s.migrate_to else {}

    sections: list[object] = [s for s in d.sections if s.migrate_to]
    tables.append(_extension(section_table, "sectionsdcid", sections, [section_field], section_values))
    return tables
