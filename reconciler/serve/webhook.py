"""PowerSchool change notifications: is one genuine, and what does it name? (pure)

What PowerSchool POSTs to the callback is unconfirmed (reference §12.2). Two things are
known or likely: the body carries the subscription ``key`` the plugin registered, and
PowerSchool may instead authenticate with HTTP Basic (its subscriber table has a BASIC
``SecretKey``). So a notification is genuine when it carries the configured key either
way: as a ``key`` field of the JSON body (at the top level, or one level down, since the
body's wrapper is unknown) or as the password of an ``Authorization: Basic`` header.
Every candidate is compared in constant time.

A notification is only a hint: nothing in it is trusted beyond "this record changed".
The sync it schedules re-reads PowerSchool through the normal client. The records it
names (:func:`named`) only choose what that sync targets: each event's resource path
``/ws/v1/<resource>/<DCID>`` (or a pattern ``/ws/v1/<resource>/*`` beside an ``id``
field), the shape the emulator sends, assumed and unconfirmed. The event types and
resources are logged sanitized, never the values of other fields (they may be personal
data).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from reconciler.serve.targeted import RESOURCES, Named

#: Field names that may hold an event's type or its resource (the subscription's names,
#: and the obvious variants; the real body is unconfirmed).
EVENT_TYPE_FIELDS = ("event_type", "eventType", "event")
RESOURCE_FIELDS = ("resource", "resource_path", "resourcePath", "ref", "entity", "table")

#: A v1 record path: ``/ws/v1/student/123`` or the pattern ``/ws/v1/student/*``.
_RECORD_PATH = re.compile(r"/ws/v1/([a-z_]+)/(\d+|\*)/?")
#: Fields that may hold the record's id beside a pattern.
ID_FIELDS = ("id", "dcid")

#: At most this many key candidates are compared (the body is the sender's to shape).
_MAX_CANDIDATES = 16
#: How deep into the body events are looked for, and how many objects are visited.
_MAX_DEPTH = 4
_MAX_OBJECTS = 2000
#: What survives of a logged event type or resource: path-like text, shortened.
_UNSAFE = re.compile(r"[^A-Za-z0-9_/.*:-]")
_MAX_LABEL = 100


def parse_body(body: bytes) -> Any:
    """The JSON of a notification body, or None when it is empty or not JSON."""
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def is_authentic(key: str, headers: Mapping[str, str], payload: Any) -> bool:
    """Whether the notification carries ``key``: in the JSON body or as the HTTP Basic password.

    ``headers`` has lower-case names. Every candidate is compared, and in constant time, so
    the answer's timing tells nothing about the key.
    """
    expected = key.encode("utf-8")
    candidates = [*_body_keys(payload), *_basic_password(headers)][:_MAX_CANDIDATES]
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate.encode("utf-8"), expected)
    return matched


def _body_keys(payload: Any) -> Iterator[str]:
    """``key`` fields of the body's top-level object, of the objects it holds, or of the
    objects of a top-level list."""
    if isinstance(payload, dict):
        tops = [payload, *(v for v in payload.values() if isinstance(v, dict))]
    elif isinstance(payload, list):
        tops = [v for v in payload if isinstance(v, dict)]
    else:
        tops = []
    for obj in tops:
        value = obj.get("key")
        if isinstance(value, str):
            yield value


def _basic_password(headers: Mapping[str, str]) -> Iterator[str]:
    scheme, _, credentials = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return
    _, colon, password = decoded.partition(":")
    if colon:
        yield password


def summarize(payload: Any) -> Counter[str]:
    """``"<event type> <resource>"`` -> how often the notification names it, for the log.

    Looks at objects up to a few levels deep for the fields of :data:`EVENT_TYPE_FIELDS` and
    :data:`RESOURCE_FIELDS`; anything else in the body is ignored. Empty when none is found.
    """
    seen: Counter[str] = Counter()
    for obj in _objects(payload):
        kind = _label(obj, EVENT_TYPE_FIELDS)
        resource = _label(obj, RESOURCE_FIELDS)
        if kind or resource:
            seen[f"{kind or '?'} {resource or '?'}"] += 1
    return seen


def named(payload: Any) -> tuple[Named, ...]:
    """The records the notification's events name, in order and once each; empty when an
    event names no record this tool knows (the caller then syncs in full)."""
    found: list[Named] = []
    for obj in _objects(payload):
        resource = _label(obj, RESOURCE_FIELDS)
        match = _RECORD_PATH.fullmatch(resource) if resource else None
        if resource and (match is None or match[1] not in RESOURCES):
            return ()  # an event about something else: only a full sync covers it
        if match is None:
            continue
        dcid = match[2] if match[2] != "*" else next((str(obj[f]) for f in ID_FIELDS if f in obj), "")
        if not dcid.isdigit():
            return ()
        found.append(Named(match[1], _label(obj, EVENT_TYPE_FIELDS).upper(), int(dcid)))
    return tuple(dict.fromkeys(found))


def _objects(payload: Any) -> Iterator[dict[str, Any]]:
    """The objects of a JSON value, breadth first, bounded in depth and number."""
    level: list[Any] = [payload]
    visited = 0
    for _ in range(_MAX_DEPTH):
        below: list[Any] = []
        for value in level:
            if isinstance(value, dict):
                visited += 1
                if visited > _MAX_OBJECTS:
                    return
                yield value
                below.extend(value.values())
            elif isinstance(value, list):
                below.extend(value)
        level = below


def _label(obj: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    for name in fields:
        value = obj.get(name)
        if isinstance(value, str) and value:
            return _UNSAFE.sub("", value)[:_MAX_LABEL]
    return ""


def describe(events: Counter[str]) -> str:
    """One log phrase for what a notification names: ``UPDATE /ws/v1/student/* x2, ...``."""
    if not events:
        return "no event type or resource recognized in the body"
    shown = [f"{what} x{n}" if n > 1 else what for what, n in events.most_common(5)]
    more = len(events) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")
