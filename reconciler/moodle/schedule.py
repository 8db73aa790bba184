"""Write scheduling: the batches in flight at once never lock the same Moodle rows.

Every batch write runs in one database transaction (``start_delegated_transaction``),
and the row locks it takes are held until it commits. Two batches in flight that lock
the same rows in a different order deadlock: PostgreSQL kills one, and Moodle answers
``dmlwriteexception`` "Error writing to database" for the whole batch, having kept
nothing of it (``shared/golden/moodle/deadlock``). Which rows a write locks, per item
(Moodle 4.5, ``lib/enrollib.php``, ``lib/accesslib.php``, ``group/lib.php``,
``cohort/lib.php``):

- ``enrol_manual_enrol_users``: ``enrol_plugin::enrol_user`` inserts the enrolment, then
  ``role_assign`` (or ``update_user_enrol`` for a re-enrolment) calls
  ``mark_user_dirty($userid)``, an UPDATE of that user's one ``mdl_cache_flags`` row
  (``accesslib/dirtyusers``). The same student enrolled in four courses by four
  batches at once is four transactions after one row: the user.
- ``enrol_manual_unenrol_users``, ``core_role_assign_roles``,
  ``core_role_unassign_roles``: ``role_unassign_all``/``role_assign`` mark the user
  dirty, the same row.
- ``core_cohort_add_cohort_members``, ``core_cohort_delete_cohort_members``: the
  ``mdl_cohort_members`` (cohort, user) entry; and where the site syncs cohorts into
  courses (enrol_cohort), the member's enrolments, hence the user's cache_flags row.
- ``core_group_add_group_members``, ``core_group_delete_group_members``:
  ``groups_add_member``/``groups_remove_member`` UPDATE the group's own row
  (``mdl_groups.timemodified``): every member of one group locks that group.

Creates and updates of distinct objects lock no shared rows (course creation does take
the category rows in ``fix_course_sortorder``, but the site serializes that itself).

:func:`plan_batches` sorts a call's items by the rows they lock and cuts batches at the
boundary between two rows where it can, so each batch locks its rows in ascending order
and holds a row the next one does not; :func:`run_batches` keeps at most ``workers``
batches in flight and never starts one that shares a row with a batch in flight. A
row whose items do not fit one batch is spread over consecutive batches, which then run
one after the other.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: A database row a write locks: ("user", 42) is user 42's cache_flags row.
Row = tuple[str, int]


def _user(field: str) -> Callable[[Any], tuple[Row, ...]]:
    return lambda item: (("user", int(item[field])),)


def _cohort_user(item: Any) -> tuple[Row, ...]:
    return (("user", int(item["usertype"]["value"])),)


def _group(item: Any) -> tuple[Row, ...]:
    return (("group", int(item["groupid"])),)


#: The rows one item of each batch write locks until its batch commits (module docstring).
ROW_LOCKS: Mapping[str, Callable[[Any], tuple[Row, ...]]] = {
    "enrol_manual_enrol_users": _user("userid"),
    "enrol_manual_unenrol_users": _user("userid"),
    "core_role_assign_roles": _user("userid"),
    "core_role_unassign_roles": _user("userid"),
    "core_cohort_add_cohort_members": _cohort_user,
    "core_cohort_delete_cohort_members": _user("userid"),
    "core_group_add_group_members": _group,
    "core_group_delete_group_members": _group,
}


def row_locks(function: str) -> Callable[[Any], tuple[Row, ...]]:
    """How to name the rows one item of ``function`` locks (none for other functions)."""
    return ROW_LOCKS.get(function, _no_rows)


def _no_rows(item: Any) -> tuple[Row, ...]:
    return ()


@dataclass(frozen=True, slots=True)
class Batch(Generic[T]):
    """Items sent in one call, and the rows the call locks."""

    items: list[T]
    rows: frozenset[Hashable]


def plan_batches(
    items: Sequence[T],
    rows: Callable[[T], tuple[Row, ...]],
    fields: Callable[[T], int],
    *,
    limit: int,
    budget: int,
) -> list[Batch[T]]:
    """``items`` in batches of about ``limit`` items and at most ``budget`` form fields.

    Items that lock rows are ordered by them (stably), and a batch ends at a change of
    row rather than part-way through the items of one row when it can (passing ``limit``
    by a few items if need be); items that lock nothing keep their order. As few batches
    as the limits allow, evened out."""
    keyed = [(rows(item), item) for item in items]
    if any(locked for locked, _ in keyed):
        keyed.sort(key=lambda pair: pair[0])
    runs = _runs([(locked, fields(item)) for locked, item in keyed])
    cuts = _cut(runs, limit, budget)
    if len(cuts) > 1:
        even = _cut(runs, math.ceil(len(keyed) / len(cuts)), budget)
        cuts = even if len(even) == len(cuts) else cuts
    batches: list[Batch[T]] = []
    for start, end in zip([0, *cuts], cuts, strict=False):
        part = keyed[start:end]
        batches.append(Batch([item for _, item in part], frozenset(row for locked, _ in part for row in locked)))
    return batches


def _runs(sized: list[tuple[tuple[Row, ...], int]]) -> list[tuple[int, int]]:
    """(items, fields) of each run of consecutive items locking the same rows (each item
    its own run when they lock nothing)."""
    runs: list[tuple[int, int]] = []
    previous: tuple[Row, ...] | None = None
    for locked, size in sized:
        if runs and locked and locked == previous:
            count, used = runs[-1]
            runs[-1] = (count + 1, used + size)
        else:
            runs.append((1, size))
        previous = locked
    return runs


def _cut(runs: list[tuple[int, int]], limit: int, budget: int) -> list[int]:
    """End indexes (in items) of greedy batches. A run that fits a batch of its own is never
    cut: it joins the current batch while that has fewer than ``limit`` items (so a batch
    may pass ``limit`` by part of one run, never the field budget); a larger run fills
    batches in turn."""
    cuts: list[int] = []
    index = count = 0
    used = 0.0
    for run_items, run_fields in runs:
        if run_items <= limit and run_fields <= budget:
            if count and (count >= limit or used + run_fields > budget):
                cuts.append(index)
                count, used = 0, 0.0
            count, used, index = count + run_items, used + run_fields, index + run_items
            continue
        per_item = run_fields / run_items
        for _ in range(run_items):
            if count and (count >= limit or used + per_item > budget):
                cuts.append(index)
                count, used = 0, 0.0
            count, used, index = count + 1, used + per_item, index + 1
    if count:
        cuts.append(index)
    return cuts


def run_batches(batches: Sequence[Batch[T]], send: Callable[[list[T]], R], *, workers: int) -> list[R]:
    """``send`` every batch, at most ``workers`` at once, never two sharing a row; results
    in batch order. Batches start in order, except that one waiting for a row may let a
    later one (that locks none of the rows in flight) go first. The first failure is
    raised once every batch in flight has ended."""
    if workers <= 1 or len(batches) <= 1:
        return [send(batch.items) for batch in batches]
    results: dict[int, R] = {}
    waiting = list(range(len(batches)))
    running: dict[Future[R], int] = {}
    held: set[Hashable] = set()
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="moodle-write") as pool:
        while waiting or running:
            if failure is None:
                for index in list(waiting):
                    if len(running) >= workers:
                        break
                    if batches[index].rows.isdisjoint(held):
                        waiting.remove(index)
                        held |= batches[index].rows
                        running[pool.submit(send, batches[index].items)] = index
            elif not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                index = running.pop(future)
                held -= batches[index].rows
                error = future.exception()
                if error is not None:
                    failure = failure or error
                else:
                    results[index] = future.result()
    if failure is not None:
        raise failure
    return [results[index] for index in range(len(batches))]
