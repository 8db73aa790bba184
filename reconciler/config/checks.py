"""Checks the schema cannot express: names and prefixes unique across connections,
placeholders that exist, references between settings that agree.

These run on the plain document even when the schema found problems, so one run reports
everything; every check therefore skips what is not shaped as it expects (the schema has
already reported that).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from reconciler.config import templates
from reconciler.config.document import Document, Path
from reconciler.config.issues import ConfigIssue, format_path
from reconciler.net import plain_http_refusal

Settings = dict[str, object]
"""A mapping of the document, as the checks see it."""

_COURSE_TEMPLATES = {
    "course_name_template": (templates.COURSE, "course"),
    "course_shortname_template": (templates.COURSE, "course"),
    "group_course_name_template": (templates.GROUP_COURSE, "group-mode course"),
    "group_course_shortname_template": (templates.GROUP_COURSE, "group-mode course"),
}
#: Every placeholder of some template: naming one where it has no value is a different mistake from a typo.
_KNOWN = {*templates.STUDENT, *templates.STAFF, *templates.COURSE, *templates.COHORT}


def semantic_issues(doc: Document) -> list[ConfigIssue]:
    """Every cross-setting problem in the document."""
    root = _mapping(doc.data)
    connections = _entries(root.get("connections"))
    issues = [*_distinct_names(doc, connections), *_distinct_prefixes(doc, connections)]
    issues += _secure_url(doc, ("moodle", "url"), _mapping(root.get("moodle")), "Moodle", "the web service token")
    for i, conn in connections:
        ps = _mapping(conn.get("powerschool"))
        issues += _secure_url(doc, ("connections", i, "powerschool", "url"), ps, "PowerSchool", "the client secret")
    for i, conn in connections:
        issues += _connection(doc, ("connections", i), conn, several=len(connections) > 1)
    return issues + list(_adopt_requirements(doc, _entries(root.get("adopt"))))


#: The attributes an adopt rule of each kind can require (the schema knows only their union).
_REQUIRABLE = {
    "user": ("email", "firstname", "lastname", "profile.", "customfields."),
    "course": ("fullname", "startdate", "enddate"),
}


def _requirable(name: str, kind: str) -> bool:
    return any(name == a or (a.endswith(".") and name.startswith(a)) for a in _REQUIRABLE.get(kind, ()))


def _adopt_requirements(doc: Document, rules: list[tuple[int, Settings]]) -> Iterator[ConfigIssue]:
    """An attribute another kind's rule could require (others the schema reported)."""
    for i, rule in rules:
        kind, require = rule.get("kind"), rule.get("require")
        if not isinstance(kind, str) or not isinstance(require, list):
            continue
        allowed = ", ".join(a + "<name>" if a.endswith(".") else a for a in _REQUIRABLE.get(kind, ()))
        for j, name in enumerate(require):
            if (
                not isinstance(name, str)
                or _requirable(name, kind)
                or not any(_requirable(name, k) for k in _REQUIRABLE)
            ):
                continue
            yield doc.issue(
                ("adopt", i, "require", j),
                f"a {kind} adopt rule can require {allowed}"
                if allowed
                else f"a {kind} has only its name, which already matches: leave require out",
            )


def _mapping(value: object) -> Settings:
    return value if isinstance(value, dict) else {}


def _entries(value: object) -> list[tuple[int, Settings]]:
    """The mapping items of a list, with their indexes."""
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)] if isinstance(value, list) else []


def _secure_url(doc: Document, path: Path, section: Settings, what: str, carries: str) -> list[ConfigIssue]:
    url = section.get("url")
    refusal = plain_http_refusal(url, what, f"{carries} and student data") if isinstance(url, str) else None
    return [doc.issue(path, refusal)] if refusal else []


def _distinct_names(doc: Document, connections: list[tuple[int, Settings]]) -> Iterator[ConfigIssue]:
    first: dict[str, int] = {}
    for i, conn in connections:
        name = conn.get("name")
        if not isinstance(name, str):
            continue
        if name in first:
            yield doc.issue(
                ("connections", i, "name"), f"connection name '{name}' is already used by connections[{first[name]}]"
            )
        else:
            first[name] = i


def _distinct_prefixes(doc: Document, connections: list[tuple[int, Settings]]) -> Iterator[ConfigIssue]:
    """With several connections, usernames and course numbers stay apart only by prefix."""
    if len(connections) < 2:
        return
    for key in ("username_prefix", "course_number_prefix"):
        owner: dict[str, str] = {}
        for i, conn in connections:
            prefix = conn.get(key, "")
            if not isinstance(prefix, str):
                continue
            if prefix not in owner:
                owner[prefix] = str(conn.get("name", f"connections[{i}]"))
                continue
            shown = f"'{prefix}'" if prefix else "empty"
            yield doc.issue(
                ("connections", i, key),
                f"{key} is {shown}, the same as for connection '{owner[prefix]}'; with several connections"
                " each needs its own (an empty prefix counts as one)",
                key=True,
            )


def _connection(doc: Document, path: Path, conn: Settings, *, several: bool) -> list[ConfigIssue]:
    schools = _school_numbers(conn)
    issues: list[ConfigIssue] = []
    for key, (catalogue, subject) in _COURSE_TEMPLATES.items():
        issues += _template(doc, (*path, key), conn.get(key), catalogue, subject)
    issues += _unique_shortnames(doc, path, conn, several=several, schools=schools)
    students = _mapping(conn.get("students"))
    issues += _people(doc, (*path, "students"), students, templates.STUDENT, "student")
    issues += _cohorts(doc, (*path, "students"), students)
    issues += _people(doc, (*path, "staff"), _mapping(conn.get("staff")), templates.STAFF, "staff")
    issues += _school_settings(doc, path, conn, schools)
    issues += _moves(doc, (*path, "section_migration", "moves"), _mapping(conn.get("section_migration")), schools)
    return issues


def _school_numbers(conn: Settings) -> set[int] | None:
    """The connection's schools, or None when they are not a list of numbers (already reported)."""
    schools = conn.get("schools")
    if isinstance(schools, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in schools):
        return set(schools)
    return None


def _template(
    doc: Document, path: Path, value: object, catalogue: templates.Catalogue, subject: str
) -> list[ConfigIssue]:
    if not isinstance(value, str):
        return []
    try:
        used = templates.placeholders(value)
    except templates.TemplateError as exc:
        return [doc.issue(path, f"template {exc}")]
    issues = []
    for name in sorted(used - catalogue.keys()):
        if name in _KNOWN:  # a real placeholder in the wrong template: a look-alike would mislead
            message = f"placeholder {{{name}}} has no value in {subject} templates."
        else:
            close = difflib.get_close_matches(name, list(catalogue), n=1)
            message = f"unknown placeholder {{{name}}}" + (f"; did you mean {{{close[0]}}}?" if close else ".")
        allowed = " ".join(f"{{{n}}}" for n in catalogue)
        issues.append(doc.issue(path, f"{message} {subject[0].upper()}{subject[1:]} templates may use: {allowed}"))
    return issues


# What keeps course short names unique across the site: (any of these placeholders, why).
_NEEDS_COURSE = (("course_number",), "different courses would share short names")
_NEEDS_YEAR = (("year", "year_name"), "every school year makes new courses, which must not clash with last year's")
_NEEDS_SECTION = (("section_number",), "the sections of a course would share short names")
_NEEDS_TERM = (("term_abbreviation", "term_name"), "sections in different terms would share short names")
_NEEDS_SCHOOL = (("school_number", "school_name"), "this connection's schools reuse course and section numbers")
_NEEDS_PREFIX = (("course_number_prefix",), "connections may have the same course numbers")


def _unique_shortnames(
    doc: Document, path: Path, conn: Settings, *, several: bool, schools: set[int] | None
) -> list[ConfigIssue]:
    """A given short name template must tell apart every course it can produce (the
    defaults do); a clash would otherwise surface only at plan time, course by course."""
    shared = [_NEEDS_COURSE, _NEEDS_YEAR]
    if schools is not None and len(schools) > 1:
        shared.append(_NEEDS_SCHOOL)
    if several:
        shared.append(_NEEDS_PREFIX)
    needs = {
        "course_shortname_template": [*shared, _NEEDS_SECTION, _NEEDS_TERM],
        "group_course_shortname_template": shared,
    }
    issues = []
    for key, required in needs.items():
        template = conn.get(key)
        if not isinstance(template, str):
            continue
        try:
            used = templates.placeholders(template)
        except templates.TemplateError:
            continue  # reported as malformed
        for options, why in required:
            if not used.intersection(options):
                wanted = " or ".join(f"{{{o}}}" for o in options)
                message = f"must use {wanted}: Moodle short names are unique, and without it {why}"
                issues.append(doc.issue((*path, key), message))
    return issues


def _people(
    doc: Document, path: Path, people: Settings, catalogue: templates.Catalogue, subject: str
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for key in ("username", "email_fallback"):
        issues += _template(doc, (*path, key), people.get(key), catalogue, subject)
    for name, value in _mapping(people.get("fields")).items():
        issues += _template(doc, (*path, "fields", name), value, catalogue, subject)
    filled: dict[object, int] = {}
    for j, custom in _entries(people.get("custom_fields")):
        moodle = custom.get("moodle")
        if isinstance(moodle, str) and moodle in filled:
            first = format_path((*path, "custom_fields", filled[moodle]))
            issues.append(doc.issue((*path, "custom_fields", j, "moodle"), f"'{moodle}' is already filled by {first}"))
        filled.setdefault(moodle, j)
    issues += _password(doc, path, people)
    return issues


def _password(doc: Document, path: Path, people: Settings) -> list[ConfigIssue]:
    given = [k for k in ("initial_password", "initial_password_file") if k in people]
    mode = people.get("password", "generate")
    if mode == "initial" and not given:
        message = "password: initial needs initial_password (a ${ENV_VAR} reference) or initial_password_file"
        return [doc.issue((*path, "password"), message)]
    if mode == "generate" and given:
        message = f"{given[0]} is only used with password: initial; set that or remove {given[0]}"
        return [doc.issue((*path, given[0]), message, key=True)]
    return []


def _cohorts(doc: Document, path: Path, students: Settings) -> list[ConfigIssue]:
    custom = [c.get("moodle") for _, c in _entries(students.get("custom_fields"))]
    allowed = [*templates.STUDENT, *(c for c in custom if isinstance(c, str))]
    issues: list[ConfigIssue] = []
    first: dict[str, int] = {}
    for j, rule in _entries(students.get("cohorts")):
        here = (*path, "cohorts", j)
        issues += _template(doc, (*here, "name"), rule.get("name"), templates.COHORT, "cohort name")
        field = rule.get("field")
        if not isinstance(field, str):
            continue
        if field not in allowed:
            message = (
                f"cohort field '{field}' is neither a student placeholder nor the moodle name of one of"
                f" students.custom_fields; use one of: {', '.join(allowed)}"
            )
            issues.append(doc.issue((*here, "field"), message))
        elif field in first:
            issues.append(doc.issue((*here, "field"), f"cohorts[{first[field]}] already groups students by {field}"))
        first.setdefault(field, j)
    return issues


def _school_settings(doc: Document, path: Path, conn: Settings, schools: set[int] | None) -> list[ConfigIssue]:
    issues = []
    for key, settings in _mapping(conn.get("school_settings")).items():
        here = (*path, "school_settings", key)
        if schools is not None and key.isdigit() and int(key) not in schools:
            message = f"{_unlisted(key, schools)}; add it there or remove these settings"
            issues.append(doc.issue(here, message, key=True))
        chosen = _mapping(settings)
        if ("courses" in chosen or "all_courses" in chosen) and not chosen.get("terms"):
            # Sections are selected by term: without terms the chosen courses would sync nothing.
            message = "courses are chosen but no terms: list the term abbreviations to sync, e.g. terms: [S1, S2]"
            issues.append(doc.issue(here, message, key=True))
    return issues


def _unlisted(school: object, schools: set[int]) -> str:
    return f"school {school} is not one of this connection's schools ({', '.join(str(s) for s in sorted(schools))})"


def _moves(doc: Document, path: Path, migration: Settings, schools: set[int] | None) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    first: dict[tuple[object, object, object], int] = {}
    for j, move in _entries(migration.get("moves")):
        school = move.get("school")
        if schools is not None and isinstance(school, int) and school not in schools:
            issues.append(doc.issue((*path, j, "school"), _unlisted(school, schools)))
        source = (school, move.get("from_course"), move.get("from_section"))
        if source in first:
            issues.append(doc.issue((*path, j), f"this section is already moved by moves[{first[source]}]"))
        first.setdefault(source, j)
        target = (school, move.get("to_course"), move.get("to_section", move.get("from_section")))
        if target == source:
            issues.append(doc.issue((*path, j), "moves the section onto itself"))
    return issues
