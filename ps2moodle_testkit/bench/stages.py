"""The tool's side of a run: one stage (plan, or apply of a saved plan) in a fresh process.

Each stage runs in a process of its own, so its peak memory is the stage's alone, and
does what ``ps2moodle plan`` and ``ps2moodle apply plan.json`` do, step by step so each
step can be timed: I/O steps (the PowerSchool read, Moodle reads and writes) by wall
time, pure steps (desired state, diff and safety, the plan document and its renderings;
loading and checking a saved plan) by the CPU time of the thread running them.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection as PipeEnd
from pathlib import Path
from typing import Any, TypeVar

from ps2moodle_testkit.bench.metering import MeteredTransport, Meters
from ps2moodle_testkit.bench.notified import STEP, notify_and_sync
from ps2moodle_testkit.bench.profiling import Profiles
from reconciler.apply import Status
from reconciler.config.model import Config, Connection
from reconciler.desired import build_desired
from reconciler.gradework import GradeAnswers, Probe
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.grades import read_graded_items
from reconciler.moodle.roles import RoleMap
from reconciler.pipeline import Scope, decide, read_for_apply, read_moodle, read_rosters, run_apply
from reconciler.plan.file import build_document, read_plan
from reconciler.plan.stale import find_stale
from reconciler.powerschool.roster import Roster
from reconciler.powerschool.source import fetch_roster
from reconciler.render.files import save_plan
from reconciler.serve.targeted import SchoolIndex

T = TypeVar("T")

PLAN = "plan"
APPLY = "apply"
#: Run d's one stage: a notification's targeted sync (:mod:`.notified`).
NOTIFIED = "notified"


@dataclass(frozen=True)
class StageSpec:
    """One stage to run: ``stage`` is :data:`PLAN` or :data:`APPLY`; the saved plan lives
    in ``folder``; ``environment`` holds the secrets the config refers to."""

    stage: str
    config: Config
    environment: dict[str, str]
    year_id: int
    folder: Path
    profile: bool = False
    #: Count the Moodle requests on the client's side (a Moodle that is not the emulator).
    meter_moodle: bool = False
    #: NOTIFIED only: the notification bodies, and where serve last saw each record.
    bodies: tuple[str, ...] = ()
    index: SchoolIndex | None = None


@dataclass
class StageResult:
    """What one stage did and what it cost on the tool's side."""

    stage: str
    wall_s: float = 0.0
    #: Wall seconds of every step, in order.
    steps: dict[str, float] = field(default_factory=dict)
    #: CPU seconds of the pure steps (the thread running them).
    middle_cpu: dict[str, float] = field(default_factory=dict)
    #: CPU seconds of the I/O steps, every thread of the tool (the client side's own work).
    client_cpu: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    #: The plan's changes by kind and action (planned, or applied with their outcome).
    changes: dict[str, dict[str, int]] = field(default_factory=dict)
    outcome: dict[str, int] = field(default_factory=dict)
    verdict: list[str] = field(default_factory=list)
    profile: dict[str, str] = field(default_factory=dict)
    #: The Moodle requests counted on the client's side, when asked for (``Meters.snapshot``).
    moodle_meters: dict[str, Any] | None = None
    #: NOTIFIED only: how the run ended and what it was targeted at.
    note: str = ""

    @property
    def cpu_middle_s(self) -> float:
        return sum(self.middle_cpu.values())


class StageFailed(RuntimeError):
    """The stage's process failed; the message holds its traceback."""


def run_stage(spec: StageSpec) -> StageResult:
    """Run ``spec`` in a fresh process and return what it measured."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(child, spec), daemon=True)
    process.start()
    child.close()
    try:
        ok, answer = parent.recv()
    except EOFError:
        ok, answer = False, f"the {spec.stage} process died (exit code {process.exitcode})"
    process.join()
    if not ok:
        raise StageFailed(answer)
    assert isinstance(answer, StageResult)
    return answer


def _child(conn: PipeEnd, spec: StageSpec) -> None:
    try:
        os.environ.update(spec.environment)
        conn.send((True, _Stage(spec).run()))
    except BaseException:  # report everything, this process is about to end anyway
        conn.send((False, traceback.format_exc()))
    finally:
        conn.close()


class _Stage:
    def __init__(self, spec: StageSpec) -> None:
        self.spec = spec
        self.profiles = Profiles() if spec.profile else None
        self.result = StageResult(spec.stage)

    def run(self) -> StageResult:
        meters = Meters() if self.spec.meter_moodle else None
        transport = MeteredTransport(meters) if meters is not None else None
        started = time.perf_counter()
        if self.spec.stage == NOTIFIED:
            self.notified()
        else:
            self.plan_or_apply(transport)
        self.result.wall_s = time.perf_counter() - started
        if meters is not None:
            self.result.moodle_meters = meters.snapshot()
        self.result.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if self.profiles is not None:
            self.result.profile = self.profiles.report()
        return self.result

    def notified(self) -> None:
        spec = self.spec
        done = self.io(
            STEP,
            lambda: notify_and_sync(spec.config, spec.bodies, spec.index or SchoolIndex(), spec.year_id, spec.folder),
        )
        self.result.outcome = done.counts
        self.result.note = (
            f"{done.outcome}, targeted at {done.target}" if done.target else f"{done.outcome}, a full run"
        )

    def plan_or_apply(self, transport: MeteredTransport | None) -> None:
        with MoodleClient.from_settings(self.spec.config.moodle, transport=transport) as moodle:
            if self.spec.stage == PLAN:
                self.plan(moodle)
            else:
                self.apply(moodle)

    def io(self, name: str, step: Callable[[], T]) -> T:
        context = self.profiles.io() if self.profiles else nullcontext()
        cpu = time.process_time()
        result = self._timed(name, step, context)
        self.result.client_cpu[name] = time.process_time() - cpu
        return result

    def pure(self, name: str, step: Callable[[], T]) -> T:
        context = self.profiles.pure() if self.profiles else nullcontext()
        cpu = time.thread_time()
        result = self._timed(name, step, context)
        self.result.middle_cpu[name] = time.thread_time() - cpu
        return result

    def _timed(self, name: str, step: Callable[[], T], context: AbstractContextManager[Any]) -> T:
        started = time.perf_counter()
        with context:
            result = step()
        self.result.steps[name] = time.perf_counter() - started
        return result

    def plan(self, moodle: MoodleClient) -> None:
        config, year_id = self.spec.config, self.spec.year_id

        def read(connection: Connection) -> Roster:
            return fetch_roster(connection, year_id=year_id)

        roles = RoleMap.from_settings(config.moodle)
        rosters = self.io("powerschool read", lambda: read_rosters(config, read))
        desired = self.pure("desired state", lambda: build_desired(config, rosters))
        live = self.io("moodle read", lambda: read_moodle(moodle, desired, Scope.ALL, roles))
        checked: list[tuple[float, float]] = []

        def grades(probes: Sequence[Probe]) -> GradeAnswers:
            # Asked from inside the diff step: timed apart and taken out of its figures.
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return read_graded_items(moodle, probes)
            finally:
                checked.append((time.perf_counter() - started, time.thread_time() - cpu))

        run = self.pure("diff and safety", lambda: decide(config, desired, live, scope=Scope.ALL, grades=grades))
        for wall, cpu in checked:
            self.result.steps["diff and safety"] -= wall
            self.result.middle_cpu["diff and safety"] -= cpu
            self.result.steps["moodle grade check"] = wall
            self.result.client_cpu["moodle grade check"] = cpu

        doc = self.pure(
            "plan document",
            lambda: build_document(
                run.plan,
                config_digest=config.digest,
                scope=run.scope_text,
                verdict=run.verdict,
                created_at=datetime.now(UTC),
            ),
        )
        self.pure("plan file and renderings", lambda: save_plan(doc, self.spec.folder))
        self.result.changes = run.plan.counts()
        self.result.verdict = list(run.verdict.violations)

    def apply(self, moodle: MoodleClient) -> None:
        config = self.spec.config
        roles = RoleMap.from_settings(config.moodle)
        doc = self.pure("load saved plan", lambda: read_plan(self.spec.folder / "plan.json"))
        saved = doc.plan
        if not doc.verdict.ok:
            raise StageFailed("the safety checks refused the plan: " + "; ".join(doc.verdict.violations))
        live = self.io("moodle read", lambda: read_for_apply(moodle, saved, roles))
        stale = self.pure("stale check", lambda: find_stale(saved, live))
        if stale:
            raise StageFailed("the saved plan is stale: " + "; ".join(stale[:5]))
        report = self.io("moodle writes", lambda: run_apply(config, moodle, saved, live, roles=roles))
        self.result.changes = saved.counts()
        self.result.outcome = {status.value: report.count(status) for status in Status}
        self.result.outcome |= {"deadlocks": report.deadlocks, "split batches": report.split_batches}
