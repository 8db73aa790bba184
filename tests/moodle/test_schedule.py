"""Write scheduling: batches sorted by the rows they lock, never two in flight sharing one."""

from __future__ import annotations

import itertools
import random
import threading
import time
from typing import Any

import pytest

from reconciler.moodle.schedule import Batch, plan_batches, row_locks, run_batches


def _enrolment(user: int, course: int) -> dict[str, Any]:
    return {"roleid": 5, "userid": user, "courseid": course}


def _plan(items: list[dict[str, Any]], function: str, limit: int, budget: int = 4997) -> list[Batch[dict[str, Any]]]:
    rows = row_locks(function)
    return plan_batches(items, rows, lambda item: 3, limit=limit, budget=budget)


def test_enrolments_in_plan_order_are_batched_by_user() -> None:
    # Plan order: course by course, each course's students. 40 students in 6 courses each.
    rng = random.Random(3)
    items = [_enrolment(user, course) for course in range(6) for user in rng.sample(range(100, 140), 40)]
    batches = _plan(items, "enrol_manual_enrol_users", limit=30)
    assert sorted(map(repr, (i for b in batches for i in b.items))) == sorted(map(repr, items))
    # Each batch holds whole users (6 enrolments each: 30 = 5 users), ascending.
    for batch in batches:
        users = [item["userid"] for item in batch.items]
        assert users == sorted(users)
        assert batch.rows == {("user", u) for u in users}
    assert [len(b.items) for b in batches] == [30] * 8
    for first, second in itertools.pairwise(batches):
        assert first.rows.isdisjoint(second.rows)


def test_a_user_with_more_items_than_a_batch_spans_consecutive_batches() -> None:
    items = [_enrolment(7, course) for course in range(25)] + [_enrolment(3, 1), _enrolment(9, 1)]
    batches = _plan(items, "enrol_manual_enrol_users", limit=10)
    assert [[i["userid"] for i in b.items] for b in batches] == [[3] + [7] * 8, [7] * 9, [7] * 8 + [9]]
    assert not batches[0].rows.isdisjoint(batches[1].rows)


def test_group_members_lock_their_group_and_creates_keep_their_order() -> None:
    members = [{"groupid": g, "userid": u} for u in range(5) for g in (30, 10, 20)]
    batches = _plan(members, "core_group_add_group_members", limit=5)
    assert [sorted(b.rows) for b in batches] == [[("group", 10)], [("group", 20)], [("group", 30)]]
    users = [{"username": f"u{n}"} for n in (5, 1, 3)]
    (batch,) = _plan(users, "core_user_create_users", limit=10)
    assert batch.items == users and batch.rows == frozenset()


def test_batches_respect_the_field_budget() -> None:
    items = [_enrolment(u, 1) for u in range(10)]
    batches = _plan(items, "enrol_manual_enrol_users", limit=100, budget=12)
    assert [len(b.items) for b in batches] == [4, 4, 2]  # 12 fields hold 4 items of 3


def test_run_batches_never_runs_two_batches_sharing_a_row() -> None:
    rows = [frozenset({("user", n % 3)}) for n in range(12)]
    batches = [Batch([n], r) for n, r in enumerate(rows)]
    lock = threading.Lock()
    in_flight: list[frozenset[Any]] = []
    overlaps: list[int] = []
    peak = [0]

    def send(items: list[int]) -> int:
        mine = rows[items[0]]
        with lock:
            overlaps.extend(items for other in in_flight if not other.isdisjoint(mine))
            in_flight.append(mine)
            peak[0] = max(peak[0], len(in_flight))
        time.sleep(0.01)
        with lock:
            in_flight.remove(mine)
        return items[0] * 10

    assert run_batches(batches, send, workers=4) == [n * 10 for n in range(12)]
    assert overlaps == []
    assert peak[0] == 3  # only three distinct rows: the fourth worker waits


def test_run_batches_raises_the_first_failure_after_the_others_end() -> None:
    finished: list[int] = []

    def send(items: list[int]) -> int:
        if items[0] == 1:
            raise RuntimeError("boom")
        time.sleep(0.01)
        finished.append(items[0])
        return items[0]

    with pytest.raises(RuntimeError, match="boom"):
        run_batches([Batch([n], frozenset({("user", n)})) for n in range(3)], send, workers=3)
    assert sorted(finished) == [0, 2]
