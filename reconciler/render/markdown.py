"""The plan as Markdown for a pull-request comment.

The safety verdict and the ``kind x action`` summary come first and always fit. Below
them, one collapsible ``<details>`` per school (district-wide objects first) lists its
changes in a ``diff`` block. GitHub refuses comments over 65,536 characters, so the
detail is cut to fit: every school gets a fair share of the space left, a school that
needs less gives the rest to the others, and a cut section ends with "N more changes,
see plan.json". Text that came from PowerSchool or Moodle only appears inside code spans
or code blocks, so it can neither format the comment nor mention anyone.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence

from reconciler.plan.model import SYMBOLS, NoticeLevel, PlanDocument
from reconciler.render.layout import (
    BrakeRow,
    SchoolGroup,
    SummaryRow,
    bundle_lines,
    noun,
    pseudonym_note,
    safe,
    summary_columns,
    summary_sentence,
    verdict_headline,
)
from reconciler.render.people import person_lines
from reconciler.render.view import Layout
from reconciler.words import count

#: GitHub's limit on a comment body, in characters.
COMMENT_LIMIT = 65_536
#: What a rendering may use by default: the limit less room for a CI bot's own wrapping.
DEFAULT_BUDGET = 60_000
#: Longest detail line; longer ones are cut with an ellipsis.
MAX_LINE = 300
#: Most space the violation list, and the notice list, may take.
LIST_BUDGET = 8_000
#: Most space the per-person section may take.
PEOPLE_BUDGET = 12_000
#: Space kept for one "N more changes" line.
_MORE_RESERVE = 80
_END = "\n</details>\n"


def render_markdown(doc: PlanDocument, *, budget: int = DEFAULT_BUDGET, layout: Layout | None = None) -> str:
    """The plan as a Markdown comment of at most ``budget`` characters (at least 30,000);
    ``layout`` is ``Layout(doc)`` when the caller has it already."""
    if budget < 30_000:
        raise ValueError("a Markdown plan needs a budget of at least 30,000 characters")
    layout = layout or Layout(doc)
    head = _head(doc, layout.summary, layout.brakes) + _notices(doc)
    foot = (
        "\n---\n"
        f"The complete plan is `plan.json` (checksum `{doc.sealed_checksum}`); "
        "`ps2moodle show plan.json` prints every change, `--by person` every change to each person.\n"
    )
    by_person = _people(layout)
    body = _schools(layout, budget - len(head) - len(foot) - len(by_person))
    return head + body + by_person + foot


def code(text: str) -> str:
    """``text`` as an inline code span: shown verbatim, never formatted or linked."""
    text = safe(text)
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _fit(items: Sequence[str], budget: int, more: Callable[[int], str]) -> str:
    """As many ``items`` as fit in ``budget`` characters, then ``more(left_out)`` if any."""
    out: list[str] = []
    used = 0
    for n, item in enumerate(items):
        if used + len(item) > budget - _MORE_RESERVE:
            return "".join(out) + more(len(items) - n)
        out.append(item)
        used += len(item)
    return "".join(out)


def _head(doc: PlanDocument, rows: list[SummaryRow], brakes: list[BrakeRow]) -> str:
    verdict = doc.verdict
    parts = [f"<!-- ps2moodle plan {doc.sealed_checksum} -->\n", "### ps2moodle plan\n\n"]
    headline = f"**{verdict_headline(doc)}**"
    if not verdict.violations:
        parts.append(f"✅ {headline}\n\n")
    else:
        parts.append("> [!CAUTION]\n" if not verdict.ok else "> [!WARNING]\n")
        parts.append(f"> {headline}\n")
        if verdict.override_reason:
            parts.append(f"> Override reason: {code(verdict.override_reason)}\n")
        parts.append(
            _fit(
                [f"> - {code(v)}\n" for v in verdict.violations],
                LIST_BUDGET,
                lambda n: f"> - … {count(n, 'more violation')}, see plan.json\n",
            )
        )
        parts.append("\n")
    parts.append(f"**{summary_sentence(doc)}**\n\n")
    if doc.changes:
        parts.append(_table(rows))
    parts.append(_brakes(doc, brakes))
    meta = [
        f"checksum {code(doc.sealed_checksum)}",
        f"config {code(doc.config_digest)}",
        f"scope {code(doc.scope)}",
        f"ps2moodle {code(doc.tool_version)}",
        f"made {code(doc.created_at)}",
    ]
    parts.append("<sub>" + " · ".join(meta) + "</sub>\n\n")
    if doc.redacted:
        parts.append(f"_Personal data is replaced by pseudonyms in this comment ({pseudonym_note(doc)})._\n\n")
    return "".join(parts)


def _table(rows: list[SummaryRow]) -> str:
    """Per school and kind, the changes per effect (removals by the brake that governs
    them), and the totals; too many rows for the space left get "N more rows"."""
    columns = summary_columns(rows)
    head = "| | | " + " | ".join(columns) + " |\n" + "|:--|:--|" + "--:|" * len(columns) + "\n"
    lines: list[str] = []
    previous = ""
    for row in rows:
        group = "" if row.group == previous else f"**{html.escape(row.group)}**"
        previous = row.group
        cells = [f"{row.counts[e]:,}" if row.counts[e] else "" for e in columns]
        lines.append(f"| {group} | {noun(row.kind)} | " + " | ".join(cells) + " |\n")
    total = "| **total** | | " + " | ".join(f"**{sum(r.counts[e] for r in rows):,}**" for e in columns) + " |\n"
    body = _fit(lines, LIST_BUDGET, lambda n: f"| … {count(n, 'more row')} | |" + " |" * len(columns) + "\n")
    return head + body + total + "\n"


def _brakes(doc: PlanDocument, rows: list[BrakeRow]) -> str:
    """Each brake with the changes counted against it and its limit from the config."""
    if not rows:
        return ""
    brakes = doc.brakes
    assert brakes is not None
    out = ["| brake | kind | planned | limit | |\n|:--|:--|--:|:--|:--|\n"]
    for row in rows:
        kind = "all kinds" if row.kind is None else noun(row.kind)
        status = "**over the limit**" if row.over else "within" if row.planned else ""
        out.append(f"| {row.brake} | {kind} | {row.planned:,} | {row.limit_text(brakes.min_existing)} | {status} |\n")
    return "".join(out) + "\n"


def _notices(doc: PlanDocument) -> str:
    notices = doc.notices
    if not notices:
        return ""
    warnings = sum(1 for n in notices if n.level is NoticeLevel.WARNING)
    title = f"Notices: {count(warnings, 'warning')}, {count(len(notices) - warnings, 'info')}"
    items = [
        f"- **{n.level.value}** {code(n.message)}" + (f" ({code(n.key)})" if n.key else "") + "\n" for n in notices
    ]
    listing = _fit(items, LIST_BUDGET, lambda n: f"- … {count(n, 'more notice')}, see plan.json\n")
    return f"<details><summary>{title}</summary>\n\n{listing}\n</details>\n\n"


def _blocks(school: SchoolGroup, cap: int, layout: Layout) -> list[str]:
    """A school's detail, one block of lines per change (the first change of a course
    carries the course heading, the first of a bundle the bundle's), until ``cap``
    characters are exceeded."""
    out: list[str] = []
    size = 0
    for course in school.courses:
        pending = [f"@@ {course.title} @@"] if course.course else []
        for bundle in layout.bundles(course):
            lines = bundle_lines(bundle)
            for n, (change, line) in enumerate(lines):
                if change is None:
                    pending.append(line)
                    continue
                if n + 1 < len(lines) and lines[n + 1][0] is change:
                    pending.append(line)  # its field lines follow: one block
                    continue
                text = "".join(_cut(text) + "\n" for text in [*pending, line])
                pending = []
                out.append(text)
                size += len(text)
                if size > cap:
                    return out
    return out


def _cut(line: str) -> str:
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


def _frame(school: SchoolGroup, blocks: Sequence[str]) -> tuple[str, str]:
    """The ``<details>`` opening (with a diff fence longer than any backtick run in the
    blocks) and the fence's closing line."""
    longest = max((len(run) for text in blocks for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    counts = " · ".join(f"{SYMBOLS[a]} {n:,}" for a, n in school.action_counts())
    total = school.count
    summary = f"<b>{html.escape(school.title)}</b>: {count(total, 'change')} ({html.escape(counts)})"
    return f"<details><summary>{summary}</summary>\n\n{fence}diff\n", f"{fence}\n"


def _schools(layout: Layout, budget: int) -> str:
    schools = layout.schools
    if not schools:
        return ""
    candidates = [_blocks(s, budget, layout) for s in schools]
    frames = [_frame(s, b) for s, b in zip(schools, candidates, strict=True)]
    framing = sum(len(opening) + len(closing) + len(_END) + _MORE_RESERVE for opening, closing in frames)
    if framing > budget:
        return _school_table(schools, budget)
    shares = _share([sum(map(len, b)) for b in candidates], budget - framing)
    out: list[str] = []
    for school, blocks, (opening, closing), share in zip(schools, candidates, frames, shares, strict=True):
        shown: list[str] = []
        used = 0
        for text in blocks:
            if used + len(text) > share:
                break
            shown.append(text)
            used += len(text)
        more = school.count - len(shown)
        tail = f"\n_… {count(more, 'more change')}, see plan.json_\n" if more else ""
        out.append(opening + "".join(shown) + closing + tail + _END)
    return "".join(out)


def _share(sizes: list[int], space: int) -> list[int]:
    """Split ``space`` fairly: each gets what it needs up to an equal share of what is left."""
    shares = [0] * len(sizes)
    left = space
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    for done, i in enumerate(order):
        shares[i] = min(sizes[i], left // (len(sizes) - done))
        left -= shares[i]
    return shares


def _school_table(schools: list[SchoolGroup], budget: int) -> str:
    """Too many schools for per-school detail: one row each."""
    rows = [f"| {html.escape(s.title)} | {s.count:,} |\n" for s in schools]
    table = _fit(rows, budget - 60, lambda n: f"| … {count(n, 'more school')} | |\n")
    return "| group | changes |\n|:--|--:|\n" + table + "\n"


def _people(layout: Layout) -> str:
    """Every change to each person, as many people as :data:`PEOPLE_BUDGET` holds (their
    lines are made only for those shown)."""
    found = layout.people
    if not found:
        return ""
    titles, courses = layout.titles, layout.courses
    blocks: list[str] = []
    used = 0
    for p in found:
        block = "".join(_cut(line) + "\n" for line in [f"@@ {p.title} @@", *person_lines(p, titles, courses)])
        if used + len(block) > PEOPLE_BUDGET - _MORE_RESERVE:
            more = count(len(found) - len(blocks), "more person")
            blocks.append(f"# … {more}: ps2moodle show plan.json --by person\n")
            break
        blocks.append(block)
        used += len(block)
    longest = max((len(run) for text in blocks for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    summary = f"<b>By person</b>: {count(len(found), 'person')}"
    return f"<details><summary>{summary}</summary>\n\n{fence}diff\n{''.join(blocks)}{fence}\n{_END}"
