"""``serve`` subscribes PowerSchool to its change notifications (reference §12.1).

A plugin has one subscription set: a key, a callback URL and a list of
``{resource, event_type}``; ``PUT /ws/v1/event_subscription`` replaces it whole. At start
``serve`` reads the set, and when it is not the one the config needs, PUTs that one and
reads it back to confirm. The resources are those the sync reads: students (with their
school enrolment changes) and staff always; courses, sections and section enrolments
when the config syncs courses.

The GET answer's shape is inferred (§12.1): wrapped in ``event_subscriptions`` or not, and
a list of one may come back as a single object; both are read. No set at all is a 404.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from reconciler.config.model import Config, Connection, PowerSchoolSettings
from reconciler.errors import ReconcilerError, SourceError
from reconciler.powerschool.client import PowerSchoolClient

log = logging.getLogger(__name__)

PATH = "/ws/v1/event_subscription"
_CHANGES = ("INSERT", "UPDATE", "DELETE")


class Subscribed(str, Enum):
    """What subscribing did."""

    UNCHANGED = "unchanged"  # PowerSchool already had exactly this set
    CREATED = "created"  # there was none
    REPLACED = "replaced"  # there was another set (other resources, key or URL)


@dataclass(frozen=True, slots=True)
class Subscription:
    """One plugin's subscription set, comparable whatever order PowerSchool lists it in."""

    key: str
    callback_url: str
    events: frozenset[tuple[str, str]]

    def body(self) -> dict[str, Any]:
        """The PUT body."""
        listed = [{"resource": r, "event_type": e} for r, e in sorted(self.events)]
        return {
            "event_subscriptions": {"key": self.key, "callback_url": self.callback_url, "event_subscription": listed}
        }


def wanted(connection: Connection, key: str, callback_url: str) -> Subscription:
    """The set ``connection``'s sync needs notifications for."""
    resources = ["student", "staff"]
    if any(s.courses or s.all_courses is not None for s in connection.school_settings):
        resources += ["course", "section", "section_enrollment"]
    events = {(f"/ws/v1/{r}/*", e) for r in resources for e in _CHANGES}
    events.add(("/ws/v1/student/*", "SCHOOL_ENROLLMENT"))
    return Subscription(key, callback_url, frozenset(events))


def current(client: PowerSchoolClient) -> Subscription | None:
    """The plugin's set as PowerSchool has it, or None when there is none."""
    response = client.send("GET", PATH, kind="subscription")
    if response.status_code == 404:
        return None
    return parse(client.decode(response, PATH))


def parse(body: Any) -> Subscription:
    """A GET answer as a :class:`Subscription` (wrapped or not; one entry as an object or a list)."""
    inner = body.get("event_subscriptions", body) if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        raise SourceError(f"PowerSchool answered {PATH} with no subscription object")
    listed = inner.get("event_subscription") or []
    entries: Iterable[Any] = listed if isinstance(listed, list) else [listed]
    events = frozenset(
        (str(e.get("resource", "")), str(e.get("event_type", ""))) for e in entries if isinstance(e, dict)
    )
    return Subscription(str(inner.get("key") or ""), str(inner.get("callback_url") or ""), events)


def subscribe(client: PowerSchoolClient, want: Subscription) -> Subscribed:
    """Make PowerSchool's set ``want``: read it, PUT it when it differs, read it back to
    confirm. A :class:`SourceError` when PowerSchool refuses or keeps another set."""
    found = current(client)
    if found == want:
        return Subscribed.UNCHANGED
    response = client.send("PUT", PATH, body=want.body(), kind="subscription")
    if not response.is_success:
        client.decode(response, PATH)  # raises with PowerSchool's reason
        raise SourceError(f"PowerSchool refused the event subscription (HTTP {response.status_code})")
    confirmed = current(client)
    if confirmed != want:
        raise SourceError(f"PowerSchool accepted the event subscription but {PATH} reads back another one")
    return Subscribed.CREATED if found is None else Subscribed.REPLACED


def describe(want: Subscription) -> str:
    """The set for a log line: resources and event types, the callback URL, never the key."""
    resources = sorted({r for r, _ in want.events})
    return f"{len(want.events)} events on {', '.join(resources)} to {want.callback_url}"


def subscribe_all(
    config: Config, key: str | None, connect: Callable[[PowerSchoolSettings], PowerSchoolClient]
) -> dict[str, Subscribed | None]:
    """Subscribe every connection's PowerSchool, logging what was done; a connection that
    fails is logged and left (the schedule still syncs it). By connection name: what was
    done, or None when it failed. Nothing without a webhook key and ``serve.callback_url``."""
    url = config.serve.callback_url
    if key is None or url is None:
        log.info("event subscriptions: left alone (subscribing needs serve.webhook_key and serve.callback_url)")
        return {}
    done: dict[str, Subscribed | None] = {}
    for connection in config.connections:
        want = wanted(connection, key, url)
        try:
            with connect(connection.powerschool) as client:
                outcome = subscribe(client, want)
        except ReconcilerError as exc:
            log.error("event subscription of %s failed: %s; scheduled syncs go on", connection.name, exc)
            done[connection.name] = None
            continue
        done[connection.name] = outcome
        log.info("event subscription of %s %s: %s", connection.name, outcome.value, describe(want))
    return done
