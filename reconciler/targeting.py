"""Targeted plans, like Terraform's ``-target``: plan only what concerns some schools,
people, sections or courses, and change nothing else (pure).

What a target covers:

- a **person** (``person:KEY`` or ``person:USERNAME``): their account, enrolments, and
  cohort and group memberships;
- a **course** (``course:KEY`` or ``course:SHORTNAME``): the course, its enrolments, its
  groups and their memberships;
- a **section** (``section:DCID``, ``section:SCHOOL:DCID`` or the key): the course made
  from it (section mode: as a course target) or its group (group mode: the group and its
  memberships);
- a **school** (``--school N``): every course and group of that school, as course targets.

Categories, cohorts and accounts of people outside the target are never in it. A change
inside the target that needs an object created outside it first (a new student's
enrolment needs the new account) cannot be applied alone: it is left out too, and a
notice names what it waits for. The plan says that it is targeted (its scope reads
``all, targeted at ...``), and how many pending changes outside the target it leaves for
a full plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from reconciler import keys
from reconciler.errors import ReconcilerError
from reconciler.model import Course, Enrolment, Group, GroupMember, Key, Kind, Resource, State, User
from reconciler.plan.model import Action, Change, Notice, NoticeLevel, Plan, grouped_notice

#: What ``--target KIND:...`` accepts, and the kind of object each names.
TARGET_KINDS = ("person", "section", "course")
#: Actions after which an object exists under its key (what a dependent change needs).
_BRINGS = (Action.CREATE, Action.ADOPT, Action.MOVE)


class TargetNotFound(ReconcilerError):
    """A target names nothing PowerSchool or Moodle holds."""


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """One ``--target KIND:VALUE`` as given."""

    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


def parse_target(text: str) -> TargetSpec:
    """``person:jdoe`` -> TargetSpec; a clear ValueError for anything else."""
    kind, sep, value = text.partition(":")
    if not sep or kind not in TARGET_KINDS or not value.strip():
        raise ValueError(
            f"--target {text!r}: expected KIND:KEY with KIND one of {', '.join(TARGET_KINDS)} "
            "(person:USERNAME, section:DCID, course:SHORTNAME, or an idnumber)"
        )
    return TargetSpec(kind, value.strip())


@dataclass(frozen=True)
class Targets:
    """What a targeted run was asked to cover: school numbers and specs."""

    schools: tuple[int, ...] = ()
    specs: tuple[TargetSpec, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.schools or self.specs)


@dataclass(frozen=True)
class Resolved:
    """A target as keys: accounts, courses and groups it covers, and how to say it."""

    users: frozenset[Key]
    courses: frozenset[Key]
    groups: frozenset[Key]
    description: str

    def __bool__(self) -> bool:
        return bool(self.users or self.courses or self.groups)


def resolve(targets: Targets, desired: State, live: State) -> Resolved:
    """The keys ``targets`` name, looked up in both states; :class:`TargetNotFound` for a
    target that names nothing."""
    index = _Index(desired, live)
    users: set[Key] = set()
    courses: set[Key] = set()
    groups: set[Key] = set()
    parts: list[str] = []
    for school in targets.schools:
        found = index.of_school(str(school))
        if not found:
            raise TargetNotFound(f"--school {school}: no course or group of that school in PowerSchool or Moodle")
        courses |= {k for k in found if k.kind is Kind.COURSE}
        groups |= {k for k in found if k.kind is Kind.GROUP}
        parts.append(f"school {school}")
    for spec in targets.specs:
        key = index.find(spec)
        if key is None:
            raise TargetNotFound(f"--target {spec}: no such {spec.kind} in PowerSchool or Moodle")
        {Kind.USER: users, Kind.COURSE: courses, Kind.GROUP: groups}[key.kind].add(key)
        parts.append(f"{'person' if key.kind is Kind.USER else key.kind.value} {key.id}")
    return Resolved(frozenset(users), frozenset(courses), frozenset(groups), ", ".join(parts))


def resolve_found(specs: Sequence[TargetSpec], desired: State, live: State) -> Resolved:
    """Like :func:`resolve`, leaving out the specs that name nothing (a notification's
    records may be gone from both systems); empty when none is left."""
    index = _Index(desired, live)
    return resolve(Targets(specs=tuple(s for s in specs if index.find(s) is not None)), desired, live)


class _Index:
    """Look-ups over both states: by key, username, shortname, section."""

    def __init__(self, desired: State, live: State) -> None:
        self.resources: dict[Key, Resource] = {**live.resources, **desired.resources}
        self.names: dict[tuple[Kind, str], Key] = {}
        for resource in self.resources.values():
            if isinstance(resource, User):
                self.names[(Kind.USER, resource.username)] = resource.key
            elif isinstance(resource, Course):
                self.names[(Kind.COURSE, resource.shortname)] = resource.key

    def of_school(self, school: str) -> list[Key]:
        return [k for k in self.resources if k.kind in (Kind.COURSE, Kind.GROUP) and keys.school_of(k) == school]

    def find(self, spec: TargetSpec) -> Key | None:
        if spec.kind == "person":
            return self._named(Kind.USER, spec.value)
        if spec.kind == "course":
            return self._named(Kind.COURSE, spec.value)
        for kind in (Kind.COURSE, Kind.GROUP):
            if Key(kind, spec.value) in self.resources:
                return Key(kind, spec.value)
        school, _, dcid = spec.value.rpartition(":")
        tail = f":{school}:section:{dcid}" if school else f":section:{dcid}"
        found = sorted(k for k in self.resources if k.kind in (Kind.COURSE, Kind.GROUP) and k.id.endswith(tail))
        return found[0] if len(found) == 1 else self._named(Kind.COURSE, spec.value)

    def _named(self, kind: Kind, value: str) -> Key | None:
        key = Key(kind, value)
        return key if key in self.resources else self.names.get((kind, value))

    def course_of_group(self, group: Key) -> Key | None:
        resource = self.resources.get(group)
        return resource.course if isinstance(resource, Group) else None


def _covers(change: Change, target: Resolved, index: _Index) -> bool:
    kind, res = change.key.kind, change.resource
    if kind is Kind.USER:
        return change.key in target.users
    if kind is Kind.COURSE:
        return change.key in target.courses
    if kind is Kind.GROUP:
        return change.key in target.groups or (isinstance(res, Group) and res.course in target.courses)
    if isinstance(res, Enrolment):
        return res.user in target.users or res.course in target.courses
    if isinstance(res, GroupMember):
        return (
            res.user in target.users or res.group in target.groups or index.course_of_group(res.group) in target.courses
        )
    if kind is Kind.COHORT_MEMBER:
        return any(ref in target.users for ref in res.references())
    return False  # categories and cohorts are district-wide


def restrict(plan: Plan, target: Resolved, desired: State, live: State) -> Plan:
    """``plan`` with only the changes inside ``target`` that can be applied on their own,
    and notices saying what was left out."""
    index = _Index(desired, live)
    inside = [c for c in plan.changes if _covers(c, target, index)]
    outside = len(plan.changes) - len(inside)
    brought = {c.key for c in plan.changes if c.action in _BRINGS}
    kept, waiting = _applicable(inside, brought)
    notices: list[Notice] = [
        Notice(
            NoticeLevel.INFO,
            f"targeted plan ({target.description}): {outside} pending change{'s' if outside != 1 else ''} outside "
            "the target left for a full plan",
        )
    ]
    if waiting:
        missing = brought - {c.key for c in kept}
        needs = sorted({str(ref) for c in waiting for ref in c.resource.references() if ref in missing})
        shown = ", ".join(needs[:3]) + (" ..." if len(needs) > 3 else "")
        notices.append(
            grouped_notice(
                NoticeLevel.WARNING,
                f"change{'s' if len(waiting) != 1 else ''} inside the target left out: they need objects created "
                f"outside it first ({shown}); widen the target",
                [c.key.id for c in waiting],
            )
        )
    return replace(plan, changes=tuple(kept), notices=(*plan.notices, *notices))


def _applicable(changes: Sequence[Change], brought: set[Key]) -> tuple[list[Change], list[Change]]:
    """Split ``changes`` into those that can be applied without the objects the plan
    brings into being outside them, and those that wait for one (transitively)."""
    kept = list(changes)
    pending = brought - {c.key for c in kept}
    waiting: list[Change] = []
    while True:
        blocked = {c.key for c in kept if any(ref in pending for ref in c.resource.references())}
        if not blocked:
            return kept, waiting
        waiting += [c for c in kept if c.key in blocked]
        pending |= {c.key for c in kept if c.key in blocked and c.action in _BRINGS}
        kept = [c for c in kept if c.key not in blocked]
