"""The apply lock: at most one apply writes to a Moodle site at a time, from any machine.

The lock is an object in Moodle itself, so it holds across machines with nothing else to
run: a hidden system cohort whose idnumber is :data:`LOCK_IDNUMBER`. Moodle refuses a
second cohort with an idnumber already taken (``invalidparameter``, moodle-ws.md and the
golden recording "duplicate idnumber"), so creating it is the claim. Moodle checks
before it inserts, so two creates in the same instant could both pass: after creating,
the writer reads the lock cohorts back and the lowest id wins; a loser deletes its own
and waits like anyone else. Only ``moodle/cohort:manage`` is needed, which the
least-privilege sync role holds (``leastpriv/CAPABILITIES.md``).

The cohort's description names the holder (OS user, host, pid), when it took the lock
and when it last renewed it. The holder renews it every quarter lease from a thread; a
lock not renewed for a whole lease, or held by a process on this host that is gone, is
stale, and a waiting apply deletes exactly that cohort (by its id, never a newer one) and
claims again. A holder whose lock was broken (or that cannot renew it for a lease) is
told through ``on_lost``, so it stops writing.

The planner never sees this cohort: the Moodle reader skips :func:`is_lock` idnumbers.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler.audit import actor
from reconciler.errors import TargetError
from reconciler.model import OWNED_PREFIX
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.errors import InvalidParameter, MoodleError

log = logging.getLogger(__name__)

#: The idnumber of the lock cohort. No connection can own it: connection names start
#: with a letter or digit, never "_".
LOCK_IDNUMBER = OWNED_PREFIX + "_lock:apply"
LOCK_NAME = "ps2moodle apply lock (do not edit; deleted when the apply ends)"
#: Seconds a lock stays valid without a renewal.
DEFAULT_LEASE_S = 120.0
_FIELD = re.compile(r"(\w+)=(\S+)")
_PLAIN = 2  # FORMAT_PLAIN: Moodle shows the description as it is


def is_lock(idnumber: object) -> bool:
    """Whether a Moodle idnumber is the apply lock's (the reader leaves it out)."""
    return isinstance(idnumber, str) and idnumber.startswith(OWNED_PREFIX + "_lock:")


class LockHeld(TargetError):
    """Another apply holds the lock (and did not let go within the wait)."""

    def __init__(self, holder: Holder, waited_s: float) -> None:
        self.holder = holder
        waited = f" (waited {waited_s:.0f} s)" if waited_s else ""
        super().__init__(
            f"another apply is writing to this Moodle{waited}: {holder.describe()}. Wait for it to end "
            "(--lock-timeout SECONDS waits), or, if that process is gone, the lock is broken once its lease "
            "runs out"
        )


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as its cohort says; ``cohort`` is the cohort's Moodle id."""

    cohort: int
    user: str
    host: str
    pid: int
    since: datetime
    renewed: datetime
    lease_s: float

    def describe(self) -> str:
        age = (datetime.now(UTC) - self.renewed).total_seconds()
        return (
            f"held by {self.user}@{self.host} (pid {self.pid}) since {_iso(self.since)}, "
            f"renewed {age:.0f} s ago (lease {self.lease_s:.0f} s)"
        )

    def stale(self, now: datetime, alive: Callable[[int], bool]) -> str | None:
        """Why this lock may be broken, or None while its holder may still be writing."""
        if (now - self.renewed).total_seconds() > self.lease_s:
            return f"not renewed for more than its {self.lease_s:.0f} s lease"
        if self.host == socket.gethostname() and not alive(self.pid):
            return f"process {self.pid} on this host is gone"
        return None


class ApplyLock:
    """Take with :meth:`acquire`, give back with :meth:`release` (or use ``with``)."""

    def __init__(
        self,
        client: MoodleClient,
        *,
        lease_s: float = DEFAULT_LEASE_S,
        poll_s: float = 5.0,
        on_lost: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.client = client
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.on_lost = on_lost
        self._now = clock or (lambda: datetime.now(UTC))
        self.cohort: int | None = None
        self._since = self._now()
        self._done = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self, wait_s: float = 0.0, *, on_wait: Callable[[Holder], None] | None = None) -> None:
        """Claim the lock, waiting up to ``wait_s`` seconds for a holder to let go (``on_wait``
        hears of each holder waited for); raises :class:`LockHeld` naming the holder when
        it does not."""
        started = time.monotonic()
        waited_for: set[int] = set()
        while True:
            holder = self._claim()
            if holder is None:
                log.info("apply lock taken (cohort %d)", self.cohort)
                self._renewer = threading.Thread(target=self._renew, name="apply-lock", daemon=True)
                self._renewer.start()
                return
            why = holder.stale(self._now(), _alive)
            if why is not None:
                log.warning("apply lock: breaking a stale lock, %s: %s", holder.describe(), why)
                self._delete(holder.cohort)
                continue
            waited = time.monotonic() - started
            if waited >= wait_s:
                raise LockHeld(holder, waited)
            if on_wait is not None and holder.cohort not in waited_for:
                on_wait(holder)
            waited_for.add(holder.cohort)
            time.sleep(min(self.poll_s, max(0.0, wait_s - waited)))

    def release(self) -> None:
        """Give the lock back (delete its cohort); safe to call when not held."""
        self._done.set()
        if self._renewer is not None:
            self._renewer.join()
            self._renewer = None
        if self.cohort is not None:
            self._delete(self.cohort)
            self.cohort = None

    def __enter__(self) -> ApplyLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # Claiming ------------------------------------------------------------------------

    def _claim(self) -> Holder | None:
        """Create the lock cohort; None when this process holds the lock now, else the holder."""
        self._since = self._now()
        mine: int | None = None
        try:
            answer = self.client.call("core_cohort_create_cohorts", {"cohorts": [self._record()]})
            mine = int(MoodleClient.expect_list("core_cohort_create_cohorts", answer, sent=1)[0]["id"])
        except InvalidParameter:
            pass  # the idnumber is taken (Moodle says no more than that): see by whom below
        holders = self._holders()
        if mine is not None and holders and holders[0].cohort == mine:
            self.cohort = mine
            return None
        if mine is not None:
            self._delete(mine)  # created in the same instant as an older claim: back off
        if not holders:
            if mine is None:
                raise TargetError("cannot create the apply lock cohort in Moodle (see `ps2moodle doctor`)")
            return self._claim()  # the winner let go in between: claim again
        return holders[0]

    def _holders(self) -> list[Holder]:
        """The lock cohorts in Moodle, oldest (lowest id) first."""
        answer = self.client.call("core_cohort_get_cohorts", {}, raw=True)
        records = [r for r in MoodleClient.expect_list("core_cohort_get_cohorts", answer) if is_lock(r.get("idnumber"))]
        return sorted((_holder(r) for r in records if r.get("idnumber") == LOCK_IDNUMBER), key=lambda h: h.cohort)

    def _record(self) -> dict[str, Any]:
        who = actor()
        fields = {
            "user": str(who["user"]).replace(" ", "_"),
            "host": str(who["host"]).replace(" ", "_"),
            "pid": who["pid"],
            "since": _iso(self._since),
            "renewed": _iso(self._now()),
            "lease": f"{self.lease_s:g}",
        }
        description = " ".join(f"{k}={v}" for k, v in fields.items())
        return {
            "categorytype": {"type": "system", "value": ""},
            "name": LOCK_NAME,
            "idnumber": LOCK_IDNUMBER,
            "description": description,
            "descriptionformat": _PLAIN,
            "visible": False,
        }

    def _delete(self, cohort: int) -> None:
        try:
            self.client.call("core_cohort_delete_cohorts", {"cohortids": [cohort]})
        except MoodleError as exc:  # already gone (another waiter broke it first), or unreachable
            log.info("apply lock: deleting cohort %d: %s", cohort, exc)

    # Keeping it ----------------------------------------------------------------------

    def _renew(self) -> None:
        """Renew the lease every quarter lease until released; tell ``on_lost`` when the
        lock was broken or could not be renewed for a whole lease."""
        renewed = time.monotonic()
        while not self._done.wait(self.lease_s / 4):
            cohort = self.cohort
            if cohort is None:
                return
            try:
                holders = self._holders()
                if not holders or holders[0].cohort != cohort:
                    self._lost("another process broke it as stale")
                    return
                self.client.call("core_cohort_update_cohorts", {"cohorts": [{**self._record(), "id": cohort}]})
                renewed = time.monotonic()
            except MoodleError as exc:
                log.warning("apply lock: renewing failed: %s", exc)
                if time.monotonic() - renewed > self.lease_s:
                    self._lost(f"it could not be renewed for a whole lease ({exc})")
                    return

    def _lost(self, why: str) -> None:
        self.cohort = None
        log.error("apply lock lost: %s", why)
        if self.on_lost is not None:
            self.on_lost(f"the apply lock was lost: {why}")


def _holder(record: dict[str, Any]) -> Holder:
    fields = dict(_FIELD.findall(str(record.get("description") or "")))
    epoch = datetime.fromtimestamp(0, UTC)
    return Holder(
        cohort=int(record["id"]),
        user=fields.get("user", "?"),
        host=fields.get("host", "?"),
        pid=int(fields["pid"]) if fields.get("pid", "").isdigit() else 0,
        since=_parse(fields.get("since")) or epoch,
        renewed=_parse(fields.get("renewed")) or epoch,
        lease_s=_number(fields.get("lease")) or DEFAULT_LEASE_S,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return pid > 0


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _parse(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


@contextmanager
def apply_lock(
    client: MoodleClient,
    *,
    wait_s: float,
    on_lost: Callable[[str], None],
    on_wait: Callable[[Holder], None] | None = None,
) -> Iterator[ApplyLock]:
    """The apply lock of ``client``'s Moodle, held inside the ``with``."""
    lock = ApplyLock(client, on_lost=on_lost)
    lock.acquire(wait_s, on_wait=on_wait)
    try:
        yield lock
    finally:
        lock.release()
