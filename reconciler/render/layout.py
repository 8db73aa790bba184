"""What the human renderers share: grouping, change lines, the summary sentence (pure).

Everything here reads the plan *document* (:class:`PlanDocument`, as
:mod:`reconciler.plan.file` reads it), never live state, so a rendering shows exactly what
the file holds; a change shows what apply writes (its ``before`` and ``after``), and its
reason in words made here. Text that came from PowerSchool or Moodle passes through
:func:`safe` so that control and bidi characters cannot repaint a terminal or disguise a
line under review.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler import words
from reconciler.model import CohortMember, Enrolment, GroupMember, Key, Kind
from reconciler.plan.model import SYMBOLS, Action, Change, PlanDocument, Reason, school_of, unique_name, verb

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
_VALUE = json.JSONEncoder(ensure_ascii=False, sort_keys=True)
#: Membership kinds name the person and the object they belong to.
_PARENT = {Kind.ENROLMENT: "course", Kind.COHORT_MEMBER: "cohort", Kind.GROUP_MEMBER: "group"}


def safe(text: str) -> str:
    """``text`` with control and bidi-override characters escaped (``\\u001b``)."""
    return text.translate(_UNSAFE) if _UNSAFE_RE.search(text) else text


def value(v: Any) -> str:
    """A field value as a reviewer reads it: JSON (strings quoted, ``null``, lists)."""
    return safe(_VALUE.encode(v))


def label(change: Change) -> str:
    """A change's short human name (a username, a course shortname; a membership's key)."""
    return change.resource.label


def noun(kind: Kind) -> str:
    """``cohort_member`` -> ``cohort member``."""
    return kind.value.replace("_", " ")


@dataclass(frozen=True)
class CourseGroup:
    """The changes of one course: ``course`` is the id of the changes' course ('' for
    changes in none), ``name`` its shortname when the plan holds it."""

    course: str
    name: str = ""
    changes: list[Change] = field(default_factory=list)

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
                tally[change.action] += 1
        return [(a, n) for a, n in tally.items() if n]


def _natural(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that puts school 20 before school 100."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p)


def group_changes(changes: Sequence[Change]) -> list[SchoolGroup]:
    """Changes grouped by school, then course. District-wide first, then schools in
    natural order; within a group the plan's own order is kept. A course the plan itself
    changes is titled with its shortname."""
    # A district's first plan has half a million changes in a few thousand courses.
    buckets: dict[Key | None, list[Change]] = {}
    for change in changes:
        course = change.course
        bucket = buckets.get(course)
        if bucket is None:
            bucket = buckets[course] = []
        bucket.append(change)
    schools: dict[str, list[CourseGroup]] = {}
    for course, bucket in buckets.items():
        name = ""
        if course is not None:
            own = (label(c) for c in bucket if c.key == course)
            name = next(own, "") or bucket[0].course_name
        schools.setdefault(school_of(course), []).append(CourseGroup("" if course is None else course.id, name, bucket))
    return [
        SchoolGroup(school, sorted(courses, key=lambda g: (g.course != "", _natural(g.name or g.course))))
        for school, courses in sorted(schools.items(), key=lambda item: (item[0] != "", _natural(item[0])))
    ]


#: Per (action, kind) values: the line's opening words, the parent attribute of a
#: membership (None for objects) and its preposition.
_HEADS = {
    (action, kind): (
        f"{SYMBOLS[action]} {verb(action, kind)} " + ("" if kind in _PARENT else f"{noun(kind)} "),
        _PARENT.get(kind),
        {Action.CREATE: "in" if kind is Kind.ENROLMENT else "to", Action.DELETE: "from"}.get(action, "in"),
    )
    for action in Action
    for kind in Kind
}


def change_head(change: Change, *, in_course: bool) -> str:
    """The one-line description of a change, symbol first: ``+ create user jdoe  # reason``.

    Memberships name the person (their username, else their key) and what they join (the course is left out when
    the line already sits under that course's heading); enrolments show their roles.
    """
    action = change.action
    opening, parent, prep = _HEADS[action, change.key.kind]
    if parent is None:
        line = opening + label(change)
    else:
        obj = change.resource
        assert isinstance(obj, (Enrolment, CohortMember, GroupMember))
        user = change.member or obj.user.id
        line = opening + (user if action in (Action.CREATE, Action.DELETE) else f"{noun(change.key.kind)} of {user}")
        if not (in_course and parent == "course"):
            line += f" {prep} {parent} {getattr(obj, parent).id}"
        if isinstance(obj, Enrolment) and obj.roles:
            line += " as " + ", ".join(obj.roles)
    if change.reason is not None:
        line += f"  # {reason_text(change)}"
    return safe(line)


def _named(change: Change) -> str:
    return repr(unique_name(change.before if change.before is not None else change.resource))


#: A reason in words, from the change it explains.
_REASONS: dict[Reason, Callable[[Change], str]] = {
    Reason.MISSING: lambda c: "in PowerSchool, not in Moodle",
    Reason.BESIDE_UNOWNED: lambda c: (
        f"in PowerSchool; an unowned {c.key.kind.value} named {_named(c)} exists and is left alone"
    ),
    Reason.MIGRATION: lambda c: (
        f"reviewed section migration: {(c.before or c.resource).key.id} continues as {c.key.id}"
    ),
    Reason.ADOPT_RULE: lambda c: f"adopt rule {c.key.kind.value}:{c.rule} takes over the existing {_named(c)}",
    Reason.DIFFERS: lambda c: "differs from PowerSchool",
    Reason.RETURNED: lambda c: "back in PowerSchool",
    Reason.GONE: lambda c: "no longer in PowerSchool",
    Reason.INACTIVE: lambda c: "no longer active in PowerSchool",
    Reason.DROPPED: lambda c: "dropped in PowerSchool",
    Reason.NOT_IMPLIED: lambda c: "no longer implied by PowerSchool",
}


def reason_text(change: Change) -> str:
    """Why a change is planned, as a reviewer reads it ('' for none)."""
    return "" if change.reason is None else _REASONS[change.reason](change)


def field_lines(change: Change) -> list[str]:
    """``field: before -> after`` for each field apply writes (unindented)."""
    return [f"{safe(f.field)}: {value(f.before)} -> {value(f.after)}" for f in change.fields]


def action_totals(doc: PlanDocument) -> list[tuple[Action, int]]:
    """The summary's per-action totals, in action order."""
    by_action = doc.summary.by_action
    return [(a, by_action[a.value]) for a in Action if by_action.get(a.value)]


def summary_sentence(doc: PlanDocument) -> str:
    """``Plan: 120 to create, 4 to update, 2 to suspend.`` or the no-change sentence."""
    totals = action_totals(doc)
    if not totals:
        return "No changes. Moodle already matches PowerSchool and the config."
    return "Plan: " + ", ".join(f"{n:,} to {a.value}" for a, n in totals) + "."


def kind_rows(doc: PlanDocument) -> list[tuple[Kind, dict[Action, int]]]:
    """The summary's ``kind x action`` counts as rows in kind order, actions in action order."""
    by_kind = doc.summary.by_kind
    return [(k, {Action(a): n for a, n in by_kind[k.value].items()}) for k in Kind if by_kind.get(k.value)]


def verdict_headline(doc: PlanDocument) -> str:
    """One sentence on the safety gate's verdict (the override reason is shown apart)."""
    verdict = doc.verdict
    count = len(verdict.violations)
    found = words.count(count, "violation")
    if verdict.ok and not count:
        return "Safety check: passed."
    if verdict.ok:
        return f"Safety check: refused ({found}), overridden by a person."
    return f"Safety check: REFUSED ({found}). apply will not run this plan without an override."


def legend(doc: PlanDocument) -> str:
    """The symbols that occur in this plan, e.g. ``+ create  ~ update  ! suspend``."""
    return "  ".join(f"{SYMBOLS[a]} {a.value}" for a, _ in action_totals(doc))
