"""The benchmark's run d: from a PowerSchool change notification to Moodle updated.

One student changes in PowerSchool: renamed, and dropped from one class (a STUDENTS
update and a CC update, picked with the seed). The emulator's notification bodies for
those events go to what ``serve`` does with a notification: the records it names
(:func:`reconciler.serve.webhook.named`), then a run targeted at them, applied
(:func:`reconciler.serve.sync.sync_once`). The timed span starts when the bodies are
handed over and ends when the apply is done: the debounce window, which the config
sets, and the HTTPS delivery (a loopback POST) are not in it. The run starts from what
a running ``serve`` knows, the schools of every record at its last read: that read is
made before the change, outside the timed span and the meters.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from datetime import date
from functools import partial
from pathlib import Path

from ps2moodle_testkit.emulators.changes import drop_class
from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.powerschool.events import Event, changes
from reconciler.apply import Status
from reconciler.config.model import Config
from reconciler.powerschool.source import fetch_roster
from reconciler.serve.schedule import Trigger
from reconciler.serve.sync import Connectors, Outcome, sync_once
from reconciler.serve.targeted import SchoolIndex
from reconciler.serve.webhook import named, parse_body

#: The step run d times.
STEP = "notification to Moodle updated"
#: The subscription key the bodies carry (no HTTP here: nothing checks it).
NOTIFY_KEY = "bench-webhook-key-0123456789"


@dataclass(frozen=True)
class StudentChange:
    """The changed district and the events PowerSchool raises for it."""

    district: District
    events: tuple[Event, ...]

    @property
    def summary(self) -> str:
        return ", ".join(f"{e.event_type} {e.path}" for e in self.events)


def one_student_change(district: District, seed: int) -> StudentChange:
    """Rename one active student with an account and a class, and drop them from it (seeded)."""
    synced = {s.id for s in district.students if s.enroll_status == 0 and s.web_id}
    rows = district.enrolments
    enrolled = sorted(
        (rows.student_id[i], rows.section_id[i])
        for i in range(len(rows))
        if rows.section_id[i] > 0 and rows.student_id[i] in synced
    )
    student_id, section_id = random.Random(seed).choice(enrolled)
    changed = drop_class(district, student_id, section_id, date(district.start_year, 10, 1))
    students = tuple(
        replace(s, last_name=s.last_name + "-Renamed") if s.id == student_id else s for s in changed.students
    )
    changed = replace(changed, students=students)
    return StudentChange(changed, tuple(changes(district, changed)))


def school_index(config: Config, year_id: int) -> SchoolIndex:
    """What serve knows after a full run: where every record of every connection is."""
    index = SchoolIndex()
    for connection in config.connections:
        index.learn({connection.name: fetch_roster(connection, year_id=year_id)})
    return index


@dataclass(frozen=True)
class Notified:
    """What the timed span did: its seconds, the run's target and outcome counts."""

    seconds: float
    target: str
    outcome: str
    counts: dict[str, int]


def notify_and_sync(
    config: Config, bodies: tuple[str, ...], index: SchoolIndex, year_id: int, folder: Path
) -> Notified:
    """Hand ``bodies`` to serve's notification path and run the sync they make due, applied."""
    serve = replace(config.serve, auto_apply=True, out_dir=str(folder))
    connectors = Connectors(roster=partial(fetch_roster, year_id=year_id))
    started = time.perf_counter()
    records = [record for body in bodies for record in named(parse_body(body.encode("utf-8")))]
    report = sync_once(replace(config, serve=serve), Trigger.WEBHOOK, connectors=connectors, named=records, index=index)
    seconds = time.perf_counter() - started
    if report.outcome not in (Outcome.APPLIED, Outcome.NO_CHANGES):
        raise RuntimeError(f"the notified run ended {report.outcome.value} ({report.error or 'see the log'})")
    counts = {s.value: getattr(report, s.value) for s in Status}
    return Notified(seconds, report.target, report.outcome.value, counts)
