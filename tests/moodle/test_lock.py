"""Issue 11, hole 3: the apply lock, a cohort in Moodle only one writer can create."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from reconciler.config.model import AdoptRule
from reconciler.lock import LOCK_IDNUMBER, LOCK_NAME, ApplyLock, LockHeld
from reconciler.model import Cohort, Key, Kind, State
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.live import read_live
from reconciler.plan.diff import compute_plan


def _lock_cohorts(site: MoodleSite) -> list[int]:
    return sorted(c.id for c in site.cohorts.in_storage_order() if c.idnumber == LOCK_IDNUMBER)


def test_a_second_apply_is_refused_naming_the_holder_until_the_first_lets_go(
    site: MoodleSite, client: MoodleClient
) -> None:
    first = ApplyLock(client)
    first.acquire()
    assert len(_lock_cohorts(site)) == 1
    (cohort,) = [c for c in site.cohorts.in_storage_order() if c.idnumber == LOCK_IDNUMBER]
    assert not cohort.visible  # nobody browsing cohorts trips over it

    with pytest.raises(LockHeld) as held:
        ApplyLock(client).acquire(wait_s=0)
    message = str(held.value)
    assert f"@{socket.gethostname()} (pid {held.value.holder.pid})" in message
    assert held.value.holder.pid > 0 and "since 20" in message and "--lock-timeout" in message
    assert len(_lock_cohorts(site)) == 1  # the refused claim left nothing behind

    first.release()
    assert _lock_cohorts(site) == []
    with ApplyLock(client) as second:
        second.acquire()
        assert second.cohort is not None
    assert _lock_cohorts(site) == []


def test_a_waiting_apply_gets_the_lock_when_the_holder_lets_go(site: MoodleSite, client: MoodleClient) -> None:
    first = ApplyLock(client)
    first.acquire()
    timer = threading.Timer(0.3, first.release)
    timer.start()
    started = time.monotonic()
    second = ApplyLock(client, poll_s=0.05)
    second.acquire(wait_s=10)
    timer.join()
    assert 0.25 < time.monotonic() - started < 5
    assert _lock_cohorts(site) == [second.cohort]
    second.release()


def test_a_lock_whose_process_is_gone_is_broken_at_once(site: MoodleSite, client: MoodleClient) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = ApplyLock(client)
    orphan.acquire()
    orphan._done.set()
    assert orphan.cohort is not None
    cohort = site.cohorts.get(orphan.cohort)
    assert cohort is not None and f"pid={os.getpid()} " in cohort.description
    site.cohorts.put(
        replace(cohort, description=cohort.description.replace(f"pid={os.getpid()}", f"pid={gone.stdout.strip()}"))
    )

    taker = ApplyLock(client)
    taker.acquire(wait_s=0)
    assert taker.cohort != orphan.cohort and _lock_cohorts(site) == [taker.cohort]
    taker.release()


def test_a_lock_not_renewed_for_its_lease_is_broken_and_its_holder_told(site: MoodleSite, client: MoodleClient) -> None:
    lost: list[str] = []
    holder = ApplyLock(client, lease_s=0.4, on_lost=lost.append)
    holder.acquire()
    # Another machine whose clock reads a minute later sees the lease run out.
    later = ApplyLock(client, clock=lambda: datetime.now(UTC) + timedelta(minutes=1))
    later.acquire(wait_s=0)
    deadline = time.monotonic() + 5
    while not lost and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lost and "the apply lock was lost: another process broke it as stale" in lost[0]
    assert _lock_cohorts(site) == [later.cohort]
    holder.release()  # lets go of nothing: the lock is the other's now
    assert _lock_cohorts(site) == [later.cohort]
    later.release()


def test_the_holder_renews_its_lease_so_it_is_never_stale(site: MoodleSite, client: MoodleClient) -> None:
    holder = ApplyLock(client, lease_s=0.4)
    holder.acquire()
    time.sleep(1.0)  # more than two leases
    with pytest.raises(LockHeld):
        ApplyLock(client).acquire(wait_s=0)
    holder.release()


def test_two_claims_in_the_same_instant_leave_one_holder(site: MoodleSite, client: MoodleClient) -> None:
    """Moodle checks the idnumber before it inserts, so two creates racing could both land:
    the lowest id wins and the other backs off."""
    first = ApplyLock(client)
    first.acquire()
    # What a lost race leaves: a second lock cohort (made as Moodle would let it through).
    created = client.call(
        "core_cohort_create_cohorts",
        {"cohorts": [{"categorytype": {"type": "system", "value": ""}, "name": "x", "idnumber": "race"}]},
    )
    twin = int(created[0]["id"])
    client.call(
        "core_cohort_update_cohorts",
        {
            "cohorts": [
                {"id": twin, "categorytype": {"type": "system", "value": ""}, "name": "x", "idnumber": LOCK_IDNUMBER}
            ]
        },
    )
    assert len(_lock_cohorts(site)) == 2
    with pytest.raises(LockHeld) as held:
        ApplyLock(client).acquire(wait_s=0)
    assert held.value.holder.cohort == first.cohort  # the lowest id holds it
    first.release()


def test_the_planner_never_sees_the_lock(site: MoodleSite, client: MoodleClient) -> None:
    """Not an owned cohort to remove, not a foreign one to adopt, even by its own name."""
    lock = ApplyLock(client)
    lock.acquire()
    same_name = Cohort(Key(Kind.COHORT, "ps2m:d:cohort:grade_level:09"), name=LOCK_NAME)
    desired = State.of([same_name])
    live = read_live(client, desired, kinds={Kind.COHORT})
    assert live.resources == {} and live.foreign == {}
    plan = compute_plan(desired, live, kinds=frozenset({Kind.COHORT}), adopt=[AdoptRule("cohort", "*")])
    assert [(c.action.value, c.key.id) for c in plan.changes] == [("create", same_name.key.id)]
    assert compute_plan(State(), live, kinds=frozenset({Kind.COHORT})).changes == ()
    lock.release()
