"""One unattended sync run: plan, save the plan for review, and apply it only when that is safe.

A run is the ``plan`` command followed, with ``auto_apply``, by the ``apply`` of exactly the
plan it saved:

1. read PowerSchool and Moodle and plan (:func:`reconciler.pipeline.run_plan`, no override);
2. save the plan document in a folder of its own under ``out_dir`` (named by the run's
   start time, UTC) and point ``out_dir/latest`` at it;
3. apply only when ``auto_apply`` is on, the plan is not empty, adopts nothing and the
   safety gate passed it without an override. Before writing, Moodle is read again for the objects the plan
   touches and checked against what the plan recorded (as ``apply PLANFILE`` does); a plan
   that went stale meanwhile is not applied (the next run plans afresh). The apply is
   recorded in the audit log, and its outcome saved as ``apply.json`` next to the plan.

A run never raises: whatever stops it becomes a ``failed`` :class:`RunReport` (and a log
entry); the server goes on.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from itertools import count
from pathlib import Path
from typing import Any

from reconciler.apply import ApplyReport, Status, Stop
from reconciler.config.model import Config, Connection, MoodleSettings, PowerSchoolSettings
from reconciler.desired import build_desired
from reconciler.errors import PlanFileError, ReconcilerError
from reconciler.lock import apply_lock
from reconciler.model import Key, Kind, State
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.grades import read_graded_items
from reconciler.moodle.live import read_live
from reconciler.moodle.roles import RoleMap
from reconciler.pipeline import (
    PlanRun,
    RosterReader,
    Scope,
    apply_audited,
    decide,
    plan_document,
    read_for_apply,
    run_plan,
)
from reconciler.plan.model import Action, Plan, PlanDocument, SafetyVerdict
from reconciler.plan.stale import find_stale
from reconciler.powerschool.client import PowerSchoolClient
from reconciler.powerschool.roster import Roster
from reconciler.powerschool.source import fetch_roster
from reconciler.render.files import save_plan
from reconciler.serve.schedule import Trigger
from reconciler.serve.targeted import Named, SchoolIndex, all_found, region, target_specs
from reconciler.signing import sign_plan, signing_key
from reconciler.targeting import Targets, resolve_found

log = logging.getLogger(__name__)

#: The file in ``out_dir`` that names the newest run folder.
LATEST = "latest"
#: The apply report written next to an applied plan.
APPLY_REPORT = "apply.json"


class Outcome(str, Enum):
    """How a run ended."""

    NO_CHANGES = "no_changes"  # Moodle already matches
    PLANNED = "planned"  # changes written for review; auto_apply is off
    APPLIED = "applied"  # every change applied
    PARTIAL = "partial"  # applied, but some changes failed or were skipped
    REFUSED = "refused"  # the safety gate refused the plan: saved, not applied
    STALE = "stale"  # Moodle changed between planning and applying: not applied
    FAILED = "failed"  # the run stopped on an error


@dataclass(frozen=True)
class Connectors:
    """The seam to the outside systems: how a run reaches Moodle and reads PowerSchool.
    The defaults use the network; tests pass emulators' transports."""

    moodle: Callable[[MoodleSettings], MoodleClient] = MoodleClient.from_settings
    roster: RosterReader = fetch_roster
    #: For the event subscription (:mod:`reconciler.serve.subscribe`).
    powerschool: Callable[[PowerSchoolSettings], PowerSchoolClient] = PowerSchoolClient.from_settings


@dataclass(frozen=True)
class RunReport:
    """What one run did, in counts only: no names, no secrets (``/healthz`` shows it).
    ``folder`` is the run folder's name under ``out_dir``; ``error`` the kind of error
    that stopped a failed run (its message is in the log)."""

    trigger: Trigger
    outcome: Outcome
    started_at: datetime
    finished_at: datetime
    changes: Mapping[str, int] = field(default_factory=dict)
    violations: int = 0
    applied: int = 0
    failed: int = 0
    skipped: int = 0
    unknown: int = 0
    folder: str | None = None
    error: str | None = None
    #: What a targeted run covered ('' for a full run).
    target: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "trigger": self.trigger.value,
            "outcome": self.outcome.value,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "changes": dict(self.changes),
            "violations": self.violations,
            "applied": self.applied,
            "failed": self.failed,
            "skipped": self.skipped,
            "unknown": self.unknown,
            "folder": self.folder,
            "error": self.error,
            "target": self.target,
        }


def iso(moment: datetime) -> str:
    """A UTC time as ``2025-09-01T12:00:00Z``."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def hold_back(plan: Plan, verdict: SafetyVerdict, *, auto_apply: bool) -> Outcome | None:
    """The outcome that ends a run before any write, or None when the plan is to be applied.

    Unattended apply needs a plan the gate passed on its own: a refusal, and even an
    override (which this server never gives), keeps the plan for a person; so does any
    adoption, whatever the brakes allow (taking over an object is always a person's call).
    """
    if not verdict.ok or verdict.overridden:
        return Outcome.REFUSED
    if plan.is_empty:
        return Outcome.NO_CHANGES
    if not auto_apply or any(c.action is Action.ADOPT for c in plan.changes):
        return Outcome.PLANNED
    return None


def sync_once(
    config: Config,
    trigger: Trigger,
    *,
    connectors: Connectors | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    named: Sequence[Named] = (),
    index: SchoolIndex | None = None,
) -> RunReport:
    """Run one sync of ``config`` (see the module notes); never raises. With ``named``
    records (a notification's) the run is targeted at them (:func:`plan_targeted`), or full
    when they name nothing found; ``index`` learns where every record read is."""
    connectors = connectors or Connectors()
    started = now()
    try:
        fields = _sync(config, connectors, started, named, index or SchoolIndex())
    except ReconcilerError as exc:
        log.error("sync (%s) failed: %s", trigger.value, exc)
        fields = {"outcome": Outcome.FAILED, "error": type(exc).__name__}
    except Exception as exc:  # a bug must not take the server down; the traceback is logged
        log.exception("sync (%s) failed unexpectedly", trigger.value)
        fields = {"outcome": Outcome.FAILED, "error": type(exc).__name__}
    return RunReport(trigger=trigger, started_at=started, finished_at=now(), **fields)


def _sync(
    config: Config, connectors: Connectors, started: datetime, named: Sequence[Named], index: SchoolIndex
) -> dict[str, Any]:
    """The run itself: the RunReport fields it determined."""
    roles = RoleMap.from_settings(config.moodle)

    def read(connection: Connection) -> Roster:
        roster = connectors.roster(connection)
        index.learn({connection.name: roster})
        return roster

    with connectors.moodle(config.moodle) as moodle:
        run = plan_targeted(config, moodle, read, named, index, roles) if named else None
        if run is None:
            run = run_plan(config, moodle, read, roles=roles)
        folder, doc = save_run(
            plan_document(config, run, created_at=started),
            Path(config.serve.out_dir),
            started,
            keep=config.serve.keep_runs,
        )
        fields: dict[str, Any] = {
            "target": run.target,
            "changes": run.plan.action_totals(),
            "violations": len(run.verdict.violations),
            "folder": folder.name,
        }
        held = hold_back(run.plan, run.verdict, auto_apply=config.serve.auto_apply)
        if held is not None:
            _log_held(held, run, folder, auto_apply=config.serve.auto_apply)
            return {**fields, "outcome": held}
        stop = Stop()
        with apply_lock(moodle, wait_s=0, on_lost=stop):
            live = read_for_apply(moodle, run.plan, roles)
            stale = find_stale(run.plan, live)
            if stale:
                log.warning(
                    "sync: %d objects changed in Moodle since planning; plan %s not applied, the next run plans again",
                    len(stale),
                    folder,
                )
                return {**fields, "outcome": Outcome.STALE}
            log.info("sync: applying %d changes of plan %s", len(run.plan.changes), folder)
            # One audit log for every run, beside the run folders.
            report = apply_audited(
                config,
                moodle,
                run.plan,
                live,
                doc,
                plan_file=folder / "plan.json",
                plans_dir=config.serve.out_dir,
                roles=roles,
                stop=stop,
            )
    tally = {s.value: report.count(s) for s in Status}
    outcome = Outcome.APPLIED if report.complete else Outcome.PARTIAL
    log.log(
        logging.INFO if report.complete else logging.WARNING,
        "sync: %s (%d applied, %d failed, %d skipped)",
        outcome.value,
        tally[Status.APPLIED.value],
        tally[Status.FAILED.value],
        tally[Status.SKIPPED.value],
    )
    try:
        _save_apply_report(folder / APPLY_REPORT, doc.sealed_checksum, report)
    except PlanFileError as exc:  # the changes are made and audited; only the summary file is lost
        log.error("sync: %s", exc)
    return {**fields, "outcome": outcome, **tally}


def plan_targeted(
    config: Config,
    moodle: MoodleClient,
    read: RosterReader,
    named: Sequence[Named],
    index: SchoolIndex,
    roles: RoleMap,
) -> PlanRun | None:
    """A plan targeted at the ``named`` records (:mod:`reconciler.serve.targeted`), reading
    only the schools and the Moodle region they concern; None when they name nothing
    PowerSchool or Moodle holds (the caller runs a full plan)."""
    rosters: dict[str, Roster] = {}
    connections: list[Connection] = []
    for connection in config.connections:
        schools = index.schools_to_read(connection.name, named)
        roster = None
        if schools is not None and schools <= set(connection.schools):
            narrowed = replace(connection, schools=tuple(sorted(schools)))
            log.info(
                "sync: reading PowerSchool schools %s of connection %s",
                ", ".join(map(str, sorted(schools))),
                connection.name,
            )
            roster = read(narrowed)
            if all_found(roster, named):
                connection = narrowed
            else:
                roster = None  # moved or gone: a partial read must not make it look like a leaver
        rosters[connection.name] = roster if roster is not None else read(connection)
        connections.append(connection)
    desired = build_desired(replace(config, connections=tuple(connections)), rosters)
    specs = [spec for c in connections for spec in target_specs(c.name, rosters[c.name], named)]
    users = {Key(Kind.USER, s.value) for s in specs if s.kind == "person"}
    found = resolve_found(specs, desired.state, State())
    area = region(desired.state, users, found.courses, found.groups)
    wanted = area.narrow(desired.state)
    live = area.narrow(
        read_live(
            moodle, wanted, roles=roles, also_users=area.accounts, courses=area.courses, group_courses=area.courses
        )
    )
    targets = Targets(specs=tuple(s for s in specs if resolve_found([s], wanted, live)))
    if not targets:
        log.info("sync: the notification names nothing PowerSchool or Moodle holds; planning in full")
        return None
    return decide(
        config,
        replace(desired, state=wanted, known_users=desired.known_users & area.accounts),
        live,
        scope=Scope.ALL,
        grades=lambda probes: read_graded_items(moodle, probes),
        targets=targets,
    )


def _log_held(outcome: Outcome, run: PlanRun, folder: Path, *, auto_apply: bool) -> None:
    if outcome is Outcome.REFUSED:
        log.warning(
            "sync: the safety gate refused the plan (%s); saved to %s for review, not applied",
            "; ".join(run.verdict.violations) or "an override is never applied unattended",
            folder,
        )
    elif outcome is Outcome.PLANNED:
        log.info(
            "sync: %d changes planned in %s, waiting for review (%s)",
            len(run.plan.changes),
            folder,
            "auto_apply is off" if not auto_apply else "it adopts objects, which is never applied unattended",
        )
    else:
        log.info("sync: no changes (plan in %s)", folder)


def save_run(doc: PlanDocument, out_dir: Path, started: datetime, *, keep: int = 100) -> tuple[Path, PlanDocument]:
    """Save a plan document in a new folder under ``out_dir`` named by ``started`` (UTC,
    ``20250901T120000Z``, with ``-1``, ``-2``... when taken), point ``out_dir/latest`` at
    it, and delete all but the newest ``keep`` run folders. Plans hold student data: the
    folders are the service user's alone (0700, files 0600). With a plan signing key
    configured the plan is signed, so a person can apply it (``apply`` refuses unsigned
    plans then). Returns the folder and the document, sealed."""
    stamp = started.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for n in count():
            folder = out_dir / (stamp if n == 0 else f"{stamp}-{n}")
            try:
                folder.mkdir(mode=0o700)
                break
            except FileExistsError:
                continue
    except OSError as exc:
        raise PlanFileError(f"cannot create a run folder in {out_dir}: {exc.strerror}") from None
    paths = save_plan(doc, folder)
    key = signing_key()
    if key is not None:
        sign_plan(paths.json, key)
    try:
        for path in folder.iterdir():
            path.chmod(0o600)
    except OSError as exc:
        raise PlanFileError(f"cannot restrict the files of {folder}: {exc.strerror}") from None
    _write_atomically(out_dir / LATEST, folder.name + "\n")
    _prune(out_dir, keep)
    return folder, paths.document


#: A run folder's name: its start time, and a counter when two started in one second.
_RUN_FOLDER = re.compile(r"(\d{8}T\d{6}Z)(?:-(\d+))?")


def _prune(out_dir: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` run folders (nothing else in ``out_dir``)."""
    runs = []
    for path in out_dir.iterdir():
        match = _RUN_FOLDER.fullmatch(path.name)
        if match and path.is_dir():
            runs.append(((match[1], int(match[2] or 0)), path))
    runs.sort()
    for _, path in runs[: max(0, len(runs) - max(1, keep))]:
        try:
            shutil.rmtree(path)
        except OSError as exc:
            log.warning("cannot delete the old run folder %s: %s", path, exc.strerror)


def _save_apply_report(path: Path, checksum: str, report: ApplyReport) -> None:
    """The apply's counts and every change that did not apply, by kind and key (no labels)."""
    data = {
        "plan": checksum,
        "counts": {s.value: report.count(s) for s in Status},
        "not_applied": [
            {
                "action": r.change.action.value,
                "kind": r.change.key.kind.value,
                "key": r.change.key.id,
                "status": r.status.value,
                "error": r.error,
            }
            for r in report.failures
        ],
    }
    _write_atomically(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o600)
        os.replace(tmp, path)
    except OSError as exc:
        raise PlanFileError(f"cannot write {path}: {exc.strerror}") from None
