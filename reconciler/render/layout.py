"""What the human renderers share: grouping, change lines, the summary sentence (pure).

Everything here reads the plan *document* (see :mod:`reconciler.planfile`), never a Plan
object or live state, so a rendering shows exactly what the file holds. Text that came
from PowerSchool or Moodle passes through :func:`safe` so that control and bidi
characters cannot repaint a terminal or disguise a line under review.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.model import Kind
from reconciler.plan.model import SYMBOLS, Action, verb
from reconciler.safety import brake_of

Doc = Mapping[str, Any]
ChangeDict = Mapping[str, Any]

#: C0/C1 controls and the bidi marks, overrides and isolates ("Trojan Source"), shown escaped.
_UNSAFE_CHARS = (
    *range(0x00, 0x20),
    *range(0x7F, 0xA0),
    0x061C,
    0x200E,
    0x200F,
    0x2028,  # line and paragraph separators: editors may break the line there
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
)
_UNSAFE = {c: f"\\u{c:04x}" for c in _UNSAFE_CHARS}
_UNSAFE_RE = re.compile("[" + "".join(re.escape(chr(c)) for c in _UNSAFE_CHARS) + "]")
#: Actions by their values (plain dict lookups: renderers run once per change).
ACTIONS = {a.value: a for a in Action}
_VALUE = json.JSONEncoder(ensure_ascii=False, sort_keys=True)
#: Membership kinds name the person and the object they belong to.
_PARENT = {Kind.ENROLMENT: "course", Kind.COHORT_MEMBER: "cohort", Kind.GROUP_MEMBER: "group"}


def safe(text: str) -> str:
    """``text`` with control and bidi-override characters escaped (``\\u001b``)."""
    return text.translate(_UNSAFE) if _UNSAFE_RE.search(text) else text


def value(v: Any) -> str:
    """A field value as a reviewer reads it: JSON (strings quoted, ``null``, lists)."""
    return safe(_VALUE.encode(v))


def label(change: ChangeDict) -> str:
    """A change's short human name; plan files leave it out where it is the key."""
    name: str = change.get("label", change["key"])
    return name


def noun(kind: Kind) -> str:
    """``cohort_member`` -> ``cohort member``."""
    return kind.value.replace("_", " ")


@dataclass(frozen=True)
class CourseGroup:
    """The changes of one course: ``course`` is the course key from the change context
    ('' for changes that name no course), ``name`` its shortname when the plan holds it."""

    course: str
    name: str = ""
    changes: list[ChangeDict] = field(default_factory=list)

    @property
    def title(self) -> str:
        return safe(f"course {self.name} ({self.course})" if self.name else f"course {self.course}")


@dataclass(frozen=True)
class SchoolGroup:
    """The changes of one school (``school`` is '' for district-wide objects such as
    accounts, categories and cohorts), course-less ones first."""

    school: str
    courses: list[CourseGroup] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"School {safe(self.school)}" if self.school else "District-wide"

    @property
    def count(self) -> int:
        return sum(len(c.changes) for c in self.courses)

    def action_counts(self) -> list[tuple[Action, int]]:
        """How many changes of each action, in action order."""
        tally = dict.fromkeys(Action, 0)
        for course in self.courses:
            for change in course.changes:
                tally[ACTIONS[change["action"]]] += 1
        return [(a, n) for a, n in tally.items() if n]


def _natural(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that puts school 20 before school 100."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p)


def group_changes(changes: Sequence[ChangeDict]) -> list[SchoolGroup]:
    """Changes grouped by school, then course, from their context. District-wide first,
    then schools in natural order; within a group the plan's own order is kept. A course
    the plan itself changes is titled with its shortname."""
    # One dict lookup per change: half a million of them in a district's first plan.
    buckets: dict[tuple[str, str], list[ChangeDict]] = {}
    for change in changes:
        context = change["context"]
        where = (context.get("school", ""), context.get("course", ""))
        bucket = buckets.get(where)
        if bucket is None:
            bucket = buckets[where] = []
        bucket.append(change)
    schools: dict[str, list[CourseGroup]] = {}
    for (school, course), bucket in buckets.items():
        name = ""
        if course:
            own = (label(c) for c in bucket if c["kind"] == _COURSE and c["key"] == course)
            name = next(own, "") or bucket[0]["context"].get("course_name", "")
        schools.setdefault(school, []).append(CourseGroup(course, name, bucket))
    return [
        SchoolGroup(school, sorted(courses, key=lambda g: (g.course != "", _natural(g.name or g.course))))
        for school, courses in sorted(schools.items(), key=lambda item: (item[0] != "", _natural(item[0])))
    ]


#: Per (action, kind) values: the action, the kind, the line's opening words, the parent
#: attribute of a membership (None for objects) and its preposition.
_HEADS = {
    (action.value, kind.value): (
        action,
        kind,
        f"{SYMBOLS[action]} {verb(action, kind)} " + ("" if kind in _PARENT else f"{noun(kind)} "),
        _PARENT.get(kind),
        {Action.CREATE: "in" if kind is Kind.ENROLMENT else "to", Action.DELETE: "from"}.get(action, "in"),
    )
    for action in Action
    for kind in Kind
}
_COURSE = Kind.COURSE.value


def change_head(change: ChangeDict, *, in_course: bool) -> str:
    """The one-line description of a change, symbol first: ``+ create user jdoe  # reason``.

    Memberships name the person (their username, else their key) and what they join (the course is left out when
    the line already sits under that course's heading); enrolments show their roles.
    """
    action, kind, opening, parent, prep = _HEADS[change["action"], change["kind"]]
    if parent is None:
        line = opening + label(change)
    else:
        obj = change["after"] if change["after"] is not None else change["before"]
        user = change["context"].get("member") or obj["user"]
        line = opening + (user if action in (Action.CREATE, Action.DELETE) else f"{noun(kind)} of {user}")
        if not (in_course and parent == "course"):
            line += f" {prep} {parent} {obj[parent]}"
        if obj.get("roles"):
            line += " as " + ", ".join(obj["roles"])
    if change["reason"]:
        line += f"  # {change['reason']}"
    return safe(line)


def field_lines(change: ChangeDict) -> list[str]:
    """``field: before -> after`` for each changed field (unindented)."""
    return [f"{safe(f['field'])}: {value(f['before'])} -> {value(f['after'])}" for f in change["fields"]]


def action_totals(doc: Doc) -> list[tuple[Action, int]]:
    """The summary's per-action totals, in action order."""
    by_action: Mapping[str, int] = doc["summary"]["by_action"]
    return [(a, by_action[a.value]) for a in Action if by_action.get(a.value)]


#: The summary's words in order: the actions, deletions split by the brake that governs them.
_WORDS = tuple(w for a in Action for w in (("unenrol", "remove", "delete") if a is Action.DELETE else (a.value,)))


def word_totals(doc: Doc) -> list[tuple[Action, str, int]]:
    """The summary's totals in the words of the brakes that govern them: deletions split
    into ``unenrol`` (enrolments), ``remove`` (memberships) and ``delete`` (objects)."""
    tally: dict[str, tuple[Action, int]] = {}
    by_kind: Mapping[str, Mapping[str, int]] = doc["summary"]["by_kind"]
    for kind, actions in by_kind.items():
        for name, n in actions.items():
            action = ACTIONS[name]
            word = brake_of(action, Kind(kind)) or name
            tally[word] = (action, tally.get(word, (action, 0))[1] + n)
    return [(tally[w][0], w, tally[w][1]) for w in _WORDS if w in tally]


def summary_sentence(doc: Doc) -> str:
    """``Plan: 120 to create, 4 to update, 2 to suspend, 3 to remove.`` or the no-change sentence."""
    totals = word_totals(doc)
    if not totals:
        return "No changes. Moodle already matches PowerSchool and the config."
    return "Plan: " + ", ".join(f"{n:,} to {word}" for _, word, n in totals) + "."


def kind_rows(doc: Doc) -> list[tuple[Kind, dict[Action, int]]]:
    """The summary's ``kind x action`` counts as rows in kind order, actions in action order."""
    by_kind: Mapping[str, Mapping[str, int]] = doc["summary"]["by_kind"]
    return [(k, {Action(a): n for a, n in by_kind[k.value].items()}) for k in Kind if by_kind.get(k.value)]


def verdict_headline(doc: Doc) -> str:
    """One sentence on the safety gate's verdict (the override reason is shown apart)."""
    verdict = doc["verdict"]
    count = len(verdict["violations"])
    found = f"{count} violation{'s' if count != 1 else ''}"
    if verdict["ok"] and not count:
        return "Safety check: passed."
    if verdict["ok"]:
        return f"Safety check: refused ({found}), overridden by a person."
    return f"Safety check: REFUSED ({found}). apply will not run this plan without an override."


def legend(doc: Doc) -> str:
    """The symbols that occur in this plan, e.g. ``+ create  ~ update  ! suspend``."""
    return "  ".join(f"{SYMBOLS[a]} {word}" for a, word, _ in word_totals(doc))


def pseudonym_note(doc: Doc) -> str:
    """How far a redacted view's pseudonyms hold: across plans (a redaction key) or this plan only."""
    if doc.get("pseudonyms") == "stable":
        return "the same in every plan"
    return "valid in this plan only: set PS2MOODLE_REDACT_KEY to keep them across plans"
