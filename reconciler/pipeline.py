"""The flow end to end: PowerSchool + config -> desired -> live -> plan -> verdict -> apply.

This module wires the boxes together and holds no logic of its own beyond ordering. The
I/O handles (a Moodle client, a function that reads one connection's roster) are passed
in, so the same code runs against real servers, loopback emulators and in-process ones.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from reconciler.apply import ApplyReport, IdMap, Progress, apply_plan
from reconciler.audit import AuditLog
from reconciler.config.model import Config, Connection
from reconciler.desired import Desired, build_desired
from reconciler.model import Course, Enrolment, Group, GroupMember, Key, Kind, State
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.live import live_ids, read_live
from reconciler.moodle.passwords import Passwords
from reconciler.moodle.roles import RoleMap
from reconciler.moodle.writer import MoodleWriter
from reconciler.plan.diff import compute_plan, follow_moves
from reconciler.plan.file import build_document
from reconciler.plan.model import Action, Plan, PlanDocument, SafetyVerdict, parent_names
from reconciler.plan.safety import check_safety, recorded_brakes
from reconciler.powerschool.roster import Roster

log = logging.getLogger(__name__)

#: Reads one connection's roster from PowerSchool (I/O).
RosterReader = Callable[[Connection], Roster]


class Scope(str, Enum):
    """What a run touches: the seed's "sync all", "sync users" and "sync courses"."""

    ALL = "all"
    USERS = "users"
    COURSES = "courses"

    @property
    def kinds(self) -> frozenset[Kind]:
        if self is Scope.USERS:
            return frozenset({Kind.USER, Kind.COHORT, Kind.COHORT_MEMBER})
        if self is Scope.COURSES:
            return frozenset({Kind.CATEGORY, Kind.COURSE, Kind.ENROLMENT, Kind.GROUP, Kind.GROUP_MEMBER})
        return frozenset(Kind)


@dataclass(frozen=True)
class PlanRun:
    """Everything one planning run produced; ``live`` is what the plan was computed against."""

    desired: Desired
    live: State
    plan: Plan
    verdict: SafetyVerdict
    scope: Scope


def read_rosters(config: Config, reader: RosterReader) -> dict[str, Roster]:
    """Every connection's roster, by connection name."""
    rosters: dict[str, Roster] = {}
    for connection in config.connections:
        log.info("plan: reading PowerSchool for connection %s", connection.name)
        rosters[connection.name] = reader(connection)
    return rosters


def read_moodle(client: MoodleClient, desired: Desired, scope: Scope, roles: RoleMap) -> State:
    """What the tool owns in Moodle now, for the kinds of ``scope``."""
    log.info("plan: reading Moodle")
    # A user scope still needs memberships read to find leavers; a course scope needs users
    # to know which enrolments are of accounts we own.
    kinds = set(scope.kinds) | {Kind.USER}
    return read_live(client, desired.state, kinds=kinds, roles=roles, also_users=desired.known_users)


def decide(
    config: Config, desired: Desired, live: State, *, scope: Scope, override_reason: str | None = None
) -> PlanRun:
    """The plan and the safety verdict for ``desired`` against ``live`` (pure)."""
    plan = compute_plan(
        desired.state,
        live,
        kinds=scope.kinds,
        removal=config.removal,
        adopt=config.adopt,
        protected=config.safety.protected,
        moves=desired.moves,
        notices=desired.notices,
    )
    verdict = check_safety(
        plan, live, config.safety, school_students=desired.school_students, override_reason=override_reason
    )
    return PlanRun(desired=desired, live=live, plan=plan, verdict=verdict, scope=scope)


def run_plan(
    config: Config,
    moodle: MoodleClient,
    reader: RosterReader,
    *,
    scope: Scope = Scope.ALL,
    override_reason: str | None = None,
    roles: RoleMap | None = None,
) -> PlanRun:
    """Read both systems and plan."""
    desired = build_desired(config, read_rosters(config, reader))
    live = read_moodle(moodle, desired, scope, roles or RoleMap.from_settings(config.moodle))
    return decide(config, desired, live, scope=scope, override_reason=override_reason)


def plan_document(config: Config, run: PlanRun, *, created_at: datetime | None = None) -> PlanDocument:
    """The saved-plan document (:mod:`reconciler.plan.file`) of a planning run, unsealed
    until it is saved or sealed; ``created_at`` defaults to now."""
    return build_document(
        run.plan,
        config_digest=config.digest,
        scope=run.scope.value,
        verdict=run.verdict,
        created_at=created_at or datetime.now(UTC),
        brakes=recorded_brakes(config.safety),
        names=parent_names(run.plan.changes, run.desired.state, run.live),
    )


def read_for_apply(client: MoodleClient, plan: Plan, roles: RoleMap) -> State:
    """Moodle as it is now, for the objects a saved plan touches and the ones they reference:
    enough to check what the plan recorded of them and to give the writer Moodle ids, without
    reading PowerSchool again."""
    touched = State.of(c.resource for c in plan.changes)
    users = {ref for c in plan.changes for ref in c.resource.references() if ref.kind is Kind.USER}
    users |= {c.key for c in plan.changes if c.key.kind is Kind.USER}
    # The parents changes point at (a course's category, an enrolment's course) are read
    # too: the writer needs their Moodle ids even when the plan does not change them.
    kinds = {c.key.kind for c in plan.changes} | {ref.kind for c in plan.changes for ref in c.resource.references()}
    kinds.add(Kind.USER)
    courses, group_courses = _touched_courses(plan)
    live = read_live(
        client, touched, kinds=kinds, roles=roles, also_users=users, courses=courses, group_courses=group_courses
    )
    # A reviewed section migration planned the moving course's enrolments under its new
    # key; until the move is applied Moodle still holds them under the old one.
    moves = {c.key: c.before.key for c in plan.changes if c.action is Action.MOVE and c.before is not None}
    return follow_moves(live, moves)


def _touched_courses(plan: Plan) -> tuple[set[Key] | None, set[Key] | None]:
    """The courses whose memberships a plan touches, and those whose groups it touches:
    apply reads only those (a 1% change must not re-read every course). ``(None, None)``
    (read every course) when a group membership's course is not known."""
    courses: set[Key] = set()
    grouped: set[Key] = set()
    for change in plan.changes:
        res = change.resource
        if isinstance(res, Enrolment):
            courses.add(res.course)
        elif isinstance(res, Group):
            courses.add(res.course)
            grouped.add(res.course)
        elif isinstance(res, Course) and change.action is Action.MOVE and change.before is not None:
            courses |= {res.key, change.before.key}
        elif isinstance(res, GroupMember):
            # The plan records the group's course with each membership change.
            course = change.group_course
            if course is None:
                return None, None
            courses.add(course)
            grouped.add(course)
    return courses, grouped


def run_apply(
    config: Config,
    moodle: MoodleClient,
    plan: Plan,
    live: State,
    *,
    roles: RoleMap | None = None,
    audit: AuditLog | None = None,
    plan_checksum: str = "",
    override_reason: str | None = None,
    progress: Progress | None = None,
) -> ApplyReport:
    """Apply ``plan``; ``live`` (read just before) supplies the Moodle ids of what exists."""
    roles = roles or RoleMap.from_settings(config.moodle)
    writer = MoodleWriter(moodle, roles=roles, passwords=Passwords.from_config(config))
    ids: IdMap = live_ids(live)
    return apply_plan(
        plan,
        writer,
        ids,
        audit=audit,
        plan_checksum=plan_checksum,
        override_reason=override_reason,
        progress=progress,
    )


def apply_audited(
    config: Config,
    moodle: MoodleClient,
    plan: Plan,
    live: State,
    doc: PlanDocument,
    *,
    roles: RoleMap | None = None,
    progress: Progress | None = None,
) -> ApplyReport:
    """:func:`run_apply` of the plan whose document is ``doc``, recorded in the config's audit
    log when it has one: the plan's override reason first (if a person gave one), then every
    change under the plan's checksum."""
    audit = AuditLog(config.audit_log) if config.audit_log else None
    try:
        reason = doc.verdict.override_reason
        if audit is not None and reason:
            audit.record_override(doc.sealed_checksum, reason, doc.verdict.violations)
        return run_apply(
            config,
            moodle,
            plan,
            live,
            roles=roles,
            audit=audit,
            plan_checksum=doc.sealed_checksum,
            override_reason=reason,
            progress=progress,
        )
    finally:
        if audit is not None:
            audit.close()
