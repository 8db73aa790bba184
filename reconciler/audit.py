"""The audit log: one JSON line per applied change, appended and fsync-ed as it happens.

Auditors read it to learn what an apply did, when, under which reviewed plan (its
checksum) and whether a safety override was in force. A line names an object by kind
and key only (keys are built from PowerSchool ids), never by its label or attributes, so
the log holds no names or emails; it never holds a secret.

Each line is written with a single ``write`` on a descriptor opened with ``O_APPEND`` and
then fsync-ed, under a lock: threads of one apply never interleave, and a line that was
recorded survives a crash.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from reconciler.errors import ReconcilerError

#: What became of a change (the values of :class:`reconciler.apply.Status`).
Outcome = Literal["applied", "failed", "skipped"]
OUTCOMES: tuple[str, ...] = ("applied", "failed", "skipped")


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
    ) -> None:
        """Append the outcome of one change (its ``action``, ``kind`` and ``key``) of the plan
        with this checksum. ``override_reason`` is the plan's recorded override, if any."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
        self._append(
            {
                "event": "change",
                "plan": plan_checksum,
                "action": change_dict["action"],
                "kind": change_dict["kind"],
                "key": change_dict["key"],
                "outcome": outcome,
                "error": error,
                "override_reason": override_reason,
            }
        )

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

    def _append(self, entry: dict[str, Any]) -> None:
        line = {"time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"), **entry}
        data = (json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
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
