"""Execute a plan through the Moodle writer: in order, in batches, past failures.

Changes run in the plan's phase order (creates by dependency, then suspensions, then
removals in reverse dependency order). Within a phase, a change runs once every object
it references has a Moodle id; a change whose parent failed is skipped, not guessed at.
Every outcome is recorded (and appended to the audit log when one is configured).
Nothing here decides *what* to change: apply does exactly what the plan lists, and a
re-run after any failure or interruption converges because the next plan is computed
from what Moodle then holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from enum import Enum
from itertools import groupby
from typing import Protocol

from reconciler.audit import AuditLog
from reconciler.model import Key, Kind
from reconciler.plan.model import Action, Change, Plan

log = logging.getLogger(__name__)

IdMap = MutableMapping[Key, int]


class Status(str, Enum):
    """What became of one change."""

    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class ChangeResult:
    """The outcome of one planned change; ``error`` says why it failed or was skipped."""

    change: Change
    status: Status
    error: str | None = None


class WriterOutcome(Protocol):
    """What the Moodle writer reports per change."""

    @property
    def change(self) -> Change: ...
    @property
    def ok(self) -> bool: ...
    @property
    def error(self) -> str | None: ...


class Writer(Protocol):
    """The part of the Moodle writer apply needs: one batch of same-kind, same-action changes."""

    def execute(self, kind: Kind, action: Action, changes: Sequence[Change], ids: IdMap) -> Sequence[WriterOutcome]: ...


@dataclass(frozen=True)
class ApplyReport:
    """Every change's outcome, in the order they ran. ``deadlocks``: batches Moodle refused
    with a write error that the same batch re-sent then wrote; ``split_batches``: batches
    refused again, split to find a bad item (both counted by the Moodle writer)."""

    results: tuple[ChangeResult, ...]
    deadlocks: int = 0
    split_batches: int = 0

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status is status)

    @property
    def complete(self) -> bool:
        return all(r.status is Status.APPLIED for r in self.results)

    @property
    def failures(self) -> list[ChangeResult]:
        return [r for r in self.results if r.status is not Status.APPLIED]


Progress = Callable[[int, int], None]


def apply_plan(
    plan: Plan,
    writer: Writer,
    ids: IdMap,
    *,
    audit: AuditLog | None = None,
    plan_checksum: str = "",
    override_reason: str | None = None,
    progress: Progress | None = None,
) -> ApplyReport:
    """Run every change of ``plan``; ``ids`` starts as the live ids and gains created ones.
    With an ``audit`` log, each outcome is recorded under the plan's checksum and the
    override reason the plan carries (if a person overrode the safety checks)."""
    results: list[ChangeResult] = []
    total = len(plan.changes)

    def record(batch: Iterable[ChangeResult]) -> None:
        for result in batch:
            results.append(result)
            if audit is not None:
                audit.record(
                    plan_checksum,
                    result.change.to_dict(),
                    result.status.value,
                    result.error,
                    override_reason=override_reason,
                )
        if progress is not None:
            progress(len(results), total)

    for (_phase, _kind), phase_changes in groupby(plan.changes, key=lambda c: c.sort_key()[:2]):
        record(_run_phase(list(phase_changes), writer, ids))
    return ApplyReport(tuple(results))


def _run_phase(changes: list[Change], writer: Writer, ids: IdMap) -> list[ChangeResult]:
    """One kind's changes of one phase, in waves: a change runs once its references have ids
    (a sub-category waits for its parent created in the same phase)."""
    results: list[ChangeResult] = []
    failed: set[Key] = set()
    pending = changes
    while pending:
        # One pass: a membership test against ``ready`` would be quadratic (300,000 enrolments).
        ready: list[Change] = []
        blocked: list[Change] = []
        for change in pending:
            (ready if all(ref in ids for ref in change.resource.references()) else blocked).append(change)
        if not ready:
            results.extend(_skip(c, ids, failed) for c in blocked)
            break
        for action, batch in groupby(sorted(ready, key=lambda c: list(Action).index(c.action)), key=lambda c: c.action):
            results.extend(_execute(writer, action, list(batch), ids, failed))
        pending = blocked
    return results


def _execute(writer: Writer, action: Action, batch: list[Change], ids: IdMap, failed: set[Key]) -> list[ChangeResult]:
    kind = batch[0].key.kind
    log.info("apply: %s %d %s", action.value, len(batch), kind.value)
    try:
        outcomes = writer.execute(kind, action, batch, ids)
    except Exception as exc:  # a whole batch that could not be sent: every change in it failed
        log.warning("apply: %s %s batch failed: %s", action.value, kind.value, exc)
        failed.update(c.key for c in batch)
        return [ChangeResult(c, Status.FAILED, str(exc)) for c in batch]
    out: list[ChangeResult] = []
    for outcome in outcomes:
        if outcome.ok:
            out.append(ChangeResult(outcome.change, Status.APPLIED))
        else:
            failed.add(outcome.change.key)
            out.append(ChangeResult(outcome.change, Status.FAILED, outcome.error))
    return out


def _skip(change: Change, ids: IdMap, failed: set[Key]) -> ChangeResult:
    missing = [ref for ref in change.resource.references() if ref not in ids]
    cause = "failed" if any(ref in failed for ref in missing) else "is not in Moodle"
    return ChangeResult(change, Status.SKIPPED, f"skipped: {missing[0]} {cause}")
