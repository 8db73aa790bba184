"""A plan is data: ordered changes with reasons, notices, and the document that carries them.

Renderers and the apply step read only this. A change's ``reason`` is a :class:`Reason`
(the words are render's); apply never branches on it. What a change shows a reviewer is
drawn from what apply writes: its ``before`` and ``after`` (:func:`field_changes`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any

from reconciler import keys
from reconciler.model import (
    KIND_ORDER,
    Category,
    Cohort,
    CohortMember,
    Course,
    Enrolment,
    Group,
    GroupMember,
    Key,
    Kind,
    Resource,
    State,
    User,
)
from reconciler.words import agree


class Action(str, Enum):
    """What a change does. The value doubles as the display verb."""

    CREATE = "create"
    ADOPT = "adopt"  # take over an unowned object through a reviewed adopt rule
    MOVE = "move"  # re-key an owned object (reviewed section migration)
    UPDATE = "update"
    UNSUSPEND = "unsuspend"
    SUSPEND = "suspend"
    DELETE = "delete"


class Reason(str, Enum):
    """Why the diff planned a change (Terraform's ActionReason); render words it."""

    MISSING = "missing"  # in PowerSchool, not in Moodle
    BESIDE_UNOWNED = "beside_unowned"  # created although an unowned object of that name exists
    MIGRATION = "migration"  # a reviewed section migration moves the course
    ADOPT_RULE = "adopt_rule"  # an adopt rule takes the unowned object over
    DIFFERS = "differs"  # differs from PowerSchool
    RETURNED = "returned"  # back in PowerSchool
    GONE = "gone"  # account no longer in PowerSchool (deleted)
    INACTIVE = "inactive"  # account no longer active in PowerSchool (suspended)
    DROPPED = "dropped"  # enrolment dropped in PowerSchool
    NOT_IMPLIED = "not_implied"  # membership no longer implied by PowerSchool


class NoticeLevel(str, Enum):
    """How much a notice matters to a reviewer."""

    INFO = "info"
    WARNING = "warning"


#: Display symbols, Terraform style.
SYMBOLS: dict[Action, str] = {
    Action.CREATE: "+",
    Action.ADOPT: "&",
    Action.MOVE: ">",
    Action.UPDATE: "~",
    Action.UNSUSPEND: "^",
    Action.SUSPEND: "!",
    Action.DELETE: "-",
}

_REMOVING = (Action.SUSPEND, Action.DELETE)
_KIND_POSITION = {kind: position for position, kind in enumerate(KIND_ORDER)}


def verb(action: Action, kind: Kind) -> str:
    """The word a person reads: enrolments are enrolled and unenrolled, memberships added."""
    if kind is Kind.ENROLMENT:
        return {Action.CREATE: "enrol", Action.DELETE: "unenrol"}.get(action, action.value)
    if kind in (Kind.COHORT_MEMBER, Kind.GROUP_MEMBER):
        return {Action.CREATE: "add", Action.DELETE: "remove"}.get(action, action.value)
    return action.value


def unique_name(resource: Resource) -> str:
    """The name Moodle holds once per site (a username, a course shortname) or, for
    categories and cohorts, the name an unowned twin is found by."""
    if isinstance(resource, User):
        return resource.username
    if isinstance(resource, Course):
        return resource.shortname
    if isinstance(resource, (Category, Cohort)):
        return resource.name
    return resource.key.id


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One attribute's before and after value."""

    field: str
    before: Any
    after: Any


def field_changes(before: Resource | None, after: Resource | None) -> tuple[FieldChange, ...]:
    """What apply writes to an existing object, field by field: a new idnumber (move, adopt)
    and every managed attribute whose value differs (profile and custom fields per entry,
    of those ``after`` sets). Creates and deletes have none."""
    if before is None or after is None:
        return ()
    out: list[FieldChange] = []
    if before.key != after.key:
        out.append(FieldChange("idnumber", before.key.id, after.key.id))
    have, want = before.managed(), after.managed()
    for name in sorted(want):
        old, new = have.get(name), want[name]
        if old == new:
            continue
        if isinstance(new, dict):
            held = old if isinstance(old, dict) else {}
            out += [
                FieldChange(f"{name}.{k}", held.get(k, ""), v) for k, v in sorted(new.items()) if held.get(k, "") != v
            ]
        else:
            out.append(FieldChange(name, old, new))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Change:
    """One planned change to one object.

    ``before`` is the live object (None for creates), ``after`` the object as it will be
    (None for deletes). Decisions read these, ``reason`` and ``rule`` (the match of the
    adopt rule behind an adoption), and ``group_course``: the course of a group
    membership's group, which the membership itself does not carry. ``course_name`` (the
    shortname of the change's course) and ``member`` (a membership's username) are for
    display only: nothing decides from them.
    """

    action: Action
    key: Key
    before: Resource | None
    after: Resource | None
    reason: Reason | None = None
    rule: str = ""
    group_course: Key | None = None
    course_name: str = ""
    member: str = ""

    @property
    def resource(self) -> Resource:
        """The object as it will be, or as it was for deletes."""
        res = self.after if self.after is not None else self.before
        assert res is not None
        return res

    @property
    def fields(self) -> tuple[FieldChange, ...]:
        """What differs between ``before`` and ``after`` (see :func:`field_changes`)."""
        return field_changes(self.before, self.after)

    @property
    def course(self) -> Key | None:
        """The course the changed object is or lives in (None for accounts, categories,
        cohorts and their memberships)."""
        res = self.after if self.after is not None else self.before  # self.resource, inlined: asked per change
        if isinstance(res, (Enrolment, Group)):
            return res.course
        if isinstance(res, Course):
            return res.key
        return self.group_course

    @property
    def is_removal(self) -> bool:
        return self.action in _REMOVING

    def sort_key(self) -> tuple[int, int, Key]:
        """Phase order: creates and updates in dependency order, removals in reverse."""
        kind_pos = _KIND_POSITION[self.key.kind]
        if self.action is Action.DELETE:
            return (2, -kind_pos, self.key)
        if self.action is Action.SUSPEND:
            return (1, kind_pos, self.key)
        return (0, kind_pos, self.key)


def school_of(course: Key | None) -> str:
    """The school number of a change's course ('' for none)."""
    return "" if course is None else keys.school_of(course)


def parent_names(changes: Iterable[Change], *states: State) -> dict[str, str]:
    """``{key: name}`` of the cohorts and groups that membership ``changes`` belong to, as
    the first of ``states`` that holds each one names it (for display only)."""
    parents = {
        obj.cohort if isinstance(obj, CohortMember) else obj.group
        for obj in (c.resource for c in changes)
        if isinstance(obj, (CohortMember, GroupMember))
    }
    names: dict[str, str] = {}
    for key in parents:
        found = (s.get(key) for s in states)
        named = next((obj for obj in found if isinstance(obj, (Cohort, Group))), None)
        if named is not None:
            names[key.id] = named.name
    return names


@dataclass(frozen=True, slots=True)
class Notice:
    """Something a reviewer should know that is not a change: an object left alone and why,
    a person skipped, a migration waiting for review."""

    level: NoticeLevel
    message: str
    key: str = ""


#: How many examples a grouped notice names before "and N more".
NOTICE_EXAMPLES = 5


def grouped_notice(level: NoticeLevel, what: str, items: list[str]) -> Notice:
    """One notice for many objects sharing a reason, so a plan stays short at scale:
    ``"54 students have no login: a, b, c, d, e and 49 more"``. ``what`` is written for
    any number (:func:`reconciler.words.agree`: ``"[student has|students have] no login"``);
    ``items`` are keys or labels that carry no personal data."""
    names = sorted(items)
    shown = ", ".join(names[:NOTICE_EXAMPLES])
    more = f" and {len(names) - NOTICE_EXAMPLES} more" if len(names) > NOTICE_EXAMPLES else ""
    return Notice(level, f"{len(names)} {agree(len(names), what)}: {shown}{more}", names[0] if len(names) == 1 else "")


@dataclass(frozen=True)
class Plan:
    """Ordered changes plus notices, and how many objects of each kind the tool owned."""

    changes: tuple[Change, ...] = ()
    notices: tuple[Notice, ...] = ()
    owned_counts: dict[str, int] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not self.changes

    @cached_property
    def _tally(self) -> Counter[tuple[Kind, Action]]:
        # One pass over the changes for every count (half a million in a district's first plan).
        return Counter((c.key.kind, c.action) for c in self.changes)

    def counts(self) -> dict[str, dict[str, int]]:
        """``{kind: {action: n}}`` for every kind and action that occurs."""
        out: dict[str, dict[str, int]] = {}
        for (kind, action), n in sorted(((k.value, a.value), n) for (k, a), n in self._tally.items()):
            out.setdefault(kind, {})[action] = n
        return out

    def action_totals(self) -> dict[str, int]:
        """``{action: n}`` across kinds, in Action order."""
        tally: Counter[Action] = Counter()
        for (_, action), n in self._tally.items():
            tally[action] += n
        return {a.value: tally[a] for a in Action if tally[a]}


@dataclass(frozen=True, slots=True)
class SafetyVerdict:
    """The safety gate's answer, as plan files record it. ``ok`` is True when nothing
    tripped or a person overrode the gate with a written reason."""

    ok: bool
    violations: tuple[str, ...] = ()
    override_reason: str | None = None

    @property
    def overridden(self) -> bool:
        return bool(self.violations) and self.override_reason is not None


@dataclass(frozen=True, slots=True)
class BrakeLimit:
    """One brake of the config's safety policy as the plan records it: at most ``count``
    changes and at most ``percent`` of what the tool owns of the kind. ``brake`` is
    ``suspend``, ``unenrol``, ``remove`` or ``delete``, or one of these with ``:<kind>``."""

    brake: str
    count: int | None = None
    percent: float | None = None

    def exceeded(self, planned: int, owned: int, min_existing: int) -> tuple[bool, bool]:
        """Whether ``planned`` changes go over the count, and over the percentage of
        ``owned`` (which counts only once ``owned`` reaches ``min_existing``)."""
        over_count = self.count is not None and planned > self.count
        over_percent = (
            self.percent is not None and owned >= min_existing and owned > 0 and 100.0 * planned / owned > self.percent
        )
        return over_count, over_percent


@dataclass(frozen=True, slots=True)
class Brakes:
    """The limits the safety gate judged the plan by, recorded so that renderings can show
    each brake with its limit from the plan alone. ``min_existing``: percentages apply only
    once the tool owns at least this many of a kind."""

    limits: tuple[BrakeLimit, ...] = ()
    min_existing: int = 0

    def limit_for(self, brake: str, kind: Kind | None = None) -> BrakeLimit | None:
        """The limit on ``brake`` for ``kind`` (a per-kind limit wins), if any."""
        table = {limit.brake: limit for limit in self.limits}
        return (None if kind is None else table.get(f"{brake}:{kind.value}")) or table.get(brake)


@dataclass(frozen=True)
class Summary:
    """The counts a plan file states: changes in all, per action, per kind and action,
    and what the tool owned of each kind when the plan was made."""

    total: int
    by_action: dict[str, int]
    by_kind: dict[str, dict[str, int]]
    owned: dict[str, int]

    @classmethod
    def of(cls, plan: Plan) -> Summary:
        return cls(len(plan.changes), plan.action_totals(), plan.counts(), dict(sorted(plan.owned_counts.items())))


@dataclass(frozen=True)
class PlanDocument:
    """A saved plan (:mod:`reconciler.plan.file` reads and writes it): who made it, when,
    from which config, for which scope; the safety verdict; the plan; and, once sealed, the
    checksum of its file. ``redacted`` views (:mod:`reconciler.redact`) are for showing only.
    The summary is worked out from the changes, never taken on trust; ``brakes`` and
    ``names`` are recorded for display only (apply reads neither)."""

    format_version: int
    tool: str
    tool_version: str
    created_at: str
    scope: str
    config_digest: str
    redacted: bool
    verdict: SafetyVerdict
    notices: tuple[Notice, ...]
    changes: tuple[Change, ...]
    owned: Mapping[str, int]
    checksum: str | None = None
    #: Redacted views only: ``stable`` (keyed pseudonyms, the same in every plan) or ``per-plan``.
    pseudonyms: str | None = None
    #: The safety policy's limits (None in a plan made without one, e.g. by hand in a test).
    brakes: Brakes | None = None
    #: Names of the cohorts and groups that memberships in the plan belong to (key -> name),
    #: for display: a membership holds only its parent's key.
    names: Mapping[str, str] = field(default_factory=dict)

    @cached_property
    def plan(self) -> Plan:
        return Plan(self.changes, self.notices, dict(self.owned))

    @cached_property
    def summary(self) -> Summary:
        return Summary.of(self.plan)

    @property
    def sealed_checksum(self) -> str:
        """The checksum of a sealed document (an unsealed one has none to show)."""
        if self.checksum is None:
            raise ValueError("the plan document is not sealed")
        return self.checksum
