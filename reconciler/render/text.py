"""The plan as terminal text, Terraform style: symbols, groups by school and course,
field-level ``before -> after`` for updates, and a closing summary sentence.

Colour is ANSI and only when asked for (the CLI asks on a terminal); without it the
output is plain text, byte-identical for the same document.
"""

from __future__ import annotations

from reconciler.plan.model import Action, PlanDocument
from reconciler.render.layout import (
    SchoolGroup,
    change_head,
    field_lines,
    group_changes,
    legend,
    safe,
    summary_sentence,
    verdict_headline,
)

_RESET = "\x1b[0m"
_BOLD = "1"
_COLOURS = {
    Action.CREATE: "32",
    Action.ADOPT: "36",
    Action.MOVE: "36",
    Action.UPDATE: "33",
    Action.UNSUSPEND: "32",
    Action.SUSPEND: "35",
    Action.DELETE: "31",
}


def render_text(doc: PlanDocument, *, color: bool = False, groups: list[SchoolGroup] | None = None) -> str:
    """The whole plan as text, ending with a newline; ``groups`` are
    ``group_changes(doc.changes)`` when the caller has them already."""

    def paint(text: str, sgr: str) -> str:
        return f"\x1b[{sgr}m{text}{_RESET}" if color else text

    lines = [
        f"ps2moodle plan (format {doc.format_version}) made by ps2moodle {safe(doc.tool_version)} "
        f"at {safe(doc.created_at)}, scope {safe(doc.scope)}",
        f"Config:   {safe(doc.config_digest)}",
        f"Checksum: {doc.sealed_checksum}",
    ]
    if doc.redacted:
        lines.append("Personal data is replaced by pseudonyms; plan.json holds the full plan.")
    if doc.changes:
        lines += ["", f"Legend: {legend(doc)}"]
    for school in groups if groups is not None else group_changes(doc.changes):
        lines += ["", paint(school.title, _BOLD)]
        for course in school.courses:
            indent = "  "
            if course.course:
                lines.append(indent + paint(course.title, _BOLD))
                indent = "    "
            in_course = bool(course.course)
            for change in course.changes:
                sgr = _COLOURS[change.action]
                lines.append(indent + paint(change_head(change, in_course=in_course), sgr))
                lines += [indent + "    " + paint(line, sgr) for line in field_lines(change)]
    if doc.notices:
        lines += ["", paint("Notices:", _BOLD)]
        for notice in doc.notices:
            about = f" ({safe(notice.key)})" if notice.key else ""
            lines.append(f"  {notice.level.value}: {safe(notice.message)}{about}")
    verdict = doc.verdict
    verdict_sgr = "1;31" if not verdict.ok else "1;33" if verdict.violations else "32"
    lines += ["", paint(verdict_headline(doc), verdict_sgr)]
    lines += [f"  - {safe(v)}" for v in verdict.violations]
    if verdict.override_reason:
        lines.append(f"  Override reason: {safe(verdict.override_reason)}")
    lines += ["", paint(summary_sentence(doc), _BOLD)]
    return "\n".join(lines) + "\n"
