"""The plan as one self-contained HTML page (``plan.html``) for reviewers (pure).

The page needs no network: CSS and JavaScript are inline and nothing is fetched. It shows
the summary table, the brakes and the verdict as HTML, and the changes and people as
data the page's script lists a page at a time (:data:`PAGE_ROWS` rows), filtered by
school, kind and action and searched by person, course or text. Paging, not a virtual
list: a page is a plain table that prints and reads well, and filtering a district's
half a million rows is a loop over small integer arrays.

The data is compact: every string once in a table, each change a row of indices into it
(school, course, kind, action, reason, person, line, fields). The page is made from the
document it is given, so a redacted view (``--redact``) yields a page with pseudonyms
only. Data is embedded as JSON with ``<``, ``>`` and ``&`` escaped, so no text from
PowerSchool or Moodle can close the script element or inject markup.
"""

from __future__ import annotations

import html
from collections import defaultdict
from importlib import resources
from itertools import count

import orjson

from reconciler.model import Kind
from reconciler.plan.model import Action, Change, PlanDocument, Reason
from reconciler.render.layout import (
    BrakeRow,
    SummaryRow,
    effect,
    field_lines,
    noun,
    reason_text,
    safe,
    summary_columns,
    summary_sentence,
    verdict_headline,
)
from reconciler.render.view import Layout

#: Kinds whose changes are about one person.
_PERSONAL = frozenset({Kind.USER, Kind.ENROLMENT, Kind.COHORT_MEMBER, Kind.GROUP_MEMBER})
#: Rows the page lists at a time.
PAGE_ROWS = 200


def page_data(layout: Layout) -> dict[str, object]:
    """What the page's script lists: ``s`` the strings, ``c`` the changes as rows of
    ``[school, course, kind, action, reason, person, line, fields]`` (indices into ``s``,
    -1 for none) in review order, ``p`` the people as ``[title, [change rows]]``."""
    # The string table: each distinct string once, by its index. ``table[text]`` is its
    # index, the next free one for a new string (a subscript, no call in Python: a
    # district's first plan makes two million of them).
    table: defaultdict[str, int] = defaultdict(count().__next__)
    rows: list[tuple[int, ...]] = []  # tuples: JSON arrays alike, one allocation each
    listed: list[Change] = []  # the changes in row order
    # What many changes share is worked out once: (kind, action) -> kind and action
    # strings; a reason said alike for every change -> its string.
    kinds: dict[tuple[Kind, Action], tuple[int, int]] = {}
    reasons: dict[Reason | None, int] = {}

    def fields_of(change: Change) -> int:
        text = "\n".join(field_lines(change))
        return table[text] if text else -1

    for school in layout.schools:
        school_s = table[school.title]
        for course in school.courses:
            name = safe(course.name or course.course) if course.course else ""
            course_s = table[name]
            for bundle in layout.bundles(course):
                kind_action = kinds.get((bundle.kind, bundle.action))
                if kind_action is None:
                    kind_s = table[noun(bundle.kind)]
                    kind_action = kinds[bundle.kind, bundle.action] = (
                        kind_s,
                        table[effect(bundle.changes[0])],
                    )
                kind_s, action_s = kind_action
                personal = bundle.kind in _PERSONAL
                shared = -1  # the bundle's reason, when said alike for all its changes
                if bundle.shared_reason:
                    shared = reasons.get(bundle.reason, -1)
                    if shared < 0:
                        shared = reasons[bundle.reason] = table[safe(reason_text(bundle.changes[0]))]
                rows += [
                    (
                        school_s,
                        course_s,
                        kind_s,
                        action_s,
                        shared if shared >= 0 else table[safe(reason_text(change))],
                        table[user] if personal else -1,
                        table[head],
                        -1 if change.before is None or change.after is None else fields_of(change),
                    )
                    for change, user, head in zip(bundle.changes, bundle.people, bundle.heads, strict=True)
                ]
                listed += bundle.changes
    row_of = dict(zip(map(id, listed), range(len(listed)), strict=True))
    persons = [[table[p.title], list(map(row_of.__getitem__, map(id, p.changes)))] for p in layout.people]
    return {"s": list(table), "c": rows, "p": persons}


def page_json(data: dict[str, object]) -> bytes:
    """``data`` as the page embeds it, in UTF-8: compact JSON, non-ASCII as is, and ``&``,
    ``<`` and ``>`` escaped. orjson writes what ``json.dumps(data, ensure_ascii=False,
    separators=(",", ":"))`` does for any text a plan holds, 6x as fast (0.16 s against
    0.98 s for a district's first plan; a plan file cannot hold a lone surrogate, the one
    text orjson refuses)."""
    return orjson.dumps(data).replace(b"&", b"\\u0026").replace(b"<", b"\\u003c").replace(b">", b"\\u003e")


def render_html(doc: PlanDocument, *, layout: Layout | None = None) -> str:
    """The plan as a self-contained HTML page; ``layout`` is ``Layout(doc)`` when the
    caller has it already."""
    return html_page(doc, layout=layout).decode("utf-8")


def html_page(doc: PlanDocument, *, layout: Layout | None = None) -> bytes:
    """:func:`render_html` in UTF-8, as plan.html holds it: the page's data stays bytes
    from orjson to the file (decoding and encoding a district's 40 MB again cost ~0.4 s)."""
    layout = layout or Layout(doc)
    blob = page_json(page_data(layout))
    verdict = doc.verdict
    state = "refused" if not verdict.ok else "overridden" if verdict.violations else "passed"
    parts = [
        _HEAD.replace("__TITLE__", html.escape(f"ps2moodle plan {doc.sealed_checksum}")).replace(
            "__CSS__", _asset("plan.css")
        ),
        "<h1>ps2moodle plan</h1>\n",
        f'<p class="meta">made {_e(doc.created_at)} by ps2moodle {_e(doc.tool_version)}, scope {_e(doc.scope)} · '
        f"checksum <code>{_e(doc.sealed_checksum)}</code> · config <code>{_e(doc.config_digest)}</code></p>\n",
    ]
    if doc.redacted:
        parts.append(
            '<p class="redacted">Personal data is replaced by pseudonyms; plan.json holds the full plan.</p>\n'
        )
    parts.append(f'<div class="verdict {state}" id="verdict"><strong>{_e(verdict_headline(doc))}</strong>')
    parts += [f"<div>– {_e(v)}</div>" for v in verdict.violations]
    if verdict.override_reason:
        parts.append(f"<div>Override reason: {_e(verdict.override_reason)}</div>")
    parts.append(f'</div>\n<p class="sentence" id="sentence">{_e(summary_sentence(doc))}</p>\n')
    parts.append(_summary(layout.summary) + _brakes(doc, layout.brakes) + _notices(doc))
    parts.append(_CONTROLS)
    parts.append('<script type="application/json" id="plan-data">')
    script = _asset("plan.js").replace("__PAGE_ROWS__", str(PAGE_ROWS))
    tail = f"</script>\n<script>\n{script}</script>\n</body>\n</html>\n"
    return b"".join(("".join(parts).encode("utf-8"), blob, tail.encode("utf-8")))


def _asset(name: str) -> str:
    """The page's stylesheet or script, kept beside this module as plain files."""
    return resources.files("reconciler.render").joinpath("page", name).read_text(encoding="utf-8")


def _e(text: str) -> str:
    return html.escape(safe(text))


def _summary(rows: list[SummaryRow]) -> str:
    if not rows:
        return ""
    columns = summary_columns(rows)
    out = ['<h2>Summary</h2>\n<table class="summary"><thead><tr><th></th><th></th>']
    out += [f'<th class="n">{c}</th>' for c in columns]
    out.append("</tr></thead><tbody>\n")
    previous = ""
    for row in rows:
        group = "" if row.group == previous else _e(row.group)
        previous = row.group
        cells = "".join(f'<td class="n">{row.counts[c]:,}</td>' if row.counts[c] else "<td></td>" for c in columns)
        out.append(f"<tr><th>{group}</th><td>{noun(row.kind)}</td>{cells}</tr>\n")
    totals = "".join(f'<td class="n"><b>{sum(r.counts[c] for r in rows):,}</b></td>' for c in columns)
    out.append(f"<tr><th>Total</th><td></td>{totals}</tr>\n</tbody></table>\n")
    return "".join(out)


def _brakes(doc: PlanDocument, rows: list[BrakeRow]) -> str:
    if not rows or doc.brakes is None:
        return ""
    out = [
        '<h2>Brakes</h2>\n<p>Limits from the config\'s safety policy.</p>\n<table class="brakes"><thead><tr>'
        '<th>brake</th><th>kind</th><th class="n">planned</th><th>limit</th><th></th></tr></thead><tbody>\n'
    ]
    for row in rows:
        kind = "all kinds" if row.kind is None else noun(row.kind)
        status = '<span class="over">over the limit</span>' if row.over else "within" if row.planned else ""
        out.append(
            f'<tr><td>{row.brake}</td><td>{kind}</td><td class="n">{row.planned:,}</td>'
            f"<td>{_e(row.limit_text(doc.brakes.min_existing))}</td><td>{status}</td></tr>\n"
        )
    out.append("</tbody></table>\n")
    return "".join(out)


def _notices(doc: PlanDocument) -> str:
    if not doc.notices:
        return ""
    items = "".join(
        f'<li><span class="{n.level.value}">{n.level.value}</span> {_e(n.message)}'
        + (f" <code>{_e(n.key)}</code>" if n.key else "")
        + "</li>\n"
        for n in doc.notices
    )
    return f"<details><summary>Notices ({len(doc.notices):,})</summary><ul>\n{items}</ul></details>\n"


_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>__TITLE__</title>
<style>
__CSS__</style>
</head>
<body>
"""

_CONTROLS = """<h2>Changes</h2>
<div id="controls">
<select id="view" aria-label="view">
<option value="change">by change</option><option value="person">by person</option></select>
<select id="school" aria-label="school"><option value="">all schools</option></select>
<select id="kind" aria-label="kind"><option value="">all kinds</option></select>
<select id="action" aria-label="action"><option value="">all actions</option></select>
<input id="search" type="search" placeholder="search person, course or text" size="32" aria-label="search">
<span id="count"></span>
<span id="pager"><button id="prev" type="button">&lt; prev</button><span id="page"></span>
<button id="next" type="button">next &gt;</button></span>
</div>
<table id="list"><tbody id="rows"></tbody></table>
"""
