"""Read a roster from PowerSchool: the I/O edge of the PowerSchool side.

:func:`fetch_roster` reads everything one connection needs with as few requests as the
API allows. Every list is counted and then paged at the plugin's largest page size, all
lists of a phase through one bounded pool (:mod:`paging`):

1. the district's schools (``/ws/v1/district/school``), every year's full-year terms (to
   pick the school year) and the co-teaching roles (table queries ``terms``, ``roledef``);
2. the school year's terms, and per configured school: students with e-mail and custom fields (v1, every enroll
   status), their internal IDs (table ``students``), courses (v1), staff (v1) and their
   SCHOOLSTAFF IDs (table ``schoolstaff``), the year's sections (table ``sections``); and
   the section extension field (its ``u_*`` table) when section migration is configured;
3. per school: section teachers with their roles (table ``sectionteacher``, bounded by
   the school's section IDs) and enrolments (table ``cc``, positive and dropped rows).

Section teachers and enrolments are read in bulk from tables because the v1 API has them
only per section (``/ws/v1/section/{id}/section_enrollment``: 12,000 requests for a large
district) and has no co-teachers at all (``staff_id`` is the lead only). The plugin must
therefore grant table access: :func:`access_request` lists every field read. If the
plugin cannot be given table access, the fallback is reading enrolments per section
through v1 and living without co-teachers; this client deliberately does not fall back
on its own, because silently losing every co-teacher would unenrol them all from Moodle.
A refused table read fails with PowerSchool's list of the fields it denied.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Sequence
from datetime import date
from functools import partial
from typing import TypeVar

import httpx

from reconciler.config.model import Connection
from reconciler.errors import SourceError
from reconciler.powerschool import quirks
from reconciler.powerschool import records as rec
from reconciler.powerschool.client import PowerSchoolClient, fiql
from reconciler.powerschool.paging import Batch, Pending, Read
from reconciler.powerschool.records import extension_refs
from reconciler.powerschool.roster import ENROLL_STATUSES, Course, Roster, School, Student

T = TypeVar("T")

#: The "Graduated Students" school: listed by /ws/v1/district/school, left out of its count.
GRADUATED_SCHOOL = 999999

#: The table columns read, by table (the plugin's access_request must grant them).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "terms": (
        "dcid",
        "id",
        "schoolid",
        "yearid",
        "name",
        "abbreviation",
        "firstday",
        "lastday",
        "portion",
        "isyearrec",
    ),
    "roledef": ("id", "name", "rolekey"),
    "students": ("dcid", "id"),
    "schoolstaff": ("id", "dcid", "users_dcid"),
    "sections": ("id", "dcid", "schoolid", "course_number", "section_number", "termid", "teacher", "expression"),
    "sectionteacher": ("id", "sectionid", "teacherid", "roleid", "end_date"),
    "cc": ("dcid", "studentid", "sectionid", "dateenrolled", "dateleft"),
}


#: Columns only filtered on (``q=``); reading them needs access too.
FILTER_COLUMNS: dict[str, tuple[str, ...]] = {
    "students": ("schoolid",),
    "schoolstaff": ("schoolid",),
    "cc": ("schoolid", "termid"),
}


def fields_read(
    section_field: str | None = None, student_fields: Sequence[str] = (), staff_fields: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """Every ``(table, column)`` this client reads, in a stable order: the table columns
    and filters, the section migration field (its ``u_*`` table) and the students' and
    staff's custom fields (their extension tables)."""
    fields = [(t, c) for t, cols in TABLE_COLUMNS.items() for c in (*cols, *FILTER_COLUMNS.get(t, ()))]
    if section_field:
        for table, names in extension_refs([section_field], "section_migration.field").items():
            fields += [(table, "sectionsdcid"), *((table, n) for n in names)]
    for refs, what in ((student_fields, "students.custom_fields"), (staff_fields, "staff.custom_fields")):
        fields += [(table, n) for table, names in extension_refs(refs, what).items() for n in names]
    return list(dict.fromkeys(fields))


def access_request(section_field: str | None = None) -> str:
    """The ``<access_request>`` block of the plugin.xml this client needs (table reads;
    v1 reads are governed by ``accessLevelV1Api="READ"`` on ``<oauth>``)."""
    lines = [
        f'    <field table="{t.upper()}" field="{c.upper()}" access="ViewOnly"/>' for t, c in fields_read(section_field)
    ]
    return "\n".join(["<access_request>", *lines, "</access_request>"])


def fetch_roster(
    connection: Connection,
    *,
    transport: httpx.BaseTransport | None = None,
    year_id: int | None = None,
    today: date | None = None,
) -> Roster:
    """Read the roster of one configured connection (its schools, custom fields and
    section migration field). ``transport`` replaces the network (an emulator);
    ``year_id`` pins the school year (YEARID, e.g. 34 for 2024-25) instead of the one
    containing ``today``."""
    with PowerSchoolClient.from_settings(connection.powerschool, transport=transport) as client:
        migration = connection.section_migration
        return read_roster(
            client,
            connection.schools,
            student_fields=[f.source for f in connection.students.custom_fields],
            staff_fields=[f.source for f in connection.staff.custom_fields],
            section_field=migration.field if migration else None,
            year_id=year_id,
            today=today,
        )


def read_schools(client: PowerSchoolClient) -> tuple[School, ...]:
    """Every school of the district, sorted by number (one count and one page, usually)."""
    batch = Batch(client)
    schools = batch.add(_schools_read())
    batch.run()
    return tuple(sorted(schools.items, key=lambda s: s.number))


def read_roster(
    client: PowerSchoolClient,
    schools: Sequence[int],
    *,
    student_fields: Sequence[str] = (),
    staff_fields: Sequence[str] = (),
    section_field: str | None = None,
    year_id: int | None = None,
    today: date | None = None,
) -> Roster:
    """Read everything for ``schools`` (school numbers) in the school year ``year_id`` (or
    the one containing ``today``). Custom fields are ``extension_table.field``."""
    today = today or date.today()
    student_tables = list(extension_refs(student_fields, "students.custom_fields"))
    staff_tables = list(extension_refs(staff_fields, "staff.custom_fields"))

    # Phase 1: schools, every year's full-year terms (one per school and year), roles.
    batch = Batch(client)
    district = batch.add(_schools_read())
    years = batch.add(_table("school years", "terms", rec.term, lambda t: t.dcid, fiql(("isyearrec", "==", 1))))
    roles = batch.add(_table("co-teaching roles", "roledef", rec.role, lambda r: r[0]))
    batch.run()
    by_number = {s.number: s for s in district.items}
    missing = [n for n in schools if n not in by_number]
    if missing:
        known = ", ".join(f"{s.number} {s.name}" for s in sorted(by_number.values(), key=lambda s: s.number))
        raise SourceError(f"school number(s) {', '.join(map(str, missing))} not in PowerSchool (it has: {known})")
    try:
        year = year_id if year_id is not None else rec.choose_year(years.items, today)
    except ValueError as exc:
        raise SourceError(f"PowerSchool terms: {exc}") from None

    # Phase 2: the year's terms; per school, people, courses and the year's sections.
    batch = Batch(client)
    year_terms = batch.add(_table("terms", "terms", rec.term, lambda t: t.dcid, fiql(("yearid", "==", year))))
    per_school = {
        n: _SchoolReads(batch, by_number[n], year, student_fields, staff_fields, student_tables, staff_tables)
        for n in schools
    }
    extension = batch.add(_extension_read(section_field)) if section_field else None
    batch.run()

    terms = [t for t in year_terms.items if t.school_number in schools]
    sections = [row for reads in per_school.values() for row in reads.sections.items]
    term_at = {(t.school_number, t.term_id): t for t in terms}
    sections = [s for s in sections if (s.school_number, s.term_id) in term_at]
    person_of = {row.id: row.users_dcid for reads in per_school.values() for row in reads.school_staff.items}

    # Phase 3: per school, section teachers and enrolments (the biggest table).
    batch = Batch(client)
    teacher_reads, cc_reads = [], []
    for number in per_school:
        ids = [s.id for s in sections if s.school_number == number]
        if ids:
            teacher_reads.append(batch.add(_teachers_read(number, min(ids), max(ids))))
        cc_reads += [batch.add(_cc_read(number, year, dropped)) for dropped in (False, True)]
    batch.run()

    section_by_id = {s.id: (s.dcid, term_at[(s.school_number, s.term_id)]) for s in sections}
    student_dcid = {sid: dcid for reads in per_school.values() for dcid, sid in reads.student_ids.items}
    students: dict[int, Student] = {}
    for reads in per_school.values():
        students.update((s.dcid, s) for s in reads.students.items)
    courses: dict[int, Course] = {}
    for reads in per_school.values():
        courses.update((c.dcid, c) for c in reads.courses.items)
    try:
        staff = rec.merge_staff(
            (r for reads in per_school.values() for r in reads.staff.items),
            {row.dcid: row.users_dcid for reads in per_school.values() for row in reads.school_staff.items},
        )
    except ValueError as exc:
        raise SourceError(f"PowerSchool staff: {exc}") from None
    return Roster(
        schools=tuple(by_number[n] for n in sorted(schools)),
        terms=tuple(sorted(terms, key=lambda t: (t.school_number, t.term_id))),
        courses=tuple(sorted(courses.values(), key=lambda c: (c.number, c.dcid))),
        sections=rec.sections(
            sections,
            term_at,
            (t for r in teacher_reads for t in r.items),
            dict(roles.items),
            person_of,
            dict(extension.items) if extension else {},
            section_field,
            today,
        ),
        students=tuple(sorted(students.values(), key=lambda s: s.dcid)),
        staff=staff,
        enrolments=rec.enrolments((row for r in cc_reads for row in r.items), section_by_id, student_dcid),
        student_counts={n: per_school[n].students.count for n in sorted(schools)},
    )


class _SchoolReads:
    """The phase-2 reads of one school."""

    def __init__(
        self,
        batch: Batch,
        school: School,
        year: int,
        student_fields: Sequence[str],
        staff_fields: Sequence[str],
        student_tables: Sequence[str],
        staff_tables: Sequence[str],
    ) -> None:
        n, base = school.number, f"/ws/v1/school/{school.dcid}"
        self.students: Pending[Student] = batch.add(
            _v1(
                f"students of school {n}",
                f"{base}/student",
                "student",
                partial(rec.student, school_number=n, fields=student_fields),
                lambda s: s.dcid,
                # Every enroll status: inactive students are in the roster too, so an account is
                # suspended because PowerSchool says so, never because a read came back short.
                q=fiql(("school_enrollment.enroll_status", "==", ENROLL_STATUSES)),
                expansions="school_enrollment,contact_info",
                extensions=student_tables,
            )
        )
        self.student_ids = batch.add(
            _table(f"student IDs of school {n}", "students", rec.id_pair, lambda p: p[0], fiql(("schoolid", "==", n)))
        )
        self.courses: Pending[Course] = batch.add(
            _v1(f"courses of school {n}", f"{base}/course", "course", rec.course, lambda c: c.dcid)
        )
        self.staff: Pending[rec.StaffRecord] = batch.add(
            _v1(
                f"staff of school {n}",
                f"{base}/staff",
                "staff",
                partial(rec.staff_record, school_number=n, fields=staff_fields),
                lambda s: s.staff_dcid,
                expansions="emails",
                extensions=staff_tables,
            )
        )
        self.school_staff = batch.add(
            _table(
                f"staff IDs of school {n}", "schoolstaff", rec.staff_row, lambda r: r.dcid, fiql(("schoolid", "==", n))
            )
        )
        year_terms = (("schoolid", "==", n), ("termid", "=ge=", year * 100), ("termid", "=le=", year * 100 + 99))
        self.sections = batch.add(
            _table(f"sections of school {n}", "sections", rec.section_row, lambda r: r.dcid, fiql(*year_terms))
        )


def _v1(
    label: str,
    path: str,
    resource: str,
    convert: Callable[[rec.Record], T],
    key: Callable[[T], Hashable],
    *,
    q: str = "",
    expansions: str = "",
    extensions: Sequence[str] = (),
) -> Read[T]:
    params = []
    if expansions:
        params.append(("expansions", expansions))
    if extensions:
        params.append(("extensions", ",".join(extensions)))
    plural = "staffs" if resource == "staff" else f"{resource}s"
    return Read(label, path, resource, partial(quirks.v1_records, plural=plural), convert, key, q, tuple(params))


def _table(
    label: str,
    table: str,
    convert: Callable[[rec.Record], T],
    key: Callable[[T], Hashable],
    q: str = "",
    columns: Sequence[str] | None = None,
    sort: str | None = None,
) -> Read[T]:
    cols = columns or TABLE_COLUMNS[table]
    # A stable sort keeps offset paging consistent (reference §4).
    params = (("projection", ",".join(cols)), ("sort", sort or cols[0]))
    return Read(
        label,
        f"/ws/schema/table/{table}",
        "schema_table_query",
        partial(quirks.table_records, table=table),
        convert,
        key,
        q,
        params,
    )


def _schools_read() -> Read[School]:
    read = _v1("district schools", "/ws/v1/district/school", "school", rec.school, lambda s: s.dcid)
    return dataclasses.replace(read, uncounted=lambda s: s.number == GRADUATED_SCHOOL)


def _teachers_read(school: int, low: int, high: int) -> Read[rec.TeacherRow]:
    # SECTIONTEACHER has no school column: bound it by the school's section IDs.
    q = fiql(("sectionid", "=ge=", low), ("sectionid", "=le=", high))
    return _table(f"section teachers of school {school}", "sectionteacher", rec.teacher_row, lambda r: r.id, q)


def _cc_read(school: int, year: int, dropped: bool) -> Read[rec.CCRow]:
    # A dropped enrolment stores negative SECTIONID and TERMID, so the year is two ranges.
    low, high = year * 100, year * 100 + 99
    bounds = (-high, -low) if dropped else (low, high)
    q = fiql(("schoolid", "==", school), ("termid", "=ge=", bounds[0]), ("termid", "=le=", bounds[1]))
    label = f"{'dropped ' if dropped else ''}enrolments of school {school}"
    return _table(label, "cc", rec.cc_row, lambda r: r.dcid, q)


def _extension_read(section_field: str) -> Read[tuple[int, str]]:
    ((table, names),) = extension_refs([section_field], "section_migration.field").items()
    return _table(
        f"section field {section_field}",
        table,
        partial(rec.extension_value, key="sectionsdcid", field=names[0]),
        lambda p: p[0],
        columns=("sectionsdcid", names[0]),
    )
