"""The plan as terminal text, Terraform style.

First what a reviewer decides on: a summary table (per school and kind, per action, with
removals named by the brake that governs them), the brakes with their limits, and the
safety verdict. Then the changes, by school, course, kind and person, in bundles that
say their reason once; field-level ``before -> after`` for updates; and last the
notices and the closing summary sentence.

Colour is ANSI and only when asked for (the CLI asks on a terminal); without it the
output is plain text, byte-identical for the same document. :func:`clip` cuts a long
rendering to a terminal's worth, pointing at the file that holds the rest.
"""

from __future__ import annotations

from reconciler.plan.model import Action, PlanDocument
from reconciler.render.layout import (
    BrakeRow,
    SummaryRow,
    bundle_lines,
    legend,
    noun,
    pseudonym_note,
    safe,
    summary_columns,
    summary_sentence,
    verdict_headline,
)
from reconciler.render.view import Layout
from reconciler.words import count

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
#: Lines of a plan a terminal shows by default (``plan`` and ``show``); the rest is in plan.txt.
TERMINAL_LINES = 150


def render_text(doc: PlanDocument, *, color: bool = False, layout: Layout | None = None) -> str:
    """The whole plan as text, ending with a newline; ``layout`` is ``Layout(doc)`` when
    the caller has it already."""

    def paint(text: str, sgr: str) -> str:
        return f"\x1b[{sgr}m{text}{_RESET}" if color else text

    layout = layout or Layout(doc)
    lines = [
        f"ps2moodle plan (format {doc.format_version}) made by ps2moodle {safe(doc.tool_version)} "
        f"at {safe(doc.created_at)}, scope {safe(doc.scope)}",
        f"Config:   {safe(doc.config_digest)}",
        f"Checksum: {doc.sealed_checksum}",
    ]
    if doc.redacted:
        lines.append(f"Personal data is replaced by pseudonyms ({pseudonym_note(doc)}); plan.json holds the full plan.")
    if doc.changes:
        table = _summary_table(layout.summary)
        lines += ["", paint(table[0], _BOLD), *table[1:]]
    lines += _brakes(doc, layout.brakes)
    verdict = doc.verdict
    verdict_sgr = "1;31" if not verdict.ok else "1;33" if verdict.violations else "32"
    lines += ["", paint(verdict_headline(doc), verdict_sgr)]
    lines += [f"  - {safe(v)}" for v in verdict.violations]
    if verdict.override_reason:
        lines.append(f"  Override reason: {safe(verdict.override_reason)}")
    if doc.changes:
        lines += ["", f"Legend: {legend(doc)}"]
    for school in layout.schools:
        lines += ["", paint(school.title, _BOLD)]
        for course in school.courses:
            indent = "  "
            if course.course:
                lines.append(indent + paint(course.title, _BOLD))
                indent = "    "
            for bundle in layout.bundles(course):
                if color:
                    lines += [
                        indent + (line if change is None else paint(line, _COLOURS[change.action]))
                        for change, line in bundle_lines(bundle)
                    ]
                else:
                    lines += [line for _, line in bundle_lines(bundle, indent)]
    if doc.notices:
        warnings = sum(1 for n in doc.notices if n.level.value == "warning")
        title = f"Notices: {count(warnings, 'warning')}, {count(len(doc.notices) - warnings, 'info')}"
        lines += ["", paint(title, _BOLD)]
        for notice in doc.notices:
            about = f" ({safe(notice.key)})" if notice.key else ""
            lines.append(f"  {notice.level.value}: {safe(notice.message)}{about}")
    lines += ["", paint(summary_sentence(doc), _BOLD)]
    return "\n".join(lines) + "\n"


def _summary_table(rows: list[SummaryRow]) -> list[str]:
    """Per school and kind, the changes per effect, with a total row."""
    columns = summary_columns(rows)
    totals = {e: sum(r.counts[e] for r in rows) for e in columns}
    body: list[tuple[str, str, list[str]]] = []
    previous = ""
    for row in rows:
        body.append(("" if row.group == previous else row.group, noun(row.kind), [_n(row.counts[e]) for e in columns]))
        previous = row.group
    body.append(("Total", "", [_n(totals[e]) for e in columns]))
    group_width = max(len(safe(g)) for g, _, _ in body)
    kind_width = max(len(k) for _, k, _ in body)
    widths = [max(len(e), *(len(cells[i]) for _, _, cells in body)) for i, e in enumerate(columns)]
    label_width = group_width + 2 + kind_width

    def line(label: str, cells: list[str]) -> str:
        return (
            "  " + label.ljust(label_width) + "".join(f"  {c:>{w}}" for c, w in zip(cells, widths, strict=True))
        ).rstrip()

    header = line("", columns)
    out = ["Summary".ljust(2 + label_width) + header[2 + label_width :]]
    out += [line(safe(g).ljust(group_width) + "  " + k, cells) for g, k, cells in body]
    return out


def _n(n: int) -> str:
    return f"{n:,}" if n else ""


def _brakes(doc: PlanDocument, rows: list[BrakeRow]) -> list[str]:
    """Each brake, the changes counted against it per kind, and its limit."""
    if not rows:
        return []
    brakes = doc.brakes
    assert brakes is not None
    cells = [
        (
            row.brake,
            "(all kinds)" if row.kind is None else noun(row.kind),
            f"{row.planned:,}",
            row.limit_text(brakes.min_existing),
            "OVER THE LIMIT" if row.over else "within the limit" if row.planned else "",
        )
        for row in rows
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    lines = ["", "Brakes (limits from the config's safety policy):"]
    for brake, kind, planned, limit, status in cells:
        text = (
            f"  {brake:<{widths[0]}}  {kind:<{widths[1]}}  {planned:>{widths[2]}}  limit {limit:<{widths[3]}}  {status}"
        )
        lines.append(text.rstrip())
    return lines


def clip(text: str, limit: int, rest: str) -> str:
    """``text`` cut to its first ``limit`` lines, then a line saying how many more there are
    and where (``rest``), then its last line (the summary sentence); whole if it fits."""
    lines = text.splitlines()
    if len(lines) <= limit + 2:
        return text
    more = len(lines) - limit - 1
    return "\n".join([*lines[:limit], f"... {count(more, 'more line')} in {rest}", lines[-1]]) + "\n"
