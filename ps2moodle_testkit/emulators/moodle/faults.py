"""Fault switches and the per-call cost model of the emulated site.

:class:`Faults` makes the next calls misbehave the way networks and proxies do: a
fixed latency on every call, a few slow calls, a few 5xx answers (by default the call
never reaches Moodle; ``after_processing``: a proxy gave up on a call Moodle then ran),
a few answers cut short after the call ran, a few dropped connections (before Moodle
runs the call, or after, so the client cannot know whether it happened). A revoked token is
:meth:`~.site.MoodleSite.revoke_token`.

:class:`CostModel` makes calls take the time a real site needs: a fixed cost per call
plus a cost per item handled, by function, with a cap on how many calls are served at
once. The defaults are the timings measured on the recording site (2 cores).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

#: Measured on the recording site: ms per item, by function (``timings.txt``).
MEASURED_ITEM_MS: Mapping[str, float] = MappingProxyType(
    {
        "core_user_create_users": 12.0,
        "enrol_manual_enrol_users": 4.0,
        "core_user_get_users_by_field": 3.0,
        "core_enrol_get_enrolled_users": 0.4,
    }
)

#: Estimated, not measured per item: ``gradereport_user_get_grade_items`` took 40 ms for one
#: user or three (``grades/NOTES.md``), twice a plain call; Moodle builds one user report per
#: user listed, so 5 ms a user listed is charged on top of the call.
ESTIMATED_ITEM_MS: Mapping[str, float] = MappingProxyType({"gradereport_user_get_grade_items": 5.0})


@dataclass
class CostModel:
    """Latency = ``per_call_ms`` + ``per_item_ms[function]`` x items, at most ``max_concurrent`` at once.

    Items are the length of the batch for writes and of the result for reads.
    """

    per_call_ms: float = 20.0
    per_item_ms: Mapping[str, float] = field(default_factory=lambda: {**MEASURED_ITEM_MS, **ESTIMATED_ITEM_MS})
    max_concurrent: int = 4

    def seconds(self, function: str | None, items: int) -> float:
        """How long a call of ``function`` handling ``items`` items takes."""
        per_item = self.per_item_ms.get(function or "", 0.0)
        return (self.per_call_ms + per_item * items) / 1000.0


@dataclass(frozen=True)
class FaultPlan:
    """What happens to one call: extra delay, a replacement status (before or after the
    call runs), a body cut short, a dropped connection."""

    delay_s: float = 0.0
    status: int | None = None
    status_after: bool = False
    truncate: bool = False
    drop_before: bool = False
    drop_after: bool = False


class Faults:
    """Switches a test flips to make the next calls fail; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: Seconds added to every call.
        self.latency_s = 0.0
        self._slow: list[float] = []
        self._errors: list[tuple[int, bool]] = []
        self._truncations = 0
        self._drops: list[bool] = []

    def slow_next(self, count: int = 1, seconds: float = 30.0) -> None:
        """The next ``count`` calls each take ``seconds`` longer (long enough to hit client timeouts)."""
        with self._lock:
            self._slow.extend([seconds] * count)

    def fail_next(self, count: int = 1, status: int = 503, *, after_processing: bool = False) -> None:
        """The next ``count`` calls answer ``status`` with a proxy's HTML page; Moodle never
        sees them, unless ``after_processing``: then each call runs first (its writes
        happen) and the proxy's page replaces Moodle's answer."""
        with self._lock:
            self._errors.extend([(status, after_processing)] * count)

    def truncate_next(self, count: int = 1) -> None:
        """The next ``count`` calls run, and their answer is cut off half way (a worker
        killed mid-reply, a proxy's buffer): the client gets a body that is not JSON."""
        with self._lock:
            self._truncations += count

    def drop_next(self, count: int = 1, *, after_processing: bool = False) -> None:
        """Close the next ``count`` connections without a reply.

        With ``after_processing`` the call runs first, so its writes happen but the
        client never learns it.
        """
        with self._lock:
            self._drops.extend([after_processing] * count)

    def clear(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self.latency_s = 0.0
            self._slow.clear()
            self._errors.clear()
            self._truncations = 0
            self._drops.clear()

    def take(self) -> FaultPlan:
        """Consume the faults that apply to the call starting now."""
        with self._lock:
            delay = self.latency_s + (self._slow.pop(0) if self._slow else 0.0)
            if self._drops:
                after = self._drops.pop(0)
                return FaultPlan(delay, None, drop_before=not after, drop_after=after)
            if self._errors:
                status, after = self._errors.pop(0)
                return FaultPlan(delay, status, status_after=after)
            if self._truncations:
                self._truncations -= 1
                return FaultPlan(delay, truncate=True)
            return FaultPlan(delay)
