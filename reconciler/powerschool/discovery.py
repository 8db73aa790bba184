"""``ps2moodle discover``: a starter ``school_settings`` block from what PowerSchool holds.

:func:`discover` reads one connection's roster and the district's school list (I/O);
:func:`render_school_settings` turns them into YAML to paste under the connection
(pure): every school with its terms and the courses that have sections this year, with
section and student counts as comments, so the reviewer deletes what not to sync.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import date

import httpx

from reconciler.config.model import Connection
from reconciler.powerschool.client import PowerSchoolClient
from reconciler.powerschool.roster import Roster, School, Section
from reconciler.powerschool.source import read_roster, read_schools

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def discover(connection: Connection, *, transport: httpx.BaseTransport | None = None, today: date | None = None) -> str:
    """Read PowerSchool for ``connection`` and return the starter block."""
    with PowerSchoolClient.from_settings(connection.powerschool, transport=transport) as client:
        district = read_schools(client)
        roster = read_roster(client, connection.schools, today=today)
        where = client.base_url
    return render_school_settings(roster, district, connection=connection.name, source=where)


def render_school_settings(roster: Roster, district: Sequence[School], *, connection: str, source: str) -> str:
    """The ``school_settings`` YAML for ``roster``'s schools; ``district`` lists every school
    on the server (the others are named in a comment)."""
    year = next((t for t in roster.terms if t.is_year), None)
    lines = [
        f"# Starter school_settings for connection {connection!r}, read from {source}"
        + (f" (school year {year.name})." if year else "."),
        "# Paste it under the connection; keep the terms and courses to sync, delete the rest.",
        "# Counts are this year's sections and the students enrolled in them (drops excluded).",
    ]
    configured = {s.number for s in roster.schools}
    others = [s for s in district if s.number not in configured]
    if others:
        lines.append("# Other schools on this server: " + ", ".join(f"{s.number} {s.name}" for s in others))
    lines.append("school_settings:")
    sections_at: dict[int, list[Section]] = defaultdict(list)
    for section in roster.sections:
        sections_at[section.school_number].append(section)
    enrolled: dict[int, set[int]] = defaultdict(set)
    for e in roster.enrolments:
        if not e.dropped:
            enrolled[e.section_dcid].add(e.student_dcid)
    for school in roster.schools:
        lines += _school(roster, school, sections_at[school.number], enrolled)
    return "\n".join(lines) + "\n"


def _school(roster: Roster, school: School, sections: list[Section], enrolled: dict[int, set[int]]) -> list[str]:
    active = sum(1 for s in roster.students if s.school_number == school.number and s.enroll_status == "A")
    grades = f"grades {_grade(school.low_grade)}-{_grade(school.high_grade)}"
    lines = [f"  {school.number}:  # {_comment(school.name)}, {grades}: {active} active students"]
    terms = sorted(
        (t for t in roster.terms if t.school_number == school.number), key=lambda t: (t.portion, t.first_day)
    )
    by_term: dict[int, int] = defaultdict(int)
    for section in sections:
        by_term[section.term_dcid] += 1
    lines.append("    terms:")
    for t in terms:
        span = f"{t.first_day.isoformat()} to {t.last_day.isoformat()}"
        lines.append(
            f"      - {_scalar(t.abbreviation)}  # {_comment(t.name)}, {span}: {_count(by_term[t.dcid], 'section')}"
        )
    lines.append(f"    category: {_scalar(school.name.replace('/', '-'))}")
    by_course: dict[str, list[Section]] = defaultdict(list)
    for section in sections:
        by_course[section.course_number].append(section)
    if not by_course:
        lines.append("    courses: {}  # no sections this year")
        return lines
    lines.append("    courses:  # an empty entry takes the defaults (section mode, the school's category)")
    for number in sorted(by_course):
        group = by_course[number]
        students = set().union(*(enrolled[s.dcid] for s in group))
        course = roster.course_by_number.get(number)
        name = _comment(course.name) if course else "(not in the course list)"
        lines.append(
            f"      {_scalar(number)}:  # {name}: {_count(len(group), 'section')}, {_count(len(students), 'student')}"
        )
    return lines


def _grade(level: int) -> str:
    return {-2: "PK3", -1: "PK", 0: "K"}.get(level, str(level))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _comment(text: str) -> str:
    return " ".join(text.split())


def _scalar(text: str) -> str:
    """``text`` as a YAML string: plain when unambiguous, else double-quoted."""
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)
