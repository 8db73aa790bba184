"""The per-person view of a plan: every change to one person in one place (pure).

A reviewer asking "why does Maria lose Algebra?" looks her up once: her account (created,
suspended, updated), the courses she gains or loses and with which role, her groups and
her cohorts, each with its reason. People are sorted by name (username, else key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter

from reconciler.model import CohortMember, Enrolment, GroupMember, Key, Kind, User
from reconciler.plan.model import SYMBOLS, Action, Change, PlanDocument, verb
from reconciler.render.layout import (
    SchoolGroup,
    Titles,
    field_lines,
    group_changes,
    label,
    name_order,
    reason_text,
    safe,
)
from reconciler.words import count


@dataclass
class Person:
    """One person's changes: ``key`` their account's key, ``label`` their username (their
    key when the plan holds no username), ``name`` their full name when the plan holds
    their account."""

    key: str
    label: str
    name: str = ""
    changes: list[Change] = field(default_factory=list)

    def matches(self, wanted: str) -> bool:
        """Whether ``wanted`` is this person's key or username."""
        return wanted in (self.key, self.label)

    @property
    def title(self) -> str:
        who = f"{self.label} ({self.name})" if self.name else self.label
        return safe(who if self.label == self.key else f"{who}  {self.key}")


#: How a person's other changes follow their account: by kind, course and key (an
#: attrgetter: half a million keys are made in a district's first plan).
_BY_KIND = attrgetter("key.kind", "course_name", "key.id")


def people(changes: Sequence[Change]) -> list[Person]:
    """The people ``changes`` touch, sorted by name; each with their changes, account first."""
    found: dict[str, Person] = {}
    accounts: dict[str, list[Change]] = {}
    for change in changes:
        obj = change.after if change.after is not None else change.before
        if isinstance(obj, (Enrolment, CohortMember, GroupMember)):
            user = obj.user.id
        elif isinstance(obj, User) and change.key.kind is Kind.USER:
            user = obj.key.id
        else:
            continue
        person = found.get(user)
        if person is None:
            person = found[user] = Person(user, user)
        if isinstance(obj, User):
            accounts.setdefault(user, []).append(change)
            person.label, person.name = obj.username, f"{obj.firstname} {obj.lastname}".strip()
        else:
            person.changes.append(change)
            if change.member and person.label == person.key:
                person.label = change.member
    for person in found.values():
        if len(person.changes) > 1:
            person.changes.sort(key=_BY_KIND)
        account = accounts.get(person.key)
        if account is not None:
            person.changes[:0] = sorted(account, key=_BY_KIND)
    return sorted(found.values(), key=lambda p: (name_order(p.label), p.key))


def course_names(groups: Sequence[SchoolGroup]) -> dict[Key, str]:
    """The shortname of every course the plan changes or names (``groups``: the plan's
    changes as :func:`group_changes` groups them): the course's own change names it, else
    the first of its changes that records it."""
    names: dict[Key, str] = {}
    for school in groups:
        for group in school.courses:
            if not group.course:
                continue
            course = Key(Kind.COURSE, group.course)
            for change in group.changes:
                if change.key == course:
                    names[course] = label(change)
                    break
                if change.course_name:
                    names[course] = change.course_name
                    break
    return names


def person_lines(person: Person, titles: Titles, courses: dict[Key, str]) -> list[str]:
    """``person``'s changes, one line each (fields of updates indented beneath)."""
    out: list[str] = []
    for change in person.changes:
        out.append(_line(change, titles, courses))
        out += ["    " + line for line in field_lines(change)]
    return out


def _line(change: Change, titles: Titles, courses: dict[Key, str]) -> str:
    action, kind, obj = change.action, change.key.kind, change.resource
    head = f"{SYMBOLS[action]} {verb(action, kind)}"
    if isinstance(obj, User):
        line = f"{head} account"
    elif isinstance(obj, Enrolment):
        course = courses.get(obj.course) or obj.course.id
        if action is Action.CREATE:
            line = f"{head} in course {course}"
        elif action is Action.DELETE:
            line = f"{head} from course {course}"
        else:
            line = f"{head} enrolment in course {course}"
        if obj.roles:
            line += " as " + ", ".join(obj.roles)
    elif isinstance(obj, CohortMember):
        line = f"{head} {'from' if action is Action.DELETE else 'to'} cohort {titles(obj.cohort)}"
    else:
        assert isinstance(obj, GroupMember)
        where = change.course
        course = "" if where is None else f" in course {courses.get(where) or where.id}"
        line = f"{head} {'from' if action is Action.DELETE else 'to'} group {titles(obj.group)}{course}"
    why = reason_text(change)
    return safe(f"{line}  # {why}" if why else line)


def select(found: list[Person], wanted: str | None) -> list[Person]:
    """``found`` filtered to the person whose key or username is ``wanted`` (all when None)."""
    return found if wanted is None else [p for p in found if p.matches(wanted)]


def render_people_text(doc: PlanDocument, *, person: str | None = None) -> str:
    """The per-person view as text; ``person`` (a key or username) keeps one."""
    titles, courses = Titles(doc), course_names(group_changes(doc.changes))
    chosen = select(people(doc.changes), person)
    lines = [f"ps2moodle plan {doc.sealed_checksum}, by person"]
    if doc.redacted:
        lines.append("Personal data is replaced by pseudonyms; plan.json holds the full plan.")
    if person is not None and not chosen:
        lines += ["", f"No change in this plan is about {safe(person)} (looked for a key or username)."]
    for p in chosen:
        lines += ["", f"{p.title}: {count(len(p.changes), 'change')}"]
        lines += ["  " + line for line in person_lines(p, titles, courses)]
    if person is None:
        lines += ["", f"{count(len(chosen), 'person')} with changes."]
    return "\n".join(lines) + "\n"
