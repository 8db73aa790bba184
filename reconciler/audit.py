"""The audit log: JSON lines appended and fsync-ed as an apply happens.

Auditors read it to learn what an apply did, when, by whom, under which reviewed plan
(its checksum) and whether a safety override was in force. One apply (a *run*) writes:

- ``start``: the plan checksum, the plan file, the Moodle URL, the OS user, host and pid;
- ``sending`` before every write call (the changes it carries) and ``answered`` after it
  (each change's outcome in that call), so at any moment, a ``kill -9`` included, every
  write Moodle may have received is on record, and only calls in flight lack an answer;
- ``change``: each change's final outcome (applied, failed, skipped, unknown);
- ``end``, or ``interrupted`` (a signal or a lost lock stopped it: calls in flight were
  waited for and recorded);
- ``recovered``: a later run found this run's start without an end, read back the
  changes of its unanswered calls, and records what they became.

Every run line carries the run id and the plan checksum. A line names an object by kind
and key only (keys are built from PowerSchool ids), never by its label or attributes, so
the log holds no names or emails; it never holds a secret.

Each line is written with a single ``write`` on a descriptor opened with ``O_APPEND`` and
then fsync-ed, under a lock: threads of one apply never interleave, and a line that was
recorded survives a crash.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from reconciler.errors import ReconcilerError

#: What became of a change (the values of :class:`reconciler.apply.Status`).
Outcome = Literal["applied", "failed", "skipped", "unknown"]
OUTCOMES: tuple[str, ...] = ("applied", "failed", "skipped", "unknown")
#: The audit log's file name beside the plan files when the config names none.
DEFAULT_NAME = "audit.jsonl"
#: Events that close a run.
_CLOSING = frozenset({"end", "interrupted"})


def default_path(plan_dir: str | os.PathLike[str]) -> Path:
    """Where the audit log goes when the config's ``audit_log`` is not set: beside the plans."""
    return Path(plan_dir) / DEFAULT_NAME


def actor() -> dict[str, Any]:
    """Who is applying: the OS user, the host and the process id."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's bare uid)
        user = str(os.getuid())
    return {"user": user, "host": socket.gethostname(), "pid": os.getpid()}


class AuditLog:
    """An append-only JSON-lines file. Safe to share between threads; close it when done.

    Usage::

        with AuditLog("/var/log/ps2moodle/audit.jsonl") as audit:
            audit.record_override(checksum, "back-to-school rollover", violations)
            audit.record(checksum, {"action": "create", "kind": "user", "key": key}, "applied", None)
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            if _torn(self.path):  # a process killed mid-line: start ours on a line of its own
                os.write(self._fd, b"\n")
        except OSError as exc:
            raise ReconcilerError(f"cannot open audit log {self.path}: {exc.strerror}") from None

    def record(
        self,
        plan_checksum: str,
        change_dict: Mapping[str, Any],
        outcome: str,
        error: str | None,
        *,
        override_reason: str | None = None,
        run: str | None = None,
    ) -> None:
        """Append the outcome of one change (its ``action``, ``kind`` and ``key``) of the plan
        with this checksum. ``override_reason`` is the plan's recorded override, if any;
        ``run`` the apply run's id."""
        self.record_all(plan_checksum, [(change_dict, outcome, error)], override_reason=override_reason, run=run)

    def record_all(
        self,
        plan_checksum: str,
        outcomes: Iterable[tuple[Mapping[str, Any], str, str | None]],
        *,
        override_reason: str | None = None,
        run: str | None = None,
    ) -> None:
        """:meth:`record` for many changes (each its change, outcome and error) with one
        write and one fsync."""
        entries: list[dict[str, Any]] = []
        for change_dict, outcome, error in outcomes:
            if outcome not in OUTCOMES:
                raise ValueError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
            entries.append(
                {
                    "event": "change",
                    **({} if run is None else {"run": run}),
                    "plan": plan_checksum,
                    "action": change_dict["action"],
                    "kind": change_dict["kind"],
                    "key": change_dict["key"],
                    "outcome": outcome,
                    "error": error,
                    "override_reason": override_reason,
                }
            )
        self._append(*entries)

    def record_event(self, event: str, plan_checksum: str, **fields: Any) -> None:
        """Append one line of ``event`` for the plan with this checksum."""
        self._append({"event": event, "plan": plan_checksum, **fields})

    def record_override(self, plan_checksum: str, reason: str, violations: Sequence[str]) -> None:
        """Append that the plan with this checksum is applied despite the safety gate's
        ``violations``, and the written reason a person gave."""
        self._append({"event": "override", "plan": plan_checksum, "reason": reason, "violations": list(violations)})

    def close(self) -> None:
        """Close the file; later records raise."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _append(self, *entries: Mapping[str, Any]) -> None:
        """Write whole lines in one ``write`` and fsync them."""
        if not entries:
            return
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        lines = (json.dumps({"time": now, **entry}, sort_keys=True, ensure_ascii=False) + "\n" for entry in entries)
        data = "".join(lines).encode("utf-8")
        with self._lock:
            if self._fd is None:
                raise ReconcilerError(f"audit log {self.path} is closed")
            try:
                view = memoryview(data)
                while view:  # a regular file rarely writes short, but never lose the tail
                    view = view[os.write(self._fd, view) :]
                os.fsync(self._fd)
            except OSError as exc:
                raise ReconcilerError(f"cannot write audit log {self.path}: {exc.strerror}") from None


def _torn(path: Path) -> bool:
    """Whether the file's last line lacks its newline."""
    with path.open("rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        if end == 0:
            return False
        handle.seek(end - 1)
        return handle.read(1) != b"\n"


class AuditRun:
    """One apply's lines in an audit log, each carrying the run's id and plan checksum.
    Safe to share between the writer's threads."""

    def __init__(self, log: AuditLog, plan_checksum: str, *, override_reason: str | None = None) -> None:
        self.log = log
        self.plan = plan_checksum
        self.override_reason = override_reason
        self.id = secrets.token_hex(6)

    def start(self, *, plan_file: str, plan_copy: str, moodle: str, changes: int) -> None:
        """The run begins: what it applies (the plan file, and the copy kept until it
        ends), to which Moodle, and who runs it."""
        self._event("start", plan_file=plan_file, plan_copy=plan_copy, moodle=moodle, changes=changes, **actor())

    def sending(self, call: int, function: str, changes: Sequence[Mapping[str, Any]]) -> None:
        """Write call number ``call`` is about to carry ``changes`` (action, kind, key each)."""
        self._event("sending", call=call, function=function, changes=[_ref(c) for c in changes])

    def answered(self, call: int, function: str, outcomes: Sequence[tuple[Mapping[str, Any], str, str | None]]) -> None:
        """Write call ``call`` ended: each change's (action, kind, key) outcome and error in it."""
        self._event(
            "answered",
            call=call,
            function=function,
            changes=[{**_ref(c), "outcome": outcome, "error": error} for c, outcome, error in outcomes],
        )

    def changes(self, outcomes: Iterable[tuple[Mapping[str, Any], str, str | None]]) -> None:
        """Changes' final outcomes (each its action, kind and key, outcome and error)."""
        self.log.record_all(self.plan, outcomes, override_reason=self.override_reason, run=self.id)

    def finish(self, tally: Mapping[str, int], *, stopped: str | None = None) -> None:
        """The run ended (``end``), or was stopped for ``stopped`` (``interrupted``)."""
        if stopped is None:
            self._event("end", outcomes=dict(tally), **actor())
        else:
            self._event("interrupted", reason=stopped, outcomes=dict(tally), **actor())

    def recovered(self, earlier: Mapping[str, Any], change: Mapping[str, Any], outcome: str, error: str | None) -> None:
        """What a change in flight when run ``earlier`` (its start line) died became, as
        read back now (under that run's plan checksum)."""
        self.log.record_event(
            "recovered",
            str(earlier.get("plan", "")),
            run=self.id,
            of_run=earlier.get("run"),
            **_ref(change),
            outcome=outcome,
            error=error,
        )

    def _event(self, event: str, **fields: Any) -> None:
        self.log.record_event(event, self.plan, run=self.id, **fields)


def _ref(change: Mapping[str, Any]) -> dict[str, Any]:
    return {"action": change["action"], "kind": change["kind"], "key": change["key"]}


def _backwards(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The lines of an audit log, newest first, without reading the whole file when the
    answer is near its end (a torn last line, from a crash mid-write, is skipped)."""
    if not os.path.exists(path):
        return
    try:
        with open(path, "rb") as handle:
            pos = handle.seek(0, os.SEEK_END)
            tail = b""
            while pos > 0:
                step = min(1 << 16, pos)
                pos -= step
                handle.seek(pos)
                lines = (handle.read(step) + tail).split(b"\n")
                tail = lines[0]
                yield from filter(None, map(_entry, reversed(lines[1:])))
            entry = _entry(tail)
            if entry is not None:
                yield entry
    except OSError as exc:
        raise ReconcilerError(f"cannot read audit log {path}: {exc.strerror}") from None


def _entry(line: bytes) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


@dataclass(frozen=True)
class Unfinished:
    """The last run of an audit log, when it has a start but no end (it was killed): its
    start line and the changes of its write calls that never got an answer."""

    start: dict[str, Any]
    in_flight: tuple[dict[str, Any], ...]


def last_unfinished(path: str | os.PathLike[str]) -> Unfinished | None:
    """The log's last run if it never ended and its unanswered calls are not all
    recovered yet (a run recovers the one before it before it starts)."""
    closed: set[str] = set()
    seen: list[dict[str, Any]] = []
    for entry in _backwards(path):
        if entry.get("event") in _CLOSING:
            if not seen:  # the newest line ends a run: nothing is left open (and no need to read on)
                return None
            closed.add(str(entry.get("run")))
        if entry.get("event") != "start":
            seen.append(entry)
            continue
        run = str(entry.get("run"))
        if run in closed:
            return None
        sending: dict[int, list[dict[str, Any]]] = {}
        recovered: set[str] = set()
        for line in reversed(seen):
            event = line.get("event")
            if event == "recovered" and line.get("of_run") == run:
                recovered.add(str(line.get("key")))
            elif line.get("run") != run:
                continue
            elif event == "sending":
                sending[int(line["call"])] = list(line.get("changes") or ())
            elif event == "answered":
                sending.pop(int(line["call"]), None)
        return Unfinished(entry, tuple(c for calls in sending.values() for c in calls if c["key"] not in recovered))
    return None
