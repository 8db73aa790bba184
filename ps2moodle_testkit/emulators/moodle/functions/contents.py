"""``core_course_get_contents``: a course's sections (the emulated courses hold no activities).

The recorded site does not put this function in the token's service, so calls are
refused with an access exception until a test adds it (``site.add_function``).
"""

from __future__ import annotations

from typing import Any

from ps2moodle_testkit.emulators.moodle.errors import invalid_parameter, missing_record
from ps2moodle_testkit.emulators.moodle.formatting import format_string, format_text
from ps2moodle_testkit.emulators.moodle.params import Multiple, Need, Param, Single, Value, default
from ps2moodle_testkit.emulators.moodle.registry import Call, external, output_items

_PARAMS = Single(
    {
        "courseid": Value(Param.INT),
        "options": default(Multiple(Single({"name": Value(Param.ALPHANUMEXT), "value": Value(Param.RAW)})), []),
    }
)
_RETURNS = Multiple(
    Single(
        {
            "id": Value(Param.INT),
            "name": Value(Param.RAW),
            "visible": Value(Param.INT, Need.OPTIONAL),
            "summary": Value(Param.RAW),
            "summaryformat": Value(Param.INT),
            "section": Value(Param.INT, Need.OPTIONAL),
            "hiddenbynumsections": Value(Param.INT, Need.OPTIONAL),
            "uservisible": Value(Param.BOOL, Need.OPTIONAL),
            "modules": Multiple(Single({"id": Value(Param.INT), "name": Value(Param.RAW)})),
        }
    )
)


@external("core_course_get_contents", _PARAMS, _RETURNS, items=output_items)
def get_contents(call: Call, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The course's sections in order, each with its (empty) list of modules."""
    site = call.site
    courseid = params["courseid"]
    course = site.courses.get(courseid)
    if course is None:
        raise missing_record("course", "SELECT * FROM {course} WHERE id = ?", [courseid])
    if site.course_context(courseid) is None:
        raise invalid_parameter("Context does not exist")
    sections = sorted(site.sections.find("course", courseid), key=lambda s: s.section)
    return [
        {
            "id": section.id,
            "name": format_string(section.name or _default_name(section.section), call.raw),
            "visible": section.visible,
            "summary": format_text(call, section.summary, section.summaryformat),
            "summaryformat": section.summaryformat,
            "section": section.section,
            "hiddenbynumsections": 0,
            "uservisible": True,
            "modules": [],
        }
        for section in sections
    ]


def _default_name(number: int) -> str:
    """The topics format's default section names."""
    return "General" if number == 0 else f"Section {number}"
