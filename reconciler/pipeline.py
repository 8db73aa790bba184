"""The flow end to end: PowerSchool + config -> desired -> live -> plan -> verdict -> apply.

This module wires the boxes together and holds no logic of its own beyond ordering. The
I/O handles (a Moodle client, a function that reads one connection's roster) are passed
in, so the same code runs against real servers, loopback emulators and in-process ones.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from reconciler.apply import ApplyReport, IdMap, Journal, Progress, Status, Stop, apply_plan, change_ref, made
from reconciler.audit import AuditLog, AuditRun, Unfinished, last_unfinished
from reconciler.audit import default_path as default_audit_path
from reconciler.config.model import Config, Connection
from reconciler.desired import Desired, build_desired
from reconciler.errors import PlanFileError, ReconcilerError
from reconciler.gradework import GradeReader, GradeRisk, grade_risk
from reconciler.model import Course, Enrolment, Group, GroupMember, Key, Kind, State
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.grades import read_graded_items
from reconciler.moodle.live import live_ids, read_live
from reconciler.moodle.passwords import Passwords
from reconciler.moodle.roles import RoleMap
from reconciler.moodle.writer import MoodleWriter
from reconciler.plan.diff import compute_plan, follow_moves
from reconciler.plan.file import build_document, read_plan
from reconciler.plan.model import Action, Change, Plan, PlanDocument, SafetyVerdict, parent_names
from reconciler.plan.safety import check_safety, recorded_brakes
from reconciler.powerschool.roster import Roster
from reconciler.targeting import Targets, resolve, restrict

log = logging.getLogger(__name__)

#: Beside the audit log: copies of the plans being applied (see :func:`apply_audited`).
APPLYING_DIR = "applying"

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
    #: What a targeted run covered (:mod:`reconciler.targeting`); '' for a full plan.
    target: str = ""

    @property
    def scope_text(self) -> str:
        """The plan header's scope: ``all``, or ``all, targeted at school 200``."""
        return f"{self.scope.value}, targeted at {self.target}" if self.target else self.scope.value


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
    config: Config,
    desired: Desired,
    live: State,
    *,
    scope: Scope,
    override_reason: str | None = None,
    grades: GradeReader | None = None,
    targets: Targets | None = None,
) -> PlanRun:
    """The plan and the safety verdict for ``desired`` against ``live`` (pure but for
    ``grades``, which asks Moodle about graded work; without it nothing is checked),
    restricted to ``targets`` when given."""
    plan = compute_plan(
        desired.state,
        live,
        kinds=scope.kinds,
        removal=config.removal,
        adopt=config.adopt,
        protected=config.safety.protected,
        moves=desired.moves,
        notices=desired.notices,
        kept=desired.kept,
        unique_emails=not config.moodle.allow_accounts_same_email,
    )
    target = ""
    if targets:
        resolved = resolve(targets, desired.state, live)
        plan = restrict(plan, resolved, desired.state, live)
        target = resolved.description
    risk = GradeRisk()
    if grades is not None:
        risk = grade_risk(
            plan,
            live,
            grades,
            removal=config.removal,
            safety=config.safety,
            enrolments_read=Kind.ENROLMENT in scope.kinds,
        )
        plan = replace(plan, notices=plan.notices + risk.notices)
    verdict = check_safety(
        plan,
        live,
        config.safety,
        school_students=desired.school_students,
        override_reason=override_reason,
        more_violations=risk.violations,
    )
    return PlanRun(desired=desired, live=live, plan=plan, verdict=verdict, scope=scope, target=target)


def run_plan(
    config: Config,
    moodle: MoodleClient,
    reader: RosterReader,
    *,
    scope: Scope = Scope.ALL,
    override_reason: str | None = None,
    roles: RoleMap | None = None,
    targets: Targets | None = None,
) -> PlanRun:
    """Read both systems and plan (only ``targets``, when given)."""
    desired = build_desired(config, read_rosters(config, reader))
    live = read_moodle(moodle, desired, scope, roles or RoleMap.from_settings(config.moodle))
    return decide(
        config,
        desired,
        live,
        scope=scope,
        override_reason=override_reason,
        grades=lambda probes: read_graded_items(moodle, probes),
        targets=targets,
    )


def plan_document(config: Config, run: PlanRun, *, created_at: datetime | None = None) -> PlanDocument:
    """The saved-plan document (:mod:`reconciler.plan.file`) of a planning run, unsealed
    until it is saved or sealed; ``created_at`` defaults to now."""
    return build_document(
        run.plan,
        config_digest=config.digest,
        scope=run.scope_text,
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
    users = _referenced(plan, Kind.USER) | {c.key for c in plan.changes if c.key.kind is Kind.USER}
    # The parents changes point at (a course's category, an enrolment's course) are read
    # too: the writer needs their Moodle ids even when the plan does not change them.
    kinds = {c.key.kind for c in plan.changes} | {ref.kind for c in plan.changes for ref in c.resource.references()}
    kinds.add(Kind.USER)
    scope = _touched_courses(plan)
    new_users = {c.key for c in plan.changes if c.key.kind is Kind.USER and c.action is Action.CREATE}
    live = read_live(
        client,
        touched,
        kinds=kinds,
        roles=roles,
        also_users=users,
        courses=scope.courses,
        group_courses=scope.grouped,
        pairs=scope.pairs,
        new_users=new_users,
        needed_courses=None if scope.courses is None else scope.courses | _referenced(plan, Kind.COURSE),
    )
    # A reviewed section migration planned the moving course's enrolments under its new
    # key; until the move is applied Moodle still holds them under the old one.
    moves = {c.key: c.before.key for c in plan.changes if c.action is Action.MOVE and c.before is not None}
    return follow_moves(live, moves)


def _referenced(plan: Plan, kind: Kind) -> set[Key]:
    """The objects of ``kind`` the plan's changes point at (a course's category, an
    enrolment's course...)."""
    return {ref for c in plan.changes for ref in c.resource.references() if ref.kind is kind}


@dataclass(frozen=True)
class _CourseScope:
    """What of the courses' memberships applying a plan reads: ``courses`` (None: every
    one), of which ``grouped`` have their groups read and ``pairs`` are read only for the
    accounts named (the rest in full: a course moved, a group changed)."""

    courses: set[Key] | None
    grouped: set[Key] | None
    pairs: dict[Key, frozenset[Key]]


def _touched_courses(plan: Plan) -> _CourseScope:
    """The courses whose memberships a plan touches, those whose groups it touches, and
    the accounts whose memberships it touches in each: apply reads only those (a 1%
    change must not re-read every course). Every course when a group membership's course
    is not known."""
    whole: set[Key] = set()
    grouped: set[Key] = set()
    pairs: dict[Key, set[Key]] = defaultdict(set)
    for change in plan.changes:
        res = change.resource
        if isinstance(res, Enrolment):
            pairs[res.course].add(res.user)
        elif isinstance(res, Group):
            whole.add(res.course)
            grouped.add(res.course)
        elif isinstance(res, Course) and change.action is Action.MOVE and change.before is not None:
            whole |= {res.key, change.before.key}
        elif isinstance(res, GroupMember):
            # The plan records the group's course with each membership change.
            course = change.group_course
            if course is None:
                return _CourseScope(None, None, {})
            pairs[course].add(res.user)
            grouped.add(course)
    scoped = {course: frozenset(users) for course, users in pairs.items() if course not in whole}
    return _CourseScope(whole | pairs.keys(), grouped, scoped)


def run_apply(
    config: Config,
    moodle: MoodleClient,
    plan: Plan,
    live: State,
    *,
    roles: RoleMap | None = None,
    journal: Journal | None = None,
    progress: Progress | None = None,
) -> ApplyReport:
    """Apply ``plan``; ``live`` (read just before) supplies the Moodle ids of what exists.
    The ``journal`` hears of every write call (and can stop the run); a change whose
    answer is lost is read back from Moodle."""
    roles = roles or RoleMap.from_settings(config.moodle)
    journal = journal or Journal(Stop())
    writer = MoodleWriter(moodle, roles=roles, passwords=Passwords.from_config(config), watch=journal)
    ids: IdMap = live_ids(live)

    def read_back(changes: Sequence[Change]) -> State:
        return read_for_apply(moodle, Plan(changes=tuple(changes)), roles)

    report = apply_plan(plan, writer, ids, journal=journal, read_back=read_back, progress=progress)
    return replace(report, deadlocks=writer.counts.deadlocks, split_batches=writer.counts.split)


def audit_path(config: Config, plan_dir: str | os.PathLike[str]) -> Path:
    """The audit log of an apply: the config's ``audit_log``, else ``audit.jsonl`` beside the plans."""
    return Path(config.audit_log) if config.audit_log else default_audit_path(plan_dir)


def apply_audited(
    config: Config,
    moodle: MoodleClient,
    plan: Plan,
    live: State,
    doc: PlanDocument,
    *,
    plan_file: str | os.PathLike[str],
    plans_dir: str | os.PathLike[str] | None = None,
    roles: RoleMap | None = None,
    stop: Stop | None = None,
    progress: Progress | None = None,
) -> ApplyReport:
    """:func:`run_apply` of the plan whose document is ``doc`` (saved at ``plan_file``),
    recorded in the audit log (:func:`audit_path` of ``plans_dir``, by default the plan
    file's folder) as a new run: first what became of the
    calls in flight when the log's last run died (if it did), then the plan's override
    reason (if a person gave one), the start, every write call as it is sent and answered,
    every change, and the end (or the interruption, when ``stop`` was set). Call it
    holding the apply lock."""
    roles = roles or RoleMap.from_settings(config.moodle)
    audit = AuditRun(
        AuditLog(audit_path(config, Path(plan_file).parent if plans_dir is None else plans_dir)),
        doc.sealed_checksum,
        override_reason=doc.verdict.override_reason,
    )
    try:
        recover_unfinished(moodle, audit, roles)
        if audit.override_reason:
            audit.log.record_override(doc.sealed_checksum, audit.override_reason, doc.verdict.violations)
        copy = _keep_while_applying(Path(plan_file), audit.log.path, doc.sealed_checksum)
        audit.start(plan_file=str(plan_file), plan_copy=str(copy), moodle=moodle.url, changes=len(plan.changes))
        journal = Journal(stop or Stop(), audit)
        report = run_apply(config, moodle, plan, live, roles=roles, journal=journal, progress=progress)
        audit.finish(report.tally(), stopped=report.stopped)
        copy.unlink(missing_ok=True)
        return report
    finally:
        audit.log.close()


def _keep_while_applying(plan_file: Path, audit_file: Path, checksum: str) -> Path:
    """A copy of the plan being applied, beside the audit log, kept until the run ends: a
    run killed mid-way is recovered by the next one from it, even once plan.json has been
    replaced by a newer plan. A hard link when possible (saving a plan replaces the file,
    so the link keeps the old one)."""
    copy = audit_file.parent / APPLYING_DIR / f"{checksum.removeprefix('sha256:')}.json"
    try:
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.unlink(missing_ok=True)
        try:
            os.link(plan_file, copy)
        except OSError:
            shutil.copyfile(plan_file, copy)
    except OSError as exc:
        raise ReconcilerError(f"cannot keep a copy of {plan_file} beside the audit log: {exc.strerror}") from None
    return copy


def recover_unfinished(moodle: MoodleClient, audit: AuditRun, roles: RoleMap) -> int:
    """When the audit log's last run against this Moodle was killed (a start, no end), read
    back the changes of its calls that never got an answer and record what they became
    (under that run's plan). Call it holding the apply lock, before this run starts.
    Returns how many changes it recorded."""
    unfinished = last_unfinished(audit.log.path)
    if unfinished is None or unfinished.start.get("moodle") != moodle.url:
        return 0
    earlier = unfinished.start
    kept = Path(str(earlier.get("plan_copy") or earlier.get("plan_file")))
    try:
        if unfinished.in_flight:
            _recover(moodle, audit, roles, unfinished, kept)
    finally:
        if kept.parent.name == APPLYING_DIR:
            kept.unlink(missing_ok=True)
    return len(unfinished.in_flight)


def _recover(moodle: MoodleClient, audit: AuditRun, roles: RoleMap, unfinished: Unfinished, kept: Path) -> None:
    earlier = unfinished.start
    note = f"in flight when run {earlier.get('run')} ended without a record of its answer"
    try:
        doc = read_plan(kept)
        if doc.sealed_checksum != earlier.get("plan"):
            raise PlanFileError(f"{kept} is no longer the plan it applied")
        wanted = {(c["action"], c["kind"], c["key"]) for c in unfinished.in_flight}
        changes = [c for c in doc.changes if (c.action.value, c.key.kind.value, c.key.id) in wanted]
        live = read_for_apply(moodle, Plan(changes=tuple(changes)), roles)
    except ReconcilerError as exc:
        for change in unfinished.in_flight:
            audit.recovered(earlier, change, Status.UNKNOWN.value, f"{note}; it cannot be read back: {exc}")
        return
    for planned in changes:
        if made(planned, live):
            audit.recovered(earlier, change_ref(planned), Status.APPLIED.value, f"{note}; read back: done")
        else:
            audit.recovered(earlier, change_ref(planned), Status.FAILED.value, f"{note}; read back: not made")
    log.warning("apply: recorded what %d changes in flight when run %s ended became", len(changes), earlier.get("run"))
