"""How PowerSchool identities become Moodle idnumbers (the keys of owned objects).

Every key starts with :data:`reconciler.model.OWNED_PREFIX` and is namespaced by the
connection, so two PowerSchool servers never collide and the live state alone proves
what the tool owns. Course and group keys carry the school number, so a plan can say
which school a change belongs to without another lookup. Students and staff come from
different PowerSchool tables, hence different key spaces.
"""

from __future__ import annotations

import hashlib

from reconciler.model import OWNED_PREFIX, Key, Kind

#: Moodle's idnumber column limits (lib/db/install.xml).
_MAX_IDNUMBER = {Kind.USER: 255, Kind.COURSE: 100, Kind.CATEGORY: 100, Kind.COHORT: 100, Kind.GROUP: 100}


def _key(kind: Kind, body: str) -> Key:
    ident = OWNED_PREFIX + body
    if len(ident) > _MAX_IDNUMBER[kind]:
        # Keep it provably ours and unique while fitting the column: hash the tail.
        digest = hashlib.sha256(body.encode()).hexdigest()[:24]
        ident = f"{ident[: _MAX_IDNUMBER[kind] - 26]}#{digest}"
    return Key(kind, ident)


def student_key(connection: str, dcid: int) -> Key:
    """A student account, by STUDENTS.DCID."""
    return _key(Kind.USER, f"{connection}:student:{dcid}")


def staff_key(connection: str, users_dcid: int) -> Key:
    """A staff account, by USERS.DCID (one person across schools)."""
    return _key(Kind.USER, f"{connection}:staff:{users_dcid}")


def section_course_key(connection: str, school: int, section_dcid: int) -> Key:
    """A section-mode course: one per PowerSchool section."""
    return _key(Kind.COURSE, f"{connection}:{school}:section:{section_dcid}")


def group_course_key(connection: str, school: int, course_number: str, start_year: int) -> Key:
    """A group-mode course: one per PowerSchool course, school and school year (a new
    year makes a new course; last year's is never reused)."""
    return _key(Kind.COURSE, f"{connection}:{school}:course:{course_number}:{start_year}")


def group_key(connection: str, school: int, section_dcid: int) -> Key:
    """A group inside a group-mode course: one per PowerSchool section."""
    return _key(Kind.GROUP, f"{connection}:{school}:section:{section_dcid}")


def cohort_key(connection: str, field: str, value: str) -> Key:
    """A system cohort by connection, field and value: renaming its template keeps the key."""
    return _key(Kind.COHORT, f"{connection}:cohort:{field}:{value}")


def category_key(path: tuple[str, ...]) -> Key:
    """A category by its name path; shared by every connection that names the same path."""
    return _key(Kind.CATEGORY, "cat:" + "/".join(path))


def school_of(key: Key) -> str:
    """The school number a course or group key carries ('' for other keys)."""
    parts = key.id.removeprefix(OWNED_PREFIX).split(":")
    if key.kind in (Kind.COURSE, Kind.GROUP) and len(parts) > 2:
        return parts[1]
    return ""


def connection_of(key: Key) -> str:
    """The connection an owned key belongs to ('' for shared categories and foreign keys)."""
    if not key.owned or key.kind is Kind.CATEGORY:
        return ""
    return key.id.removeprefix(OWNED_PREFIX).split(":", 1)[0]
