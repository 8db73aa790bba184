"""Execute a plan through the Moodle writer: in order, in batches, past failures.

Changes run in the plan's phase order (creates by dependency, then suspensions, then
removals in reverse dependency order). Within a phase, a change runs once every object
it references has a Moodle id; a change whose parent failed is skipped, not guessed at.
Nothing here decides *what* to change: apply does exactly what the plan lists, and a
re-run after any failure or interruption converges because the next plan is computed
from what Moodle then holds.

Three things keep the record true while it runs:

- every write call is put on record before it is sent and when it is answered (a
  :class:`Journal`, which the writer calls), and every change's outcome after its group;
- a change whose answer was lost (Moodle may have made it) is read back: applied when
  Moodle now holds what it makes, failed when not, unknown only when reading fails too.
  It is never "failed" while it exists, and never resent;
- a :class:`Stop` (a signal, a lost lock) lets the calls in flight finish and be
  recorded, sends nothing more, and reports every change not sent as skipped.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import groupby
from typing import Any, Protocol

from reconciler.audit import AuditRun
from reconciler.errors import ReconcilerError
from reconciler.model import Key, Kind, Resource, State
from reconciler.plan.diff import compared
from reconciler.plan.model import Action, Change, Plan

log = logging.getLogger(__name__)

IdMap = MutableMapping[Key, int]


class Status(str, Enum):
    """What became of one change."""

    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"
    #: Sent, its answer lost, and reading it back failed too: Moodle may or may not hold it.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """The outcome of one planned change; ``error`` says why it failed or was skipped, or,
    for one applied after all, that its answer was lost and it was read back."""

    change: Change
    status: Status
    error: str | None = None


class WriterOutcome(Protocol):
    """What the Moodle writer reports per change (``unknown``: its answer was lost)."""

    @property
    def change(self) -> Change: ...
    @property
    def ok(self) -> bool: ...
    @property
    def error(self) -> str | None: ...
    @property
    def unknown(self) -> bool: ...


class Writer(Protocol):
    """The part of the Moodle writer apply needs: one batch of same-kind, same-action changes."""

    def execute(self, kind: Kind, action: Action, changes: Sequence[Change], ids: IdMap) -> Sequence[WriterOutcome]: ...


#: Moodle as it is now for some changes' objects (a read, for settling lost answers).
ReadBack = Callable[[Sequence[Change]], State]


@dataclass(frozen=True)
class ApplyReport:
    """Every change's outcome, in the order they ran; ``stopped`` says why the apply
    stopped early (a signal, a lost lock), if it did. ``deadlocks``: batches Moodle refused
    with a write error that the same batch re-sent then wrote; ``split_batches``: batches
    refused again, split to find a bad item (both counted by the Moodle writer)."""

    results: tuple[ChangeResult, ...]
    stopped: str | None = None
    deadlocks: int = 0
    split_batches: int = 0

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status is status)

    def tally(self) -> dict[str, int]:
        """Changes by outcome, every outcome named."""
        return {s.value: self.count(s) for s in Status}

    @property
    def complete(self) -> bool:
        return self.stopped is None and all(r.status is Status.APPLIED for r in self.results)

    @property
    def failures(self) -> list[ChangeResult]:
        return [r for r in self.results if r.status is not Status.APPLIED]


Progress = Callable[[int, int], None]


class Stop:
    """Asks a running apply to stop sending (thread- and signal-safe); the first reason wins."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason: str | None = None

    def __call__(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    @property
    def stopped(self) -> bool:
        return self._event.is_set()


class Journal:
    """What the writer tells before and after each write call: recorded in the audit run
    (when there is one); refused once a :class:`Stop` is set. Thread-safe."""

    def __init__(self, stop: Stop, audit: AuditRun | None = None) -> None:
        self.stop = stop
        self.audit = audit
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def refusal(self) -> str:
        """The error of a change the writer did not send because the apply is stopping."""
        return f"not sent: {self.stop.reason}"

    def sending(self, function: str, changes: Sequence[Change]) -> int | None:
        """Number the call about to carry ``changes`` and record it; None: do not send it."""
        if self.stop.stopped:
            return None
        with self._lock:
            call = next(self._numbers)
        if self.audit is not None:
            self.audit.sending(call, function, [change_ref(c) for c in changes])
        return call

    def answered(self, call: int, function: str, results: Sequence[tuple[Change, str | None, bool]]) -> None:
        """Call ``call`` ended: per change, its error (None: done) and whether the answer was lost."""
        if self.audit is not None:
            outcomes = [(change_ref(c), _call_outcome(error, unknown), error) for c, error, unknown in results]
            self.audit.answered(call, function, outcomes)


def apply_plan(
    plan: Plan,
    writer: Writer,
    ids: IdMap,
    *,
    journal: Journal | None = None,
    read_back: ReadBack | None = None,
    progress: Progress | None = None,
) -> ApplyReport:
    """Run every change of ``plan``; ``ids`` starts as the live ids and gains created ones.
    The ``journal`` (the one the writer reports its calls to) records each outcome and can
    stop the run; ``read_back`` settles changes whose answer was lost."""
    results: list[ChangeResult] = []
    total = len(plan.changes)
    stop = journal.stop if journal is not None else Stop()

    def record(batch: Iterable[ChangeResult]) -> None:
        done = list(batch)
        results.extend(done)
        if journal is not None and journal.audit is not None:
            journal.audit.changes((change_ref(r.change), r.status.value, r.error) for r in done)
        if progress is not None:
            progress(len(results), total)

    runner = _Runner(writer, ids, stop, journal, read_back)
    for (_phase, _kind), phase_changes in groupby(plan.changes, key=lambda c: c.sort_key()[:2]):
        runner.run_phase(list(phase_changes), record)
    return ApplyReport(tuple(results), stop.reason)


@dataclass
class _Runner:
    writer: Writer
    ids: IdMap
    stop: Stop
    journal: Journal | None
    read_back: ReadBack | None

    def run_phase(self, changes: list[Change], record: Callable[[Iterable[ChangeResult]], None]) -> None:
        """One kind's changes of one phase, in waves: a change runs once its references have
        ids (a sub-category waits for its parent created in the same phase)."""
        failed: set[Key] = set()
        pending = changes
        while pending:
            if self.stop.stopped:
                record(ChangeResult(c, Status.SKIPPED, f"not sent: {self.stop.reason}") for c in pending)
                return
            # One pass: a membership test against ``ready`` would be quadratic (300,000 enrolments).
            ready: list[Change] = []
            blocked: list[Change] = []
            for change in pending:
                (ready if all(ref in self.ids for ref in change.resource.references()) else blocked).append(change)
            if not ready:
                record(_skip(c, self.ids, failed) for c in blocked)
                return
            order = sorted(ready, key=lambda c: list(Action).index(c.action))
            for action, batch in groupby(order, key=lambda c: c.action):
                record(self.execute(action, list(batch), failed))
            pending = blocked

    def execute(self, action: Action, batch: list[Change], failed: set[Key]) -> list[ChangeResult]:
        kind = batch[0].key.kind
        log.info("apply: %s %d %s", action.value, len(batch), kind.value)
        try:
            outcomes = self.writer.execute(kind, action, batch, self.ids)
        except Exception as exc:  # a whole batch that could not be sent: every change in it failed
            log.warning("apply: %s %s batch failed: %s", action.value, kind.value, exc)
            failed.update(c.key for c in batch)
            return [ChangeResult(c, Status.FAILED, str(exc)) for c in batch]
        out: list[ChangeResult] = []
        lost: list[WriterOutcome] = []
        refusal = self.journal.refusal if self.journal is not None else None
        for outcome in outcomes:
            if outcome.ok:
                out.append(ChangeResult(outcome.change, Status.APPLIED))
            elif outcome.unknown:
                lost.append(outcome)
            elif outcome.error == refusal:
                out.append(ChangeResult(outcome.change, Status.SKIPPED, outcome.error))
            else:
                failed.add(outcome.change.key)
                out.append(ChangeResult(outcome.change, Status.FAILED, outcome.error))
        if lost:
            settled = self.settle(lost)
            failed.update(r.change.key for r in settled if r.status is not Status.APPLIED)
            out += settled
        return out

    def settle(self, lost: Sequence[WriterOutcome]) -> list[ChangeResult]:
        """Changes whose answer was lost, read back: applied when Moodle holds what they make."""
        changes = [o.change for o in lost]
        if self.read_back is None:
            return [ChangeResult(o.change, Status.UNKNOWN, o.error) for o in lost]
        try:
            live = self.read_back(changes)
        except ReconcilerError as exc:
            return [ChangeResult(o.change, Status.UNKNOWN, f"{o.error}; reading it back failed ({exc})") for o in lost]
        out: list[ChangeResult] = []
        for outcome in lost:
            change = outcome.change
            if made(change, live):
                current = live.get(change.key)
                if current is not None and current.moodle_id is not None:
                    self.ids[change.key] = current.moodle_id
                out.append(ChangeResult(change, Status.APPLIED, f"{outcome.error}; read back: done"))
            else:
                why = f"{outcome.error}; read back: {_not_made(change, live)}"
                out.append(ChangeResult(change, Status.FAILED, why))
        return out


def made(change: Change, live: State) -> bool:
    """Whether Moodle, as read in ``live``, holds what ``change`` makes (a removal: the
    object is gone; otherwise it is there with the change's managed values)."""
    current = live.get(change.key)
    if change.action is Action.DELETE:
        return current is None
    if current is None or change.after is None:
        return False
    return not _differing(change.after, current)


def _not_made(change: Change, live: State) -> str:
    current = live.get(change.key)
    if change.action is Action.DELETE:
        return "still in Moodle, so the next plan proposes it again"
    if current is None or change.after is None:
        return "not in Moodle, so the next plan proposes it again"
    fields = ", ".join(_differing(change.after, current))
    return f"in Moodle, but its {fields} not as planned, so the next plan proposes the rest"


def _differing(after: Resource, current: Resource) -> list[str]:
    """The managed attributes Moodle holds otherwise than ``after`` sets them (normalized)."""
    want, have = compared(after, current)
    return [name for name in want if want[name] != have.get(name)]


def _skip(change: Change, ids: Mapping[Key, int], failed: set[Key]) -> ChangeResult:
    missing = [ref for ref in change.resource.references() if ref not in ids]
    cause = "failed" if any(ref in failed for ref in missing) else "is not in Moodle"
    return ChangeResult(change, Status.SKIPPED, f"skipped: {missing[0]} {cause}")


def change_ref(change: Change) -> dict[str, Any]:
    return {"action": change.action.value, "kind": change.key.kind.value, "key": change.key.id}


def _call_outcome(error: str | None, unknown: bool) -> str:
    if error is None:
        return Status.APPLIED.value
    return Status.UNKNOWN.value if unknown else Status.FAILED.value
