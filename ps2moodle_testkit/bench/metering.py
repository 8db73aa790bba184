"""The benchmark's cost models, and what they count on the server side.

Both emulators run behind a cost model taken from real servers, and both count every
request that reaches them, by endpoint:

- :class:`MeteredPowerSchool` wraps the PowerSchool emulator: every request takes
  ``page_s`` (50 ms a page on a real server), served as concurrently as the client asks.
  It also remembers the ``/count`` answers, so the minimum number of pages the records
  need at the plugin's page size can be worked out afterwards.
- :class:`MeteredMoodle` wraps the Moodle emulator's handler, whose
  :class:`~ps2moodle_testkit.emulators.moodle.faults.CostModel` (per-call plus per-item costs,
  at most ``max_concurrent`` calls served at once) is replaced by :class:`MeteredCost`,
  which records each call's modelled time. The wrapper counts, per function, the calls,
  the distinct calls, and the form fields of the batched list parameter
  (:data:`BATCH_LISTS`), from which the fewest calls ``max_input_vars`` allows follow.

Both also time how long each request was actually served: more than its charge means
the emulator's own work (one Python process, one lock) did not fit in the cost model.

Against a staging Moodle (real writes, no cost model) the same counts are taken on the
client's side by :class:`MeteredTransport`: the seconds charged are the seconds each
request took.

Counters are read and reset together by :meth:`snapshot`, between the stages of a run.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ps2moodle_testkit.emulators.http import Handler, Reply
from ps2moodle_testkit.emulators.moodle.faults import CostModel

#: The list parameter each batched Moodle function takes (moodle-ws.md); functions not
#: listed take one object per call (a course id), so every distinct call is needed.
BATCH_LISTS: Mapping[str, str] = {
    "core_user_get_users_by_field": "values",
    "core_user_create_users": "users",
    "core_user_update_users": "users",
    "core_user_delete_users": "userids",
    "core_course_create_categories": "categories",
    "core_course_update_categories": "categories",
    "core_course_create_courses": "courses",
    "core_course_update_courses": "courses",
    "core_cohort_create_cohorts": "cohorts",
    "core_cohort_update_cohorts": "cohorts",
    "core_cohort_delete_cohorts": "cohortids",
    "core_cohort_get_cohort_members": "cohortids",
    "core_cohort_add_cohort_members": "members",
    "core_cohort_delete_cohort_members": "members",
    "core_group_create_groups": "groups",
    "core_group_delete_groups": "groupids",
    "core_group_add_group_members": "members",
    "core_group_delete_group_members": "members",
    "enrol_manual_enrol_users": "enrolments",
    "enrol_manual_unenrol_users": "enrolments",
    "core_role_assign_roles": "assignments",
    "core_role_unassign_roles": "unassignments",
}

_FUNCTION = re.compile(rb"(?:^|&)wsfunction=([A-Za-z0-9_]+)")
_NUMBER = re.compile(r"/\d+(?=/|$)")


@dataclass
class FunctionMeter:
    """What one endpoint or function was asked for during a stage."""

    calls: int = 0
    #: Items handled (batch length for writes, answer length for reads), per the cost model.
    items: int = 0
    #: Items of the batch writes Moodle answered without an error.
    written: int = 0
    #: Seconds the cost model charged, and seconds the server took (more when the
    #: emulator's own work did not fit in the charge).
    modelled_s: float = 0.0
    served_s: float = 0.0
    #: Form fields of the batched list parameter, and the most fields spent on anything else.
    list_fields: int = 0
    other_fields: int = 0
    #: Digests of the distinct requests (a repeated identical request is waste).
    distinct: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "items": self.items,
            "written": self.written,
            "modelled_s": round(self.modelled_s, 6),
            "served_s": round(self.served_s, 6),
            "list_fields": self.list_fields,
            "other_fields": self.other_fields,
            "distinct": len(self.distinct),
        }


class Meters:
    """Per-endpoint meters behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._meters: dict[str, FunctionMeter] = {}
        self._cpu_start = time.process_time()

    def update(self, name: str, **changes: Any) -> None:
        with self._lock:
            meter = self._meters.setdefault(name, FunctionMeter())
            for attribute, value in changes.items():
                if attribute == "distinct":
                    meter.distinct.add(value)
                elif attribute == "other_fields":
                    meter.other_fields = max(meter.other_fields, value)
                else:
                    setattr(meter, attribute, getattr(meter, attribute) + value)

    def snapshot(self) -> dict[str, Any]:
        """Every meter as plain data plus this process's CPU seconds since the last
        snapshot (the server's own work); then start again from zero."""
        with self._lock:
            meters = {name: m.to_dict() for name, m in sorted(self._meters.items())}
            self._meters.clear()
            now = time.process_time()
            cpu, self._cpu_start = now - self._cpu_start, now
        return {"endpoints": meters, "server_cpu_s": round(cpu, 3)}


class MeteredCost(CostModel):
    """The emulator's cost model, recording what each call was charged."""

    def __init__(self, meters: Meters, **settings: Any) -> None:
        super().__init__(**settings)
        self._meters = meters

    def seconds(self, function: str | None, items: int) -> float:
        charged = super().seconds(function, items)
        self._meters.update(function or "(refused)", items=items, modelled_s=charged)
        return charged


class MeteredMoodle:
    """The Moodle emulator's handler, counting calls and form fields by function."""

    def __init__(self, handler: Handler, meters: Meters) -> None:
        self._handler = handler
        self.meters = meters

    def __call__(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Reply:
        started = time.monotonic()
        reply = self._handler(method, path, query, headers, body)
        function, counts = _request_counts(body)
        written = _written(function, body, reply[0], reply[2])
        self.meters.update(function, served_s=time.monotonic() - started, written=written, **counts)
        return reply


class MeteredTransport(httpx.BaseTransport):
    """The Moodle client's transport, counting as :class:`MeteredMoodle` does on the client's
    side (for a Moodle without the emulator): each request is charged the seconds it took,
    and a batch write the items it sent."""

    def __init__(self, meters: Meters, inner: httpx.BaseTransport | None = None) -> None:
        self.meters = meters
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        started = time.monotonic()
        response = self._inner.handle_request(request)
        response.read()
        took = time.monotonic() - started
        function, counts = _request_counts(body)
        items = _list_items(body, BATCH_LISTS.get(function)) if function not in _READS else 0
        written = _written(function, body, response.status_code, response.content)
        self.meters.update(function, served_s=took, modelled_s=took, items=items, written=written, **counts)
        return response

    def close(self) -> None:
        self._inner.close()


#: Batched reads: their items are the answer's, which the client side does not count.
_READS = frozenset({"core_user_get_users_by_field", "core_cohort_get_cohort_members"})


def _request_counts(body: bytes) -> tuple[str, dict[str, Any]]:
    """The function a request body calls, and its counts for :meth:`Meters.update`."""
    found = _FUNCTION.search(body)
    function = found.group(1).decode() if found else "(refused)"
    fields = body.count(b"&") + 1 if body else 0
    batched = _list_fields(body, BATCH_LISTS.get(function))
    digest = hashlib.blake2b(body, digest_size=12).hexdigest()
    return function, {"calls": 1, "list_fields": batched, "other_fields": fields - batched, "distinct": digest}


def _written(function: str, body: bytes, status: int, reply: bytes) -> int:
    """The items a batch write's request carried, when Moodle answered it without an error."""
    if function in _READS or status != 200 or reply.lstrip().startswith(b'{"exception"'):
        return 0
    return _list_items(body, BATCH_LISTS.get(function))


def _list_items(body: bytes, name: str | None) -> int:
    """Items of the list parameter ``name`` (distinct first indexes; the client quotes brackets)."""
    if name is None:
        return 0
    prefix = re.escape(name.encode())
    return len(set(re.findall(rb"(?:^|&)" + prefix + rb"%5B(\d+)%5D", body)))


def _list_fields(body: bytes, name: str | None) -> int:
    """Form fields of the list parameter ``name`` (``name[0][x]``, brackets encoded or not)."""
    if name is None:
        return 0
    total = 0
    for opening in (b"[", b"%5B", b"%5b"):
        prefix = name.encode() + opening
        total += body.count(b"&" + prefix) + body.startswith(prefix)
    return total


class MeteredPowerSchool:
    """The PowerSchool emulator behind a fixed cost per request, counting by endpoint.

    ``emulator`` may be replaced while serving (a changed district); credentials stay.
    """

    def __init__(self, emulator: Handler, meters: Meters, page_s: float) -> None:
        self.emulator = emulator
        self.meters = meters
        self.page_s = page_s

    def __call__(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Reply:
        started = time.monotonic()
        status, reply_headers, reply = self.emulator(method, path, query, headers, body)
        endpoint = f"{method} {_NUMBER.sub('/{id}', path.rstrip('/'))}"
        self.meters.update(endpoint, calls=1, modelled_s=self.page_s)
        if status == 200 and endpoint.endswith("/count"):
            # The records a list holds: its minimum number of pages follows from them.
            self.meters.update(endpoint.removesuffix("/count"), items=_count(reply))
        remaining = self.page_s - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)
        self.meters.update(endpoint, served_s=time.monotonic() - started)
        return status, reply_headers, reply


def _count(reply: bytes) -> int:
    body = json.loads(reply)
    source = body.get("resource", body) if isinstance(body, dict) else {}
    return int(source.get("count", 0)) if isinstance(source, dict) else 0
