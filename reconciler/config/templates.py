"""Template placeholders: what each kind of config template may name, and how one renders.

A template is a format string restricted to plain names, e.g. ``"{last_name}, {first_name}"``;
``{{`` and ``}}`` stand for literal braces. This module is the single catalogue of the
placeholders: the config loader checks every template against it, and the desired-state
builder renders templates with :func:`render`, giving every placeholder of the catalogue a
value.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Final

Catalogue = Mapping[str, str]
"""Placeholder name -> what it stands for (shown in error messages and the schema)."""

#: Placeholders of student templates (``students.username``, ``students.fields``, ``students.email_fallback``).
STUDENT: Final[Catalogue] = MappingProxyType(
    {
        "username": "the student's PowerSchool access-account username",
        "student_number": "the student number",
        "first_name": "first name",
        "middle_name": "middle name",
        "last_name": "last name",
        "email": "e-mail address in PowerSchool",
        "grade_level": "grade level (a number, 0 for kindergarten)",
        "school_number": "number of the student's school",
        "school_name": "name of the student's school",
        "dcid": "PowerSchool's stable id of the student (STUDENTS.DCID)",
    }
)

#: Placeholders of staff templates (``staff.username``, ``staff.fields``, ``staff.email_fallback``).
STAFF: Final[Catalogue] = MappingProxyType(
    {
        "username": "the staff member's PowerSchool username",
        "teacher_number": "the teacher number",
        "first_name": "first name",
        "middle_name": "middle name",
        "last_name": "last name",
        "email": "e-mail address in PowerSchool",
        "dcid": "PowerSchool's stable id of the person (USERS.DCID)",
    }
)

#: Placeholders of section course templates (``course_name_template``, ``course_shortname_template``;
#: in group mode ``course_name_template`` names each section's group).
COURSE: Final[Catalogue] = MappingProxyType(
    {
        "course_name": "the PowerSchool course name",
        "course_number": "the PowerSchool course number",
        "course_number_prefix": "the connection's course_number_prefix",
        "section_number": "the section number",
        "term_name": "the term's name",
        "term_abbreviation": "the term's abbreviation (24-25, S1, Q3...)",
        "year": "the calendar year the school year starts in (2024 for 2024-25)",
        "year_name": "the school year as 2024-2025",
        "school_number": "the school number",
        "school_name": "the school name",
        "teachers": "last names of the section's lead teachers",
        "expression": "the section's period expression (1(A), 2-3(B)...)",
    }
)

_SECTION_ONLY = ("section_number", "teachers", "expression")

#: Placeholders of group-mode course templates (``group_course_name_template``,
#: ``group_course_shortname_template``): a course spanning the school year, so no section ones.
GROUP_COURSE: Final[Catalogue] = MappingProxyType({k: v for k, v in COURSE.items() if k not in _SECTION_ONLY})

#: Placeholders of cohort name templates (``students.cohorts[].name``).
COHORT: Final[Catalogue] = MappingProxyType(
    {
        "field": "the profile field the cohort is built from",
        "value": "that field's value shared by the cohort's members",
    }
)

_NAME = re.compile(r"[a-z_][a-z0-9_]*")


class TemplateError(ValueError):
    """A template is malformed, or is rendered without a value for one of its placeholders."""


@lru_cache(maxsize=256)
def _parse(template: str) -> tuple[tuple[str, str | None], ...]:
    """The template as (literal text, placeholder or None) pieces; cached because the
    desired-state builder renders the same few templates for every person and section."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"is malformed: {exc} (write {{{{ or }}}} for a literal brace)") from None
    pieces: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            pieces.append((literal, None))
            continue
        if not _NAME.fullmatch(name):
            raise TemplateError(
                f"has {{{name}}}: a placeholder is a plain lowercase name like {{first_name}},"
                " without dots, brackets, spaces or numbers"
            )
        if spec or conversion:
            raise TemplateError(f"formats {{{name}}}: placeholders take no format spec (':...') or conversion ('!r')")
        pieces.append((literal, name))
    return tuple(pieces)


def placeholders(template: str) -> set[str]:
    """The placeholder names a template uses; :class:`TemplateError` when it is malformed."""
    return {name for _, name in _parse(template) if name is not None}


def render(template: str, values: Mapping[str, object]) -> str:
    """The template with each placeholder replaced by ``str(values[name])``.

    Raises :class:`TemplateError` when the template is malformed or ``values`` lacks one of
    its placeholders (a validated config never names one outside its catalogue).
    """
    out: list[str] = []
    for literal, name in _parse(template):
        out.append(literal)
        if name is not None:
            try:
                out.append(str(values[name]))
            except KeyError:
                raise TemplateError(f"template {template!r} needs a value for {{{name}}}") from None
    return "".join(out)
