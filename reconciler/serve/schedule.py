"""When the next sync runs (pure: every time is a monotonic reading passed in).

- The first sync runs at start, so a fresh server reports a result soon.
- A scheduled full sync runs ``interval_s`` after the previous full run ended, whatever
  started that one: a run triggered by a notification that fell back to a full sync
  counts; one targeted at the records it named does not move the full sync.
- A notification makes a sync due ``debounce_s`` after the first notification of a burst;
  the notifications that arrive meanwhile join that one run. The window is counted from
  the first notification, not the last, so a steady stream of edits in PowerSchool
  cannot postpone the sync forever.
- Runs never overlap. A notification that arrives during a run opens a new window, so
  exactly one more run follows, as soon as the current one ends (and its window closes).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Trigger(str, Enum):
    """What started a run."""

    STARTUP = "startup"
    SCHEDULE = "schedule"
    WEBHOOK = "webhook"


@dataclass
class Schedule:
    """The sync schedule's state. Not thread-safe: its owner holds a lock around it."""

    interval_s: float
    debounce_s: float
    #: When the scheduled sync is due.
    scheduled_at: float
    #: When the notifications received since the last run began are due, if any came.
    events_due_at: float | None = None
    #: Notifications received since the last run began.
    pending: int = 0
    running: bool = False
    started: int = 0

    @classmethod
    def starting(cls, now: float, *, interval_s: float, debounce_s: float) -> Schedule:
        """A schedule whose first run (the startup run) is due at once."""
        return cls(interval_s=interval_s, debounce_s=debounce_s, scheduled_at=now)

    def notify(self, now: float) -> float:
        """Record a notification; returns when the sync it joins is due (at the earliest)."""
        self.pending += 1
        if self.events_due_at is None:
            self.events_due_at = now + self.debounce_s
        return self.events_due_at

    def due_at(self) -> float | None:
        """When the next run may begin; None while one runs (the next is decided when it ends)."""
        if self.running:
            return None
        if self.events_due_at is None:
            return self.scheduled_at
        return min(self.scheduled_at, self.events_due_at)

    def begin(self, now: float) -> Trigger | None:
        """Start a run if one is due at ``now``: what triggered it; None when none is due.
        The notifications received so far are served by this run."""
        due = self.due_at()
        if due is None or due > now:
            return None
        if self.started == 0:
            trigger = Trigger.STARTUP
        elif self.events_due_at is not None and self.events_due_at <= self.scheduled_at:
            trigger = Trigger.WEBHOOK
        else:
            trigger = Trigger.SCHEDULE
        self.running = True
        self.started += 1
        self.events_due_at = None
        self.pending = 0
        return trigger

    def end(self, now: float, *, full: bool = True) -> None:
        """The run ended at ``now``: after a full one, the next scheduled sync is one
        interval away; a targeted one leaves it where it was."""
        self.running = False
        if full:
            self.scheduled_at = now + self.interval_s
