"""Grades at risk: which changes of a plan take a person away from graded work (pure).

A plan that suspends or unenrols an enrolment, or suspends or deletes an account, may
cut a student off from a course where they have been graded. This module says which
(course, user) pairs to ask Moodle about (only those of such changes), and turns the
answers into what the plan carries: one warning notice per change keyed by the change
("has 7 graded items in this course"), and, where the change takes grades out of the
gradebook (``removal.enrolments: unenrol``, ``removal.users: delete``), safety-gate
violations naming the changes, which need an override unless
``safety.graded_work_guard`` is off.

Moodle's grade report for a whole course (``userid=0``) lists only active enrolments,
so a pair whose enrolment is already suspended is asked about alone (:attr:`Probe.listed`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.config.model import EnrolmentRemoval, RemovalPolicy, SafetyPolicy, UserRemoval
from reconciler.model import Enrolment, Key, Kind, State
from reconciler.plan.model import Action, Change, Notice, NoticeLevel, Plan, grouped_notice


@dataclass(frozen=True, slots=True)
class Probe:
    """One (course, user) pair to ask about, by Moodle ids. ``listed``: the enrolment is
    active, so the course-wide report lists the user."""

    course_id: int
    user_id: int
    listed: bool


@dataclass(frozen=True)
class GradeAnswers:
    """What Moodle said: graded items per probed pair; ``failures`` names the pairs that
    could not be checked, with the reason."""

    graded: Mapping[tuple[int, int], int] = field(default_factory=dict)
    failures: Mapping[tuple[int, int], str] = field(default_factory=dict)


#: Asks Moodle about probes (I/O: :func:`reconciler.moodle.grades.read_graded_items`).
GradeReader = Callable[[Sequence[Probe]], GradeAnswers]


@dataclass(frozen=True)
class AtRisk:
    """The changes that take someone away from a course, with the courses each concerns
    (the enrolments it ends, for an account: all of the person's enrolments)."""

    enrolments: Mapping[Key, tuple[Enrolment, ...]]
    #: Account changes whose courses are unknown (the run did not read enrolments).
    unknown: tuple[Key, ...] = ()

    def probes(self, live: State) -> list[Probe]:
        """Every distinct pair to ask about; pairs whose course or user has no Moodle id are left out."""
        seen: dict[tuple[int, int], Probe] = {}
        for enrolments in self.enrolments.values():
            for enrolment in enrolments:
                pair = _pair(enrolment, live)
                if pair is not None and pair not in seen:
                    seen[pair] = Probe(pair[0], pair[1], listed=not enrolment.suspended)
        return sorted(seen.values(), key=lambda p: (p.course_id, p.user_id))


def _pair(enrolment: Enrolment, live: State) -> tuple[int, int] | None:
    course = live.get(enrolment.course)
    if course is None or course.moodle_id is None or enrolment.moodle_id is None:
        return None
    return course.moodle_id, enrolment.moodle_id


def _ends_access(change: Change) -> bool:
    return change.action in (Action.SUSPEND, Action.DELETE) and change.key.kind in (Kind.ENROLMENT, Kind.USER)


def at_risk(plan: Plan, live: State, *, enrolments_read: bool) -> AtRisk:
    """The changes that may cut someone off from graded work, and the enrolments they concern."""
    changes = [c for c in plan.changes if _ends_access(c)]
    by_user: dict[Key, list[Enrolment]] = defaultdict(list)
    if any(c.key.kind is Kind.USER for c in changes):
        for resource in live.by_kind(Kind.ENROLMENT):
            assert isinstance(resource, Enrolment)
            by_user[resource.user].append(resource)
    found: dict[Key, tuple[Enrolment, ...]] = {}
    unknown: list[Key] = []
    for change in changes:
        if change.key.kind is Kind.ENROLMENT and isinstance(change.before, Enrolment):
            found[change.key] = (change.before,)
        elif change.key.kind is Kind.USER and not enrolments_read:
            unknown.append(change.key)
        elif change.key.kind is Kind.USER:
            found[change.key] = tuple(by_user.get(change.key, ()))
    return AtRisk(found, tuple(unknown))


@dataclass(frozen=True)
class GradeRisk:
    """The outcome for a plan: notices to add to it and violations for the safety gate."""

    notices: tuple[Notice, ...] = ()
    violations: tuple[str, ...] = ()


def _removes_grades(change: Change, removal: RemovalPolicy) -> bool:
    """Whether the change takes grades out of the gradebook (not merely access)."""
    if change.action is not Action.DELETE:
        return False
    if change.key.kind is Kind.ENROLMENT:
        return removal.enrolments is EnrolmentRemoval.UNENROL
    return removal.users is UserRemoval.DELETE


def _items(n: int) -> str:
    return f"{n} graded item{'s' if n != 1 else ''}"


def assess(
    plan: Plan,
    live: State,
    risk: AtRisk,
    answers: GradeAnswers,
    *,
    removal: RemovalPolicy,
    safety: SafetyPolicy,
) -> GradeRisk:
    """Notices for every change that concerns graded work (or could not be checked), and
    violations for those that would take grades out of the gradebook."""
    asked = {*risk.enrolments, *risk.unknown}
    changes = {c.key: c for c in plan.changes if c.key in asked}
    notices: list[Notice] = []
    graded_removals: dict[Kind, list[str]] = defaultdict(list)
    unchecked: list[Change] = [changes[key] for key in risk.unknown]
    reasons: set[str] = {"the run did not read enrolments (--scope users)"} if risk.unknown else set()
    for key, enrolments in risk.enrolments.items():
        change = changes[key]
        counts: list[int] = []
        for enrolment in enrolments:
            pair = _pair(enrolment, live)
            if pair is not None and pair in answers.failures:
                reasons.add(answers.failures[pair])
                break
            counts.append(answers.graded.get(pair, 0) if pair is not None else 0)
        else:
            total, courses = sum(counts), sum(1 for n in counts if n)
            if total:
                notices.append(Notice(NoticeLevel.WARNING, _message(change, total, courses, removal), key.id))
                if _removes_grades(change, removal):
                    graded_removals[key.kind].append(key.id)
            continue
        unchecked.append(change)
    if unchecked:
        why = "; ".join(sorted(reasons))
        keys = [c.key.id for c in unchecked]
        notices.append(
            grouped_notice(NoticeLevel.WARNING, f"{_changes(len(keys))} not checked for graded work ({why})", keys)
        )
    violations: list[str] = []
    if safety.graded_work_guard:
        for kind, keys in sorted(graded_removals.items()):
            what = "unenrolment" if kind is Kind.ENROLMENT else "account deletion"
            plural = "s" if len(keys) != 1 else ""
            violations.append(_listing(f"{what}{plural} would take graded work out of the gradebook", keys))
        destructive = [c.key.id for c in unchecked if _removes_grades(c, removal)]
        if destructive:
            what = f"{_changes(len(destructive))} that take grades out of the gradebook could not be checked"
            violations.append(_listing(what, destructive))
    return GradeRisk(tuple(notices), tuple(violations))


def _changes(n: int) -> str:
    return "change" if n == 1 else "changes"


def _listing(what: str, keys: list[str]) -> str:
    """``"3 <what> (graded_work_guard): a, b, c"``, naming at most a few."""
    return grouped_notice(NoticeLevel.WARNING, f"{what} (graded_work_guard)", keys).message


def _message(change: Change, total: int, courses: int, removal: RemovalPolicy) -> str:
    if change.key.kind is Kind.ENROLMENT:
        what = (
            "unenrolling takes them out of the gradebook"
            if _removes_grades(change, removal)
            else "suspending keeps them, but the student loses access"
        )
        return f"has {_items(total)} in this course: {what}"
    where = f"{courses} course{'s' if courses != 1 else ''}"
    what = (
        "deleting the account takes them out of the gradebook"
        if _removes_grades(change, removal)
        else "suspending the account keeps them, but the person loses access"
    )
    return f"has {_items(total)} in {where}: {what}"


def grade_risk(
    plan: Plan,
    live: State,
    read: GradeReader,
    *,
    removal: RemovalPolicy,
    safety: SafetyPolicy,
    enrolments_read: bool = True,
) -> GradeRisk:
    """Ask ``read`` about the changes of ``plan`` that end someone's access (nothing when
    there are none) and assess the answers."""
    risk = at_risk(plan, live, enrolments_read=enrolments_read)
    probes = risk.probes(live)
    answers = read(probes) if probes else GradeAnswers()
    return assess(plan, live, risk, answers, removal=removal, safety=safety)
