"""Event subscriptions of the emulated PowerSchool (reference §12): the plugin's one set,
and notifications POSTed to its callback URL when the district's data changes.

``PUT /ws/v1/event_subscription`` replaces the set (201 when there was none, 204 when it
replaced one), ``GET`` reads it back wrapped in ``event_subscriptions`` (inferred, like
the PUT body; 404 when there is none), ``DELETE`` removes it (204, or 404 when none).

What PowerSchool POSTs to the callback is unconfirmed (§12.2); only the subscription
``key`` is known to be in it. The emulator sends one JSON object per event:
``{"key", "event_type", "resource", "id"}``, with ``resource`` the changed record's v1
path. A receiver must treat it as a hint, as ``serve`` does. Callbacks go to loopback
addresses only (the emulator never reaches beyond this machine), over HTTPS verified
against ``verify`` (a test CA), from a background thread, as PowerSchool calls later.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from ps2moodle_testkit.emulators.district import District

log = logging.getLogger(__name__)

#: Event types PowerSchool documents per resource (SCHOOL_ENROLLMENT on students only).
EVENT_TYPES = ("INSERT", "UPDATE", "DELETE", "SCHOOL_ENROLLMENT")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class SubscriptionError(ValueError):
    """A subscription PowerSchool would refuse (the message is its answer's)."""


@dataclass(frozen=True, slots=True)
class Event:
    """One change: ``resource`` is the subscription pattern it matches (``/ws/v1/student/*``)."""

    resource: str
    event_type: str
    id: int

    @property
    def path(self) -> str:
        return self.resource.removesuffix("*") + str(self.id)

    def body(self, key: str) -> str:
        """The JSON the emulator POSTs for this event (the real body is unconfirmed)."""
        return json.dumps({"key": key, "event_type": self.event_type, "resource": self.path, "id": self.id})


@dataclass
class EventSubscriptions:
    """The plugin's subscription set and its deliveries. ``verify`` checks the callback's
    certificate; ``deliveries`` records (event, HTTP status or error) in order."""

    verify: ssl.SSLContext | bool = True
    current: dict[str, Any] | None = None
    deliveries: list[tuple[Event, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def put(self, body: Any) -> bool:
        """Replace the set with ``body`` (the PUT's JSON); True when there was none."""
        subscription = body.get("event_subscriptions") if isinstance(body, dict) else None
        if not isinstance(subscription, dict):
            raise SubscriptionError('the body must be {"event_subscriptions": {...}}')
        url = subscription.get("callback_url")
        if not isinstance(url, str) or not url or len(url) > 500:
            raise SubscriptionError("callback_url is required (at most 500 characters)")
        listed = subscription.get("event_subscription")
        entries = listed if isinstance(listed, list) else [listed] if isinstance(listed, dict) else None
        if not entries or not all(isinstance(e, dict) and e.get("resource") and e.get("event_type") for e in entries):
            raise SubscriptionError("event_subscription must list {resource, event_type} objects")
        with self._lock:
            created = self.current is None
            self.current = {"key": str(subscription.get("key", "")), "callback_url": url, "event_subscription": entries}
            return created

    def get(self) -> dict[str, Any] | None:
        with self._lock:
            return None if self.current is None else {"event_subscriptions": dict(self.current)}

    def delete(self) -> bool:
        """Remove the set; False when there was none."""
        with self._lock:
            existed = self.current is not None
            self.current = None
            return existed

    def notify(self, events: Iterable[Event]) -> None:
        """Send each subscribed event to the callback, in the background."""
        with self._lock:
            current = self.current
        if current is None:
            return
        wanted = {(e["resource"], e["event_type"]) for e in current["event_subscription"]}
        chosen = [e for e in events if (e.resource, e.event_type) in wanted]
        if not chosen:
            return
        url = current["callback_url"]
        if urlsplit(url).hostname not in _LOOPBACK:
            raise SubscriptionError(f"the emulator calls back to loopback addresses only, not {url}")
        thread = threading.Thread(target=self._deliver, args=(url, current["key"], chosen), daemon=True)
        self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float = 10.0) -> None:
        """Wait for the deliveries under way (tests)."""
        for thread in list(self._threads):
            thread.join(timeout)

    def _deliver(self, url: str, key: str, events: list[Event]) -> None:
        with httpx.Client(verify=self.verify, timeout=10.0) as client:
            for event in events:
                try:
                    outcome = str(client.post(url, content=event.body(key), headers=_JSON).status_code)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                    log.warning("event callback %s failed: %s", url, outcome)
                with self._lock:
                    self.deliveries.append((event, outcome))


_JSON = {"Content-Type": "application/json"}


def changes(old: District, new: District) -> list[Event]:
    """The events PowerSchool raises when ``old``'s data becomes ``new``'s: inserts,
    updates and deletes of students (a school change as SCHOOL_ENROLLMENT too), staff,
    courses, sections and section enrolments (CC rows, by DCID)."""
    events: list[Event] = []
    tables: list[tuple[str, Callable[[District], Mapping[int, Hashable]]]] = [
        ("/ws/v1/student/*", lambda d: {s.dcid: s for s in d.students}),
        ("/ws/v1/staff/*", lambda d: {s.dcid: s for s in d.school_staff}),
        ("/ws/v1/course/*", lambda d: {c.dcid: c for c in d.courses}),
        ("/ws/v1/section/*", lambda d: {s.dcid: s for s in d.sections}),
        ("/ws/v1/section_enrollment/*", lambda d: {row.dcid: row for row in d.enrolments}),
    ]
    for resource, rows in tables:
        before, after = rows(old), rows(new)
        events += [Event(resource, "INSERT", key) for key in sorted(after.keys() - before.keys())]
        events += [Event(resource, "DELETE", key) for key in sorted(before.keys() - after.keys())]
        events += [
            Event(resource, "UPDATE", key) for key in sorted(after.keys() & before.keys()) if after[key] != before[key]
        ]
    old_students = {s.dcid: s for s in old.students}
    events += [
        Event("/ws/v1/student/*", "SCHOOL_ENROLLMENT", s.dcid)
        for s in new.students
        if s.dcid in old_students and old_students[s.dcid].school_number != s.school_number
    ]
    return events
