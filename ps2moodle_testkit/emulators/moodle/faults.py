"""Fault switches, and the per-call cost and row-lock models of the emulated site.

:class:`Faults` makes the next calls misbehave the way networks and proxies do: a
fixed latency on every call, a few slow calls, a few 5xx answers (by default the call
never reaches Moodle; ``after_processing``: a proxy gave up on a call Moodle then ran),
a few answers cut short after the call ran, a few dropped connections (before Moodle
runs the call, or after, so the client cannot know whether it happened). A revoked token is
:meth:`~.site.MoodleSite.revoke_token`.

:class:`CostModel` makes calls take the time a real site needs: a fixed cost per call
plus a cost per item handled, by function, with a cap on how many calls are served at
once. The defaults are calibrated on the recording site (2 cores, 4 PHP workers).

:class:`RowLocks` makes concurrent write calls contend as they do on PostgreSQL: a call
holds the rows its transaction locks (``ExternalFunction.locks``) for as long as the
cost model says it runs. A call that needs rows another call in flight holds waits for
that call to commit when both lock the shared rows in the same order, and is killed as
the deadlock victim when they lock them in a different order: Moodle then answers
"Error writing to database" for the whole batch and keeps nothing of it
(``shared/golden/moodle/deadlock``). :meth:`Faults.deadlock_next` forces that answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from ps2moodle_testkit.emulators.moodle.errors import MoodleError, dml_write_error

#: How much slower a call runs with 4 calls in flight than alone on the recording site (2
#: cores shared by 4 PHP workers and PostgreSQL): a raw client enrolling 4,810 users in
#: batches of 100, 4 in flight and sorted by user, took 3.8 ms of wall time per enrolment
#: (issue 13), 15.2 ms of one worker's time, where one call alone takes 4.4 ms per
#: enrolment (``timings.txt``: 10 calls of 100 in 4.4 s, after the 20 ms a call).
FOUR_IN_FLIGHT = 15.2 / 4.4

#: ms per item, by function, with 4 calls in flight: the sequential timings of the
#: recording site (``timings.txt``: 12 ms a user created, 4.4 ms an enrolment, 3 ms a
#: user read by field, 0.4 ms an enrolled user read) times :data:`FOUR_IN_FLIGHT` for
#: the writes. With them, the issue's workload (1,049 users, 4,810 enrolments, about 80
#: calls) costs 30 s on 4 workers, against the raw client's measured 33 s.
MEASURED_ITEM_MS: Mapping[str, float] = MappingProxyType(
    {
        "core_user_create_users": round(12.0 * FOUR_IN_FLIGHT, 1),
        "enrol_manual_enrol_users": round(4.4 * FOUR_IN_FLIGHT, 1),
        "core_user_get_users_by_field": 3.0,
        "core_enrol_get_enrolled_users": 0.4,
    }
)

#: Estimated, not measured per item: ``gradereport_user_get_grade_items`` took 40 ms for one
#: user or three (``grades/NOTES.md``), twice a plain call; Moodle builds one user report per
#: user listed, so 5 ms a user listed is charged on top of the call.
#: ``core_enrol_get_enrolled_users_with_capability`` builds each user listed as
#: ``get_enrolled_users`` does (0.4 ms, measured there); its items also count each course
#: listed as :data:`~.functions.enrol.COURSE_ITEMS` users.
ESTIMATED_ITEM_MS: Mapping[str, float] = MappingProxyType(
    {"gradereport_user_get_grade_items": 5.0, "core_enrol_get_enrolled_users_with_capability": 0.4}
)


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


class Deadlock(Exception):
    """A call chosen as the victim of a deadlock."""


@dataclass
class _Holder:
    #: Each row's position in the order the call locks them.
    order: dict[Hashable, int]
    until: float


class RowLocks:
    """The rows the write calls in flight hold until they commit (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._holders: list[_Holder] = []
        #: Calls killed as deadlock victims so far.
        self.deadlocks = 0

    def admit(self, rows: Sequence[Hashable], seconds: float) -> float:
        """Admit a call that locks ``rows`` (in that order) and works ``seconds``: returns
        the seconds it first waits for calls holding some of them, or raises
        :class:`Deadlock` when one of those locks them in a different order."""
        order: dict[Hashable, int] = {}
        for row in rows:
            order.setdefault(row, len(order))
        with self._lock:
            now = self._clock()
            self._holders = [h for h in self._holders if h.until > now]
            wait = 0.0
            for holder in self._holders:
                theirs = [holder.order[row] for row in order if row in holder.order]
                if not theirs:
                    continue
                if theirs != sorted(theirs):
                    self.deadlocks += 1
                    raise Deadlock
                wait = max(wait, holder.until - now)
            if order:
                self._holders.append(_Holder(order, now + wait + seconds))
            return wait


@dataclass(frozen=True)
class Admission:
    """A validated call let in to run: the seconds it takes (lock waits included), or the
    error it is refused with after taking them."""

    seconds: float
    refused: MoodleError | None = None


def deadlock_victim() -> MoodleError:
    """What Moodle answers for a batch PostgreSQL killed as a deadlock victim: the
    generic write error (the log holds the reason; debugging shows it)."""
    return dml_write_error("ERROR:  deadlock detected")


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
        self._deadlocks = 0

    def deadlock_next(self, count: int = 1) -> None:
        """The next ``count`` calls that lock rows (batch enrolments, role assignments,
        group members) are killed as deadlock victims: nothing of them is kept."""
        with self._lock:
            self._deadlocks += count

    def take_deadlock(self) -> bool:
        """Whether the call starting now, which locks rows, is a deadlock victim."""
        with self._lock:
            if self._deadlocks:
                self._deadlocks -= 1
                return True
            return False

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
            self._deadlocks = 0

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
