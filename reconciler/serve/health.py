"""What ``GET /healthz`` says (pure): is the server alive, how did the last run end, when
is the next one. Counts, times and settings only: no personal data, no secret, no error
text (a failed run names its kind of error; the message is in the server's log)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler import __version__
from reconciler.config.model import ServeSettings
from reconciler.serve.sync import RunReport, iso


@dataclass(frozen=True)
class Snapshot:
    """The server's state at one moment, as the service copies it under its lock."""

    settings: ServeSettings
    webhook: bool
    started_at: datetime
    running: bool
    pending: int
    next_run_at: datetime | None
    runs: Mapping[str, int]
    last: RunReport | None


def health(snapshot: Snapshot) -> dict[str, Any]:
    """The ``/healthz`` document."""
    return {
        "status": "ok",
        "tool_version": __version__,
        "started_at": iso(snapshot.started_at),
        "auto_apply": snapshot.settings.auto_apply,
        "webhook": snapshot.webhook,
        "interval_s": snapshot.settings.interval_s,
        "debounce_s": snapshot.settings.debounce_s,
        "running": snapshot.running,
        "pending_notifications": snapshot.pending,
        "next_run_at": None if snapshot.next_run_at is None else iso(snapshot.next_run_at),
        "runs": dict(snapshot.runs),
        "last_run": None if snapshot.last is None else snapshot.last.to_dict(),
    }
