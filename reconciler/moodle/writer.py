"""Planned changes made true in Moodle: batched, a bad item isolated, nothing blindly resent.

``MoodleWriter.execute`` takes the changes of one kind and action (apply groups them) and
returns one :class:`ChangeOutcome` per change. How each is done (moodle-ws.md §2, §3):

- **batches** of the preferred size, within ``max_input_vars``, several in flight at
  once. Every item lists its optional fields first and a required one last, so a request
  PHP cuts short inside an item fails loudly (and is then split) instead of creating an
  object without its idnumber;
- **no contention**: the batches in flight at once never lock the same rows in Moodle's
  database (:mod:`reconciler.moodle.schedule`: enrolments and role assignments sorted
  and batched by user, group members by group), so they cannot deadlock;
- **a write error on a whole batch** ("Error writing to database": a deadlock with
  another client, or a value the database refuses) is first taken for a deadlock:
  Moodle rolled the batch back, so the same batch is re-sent after a pause (every batch
  write is safe to repeat once rolled back); only when it fails again is it treated as
  holding a bad item. :attr:`MoodleWriter.counts` counts both;
- **all-or-nothing functions** (creates, deletes, enrolments, memberships): when a batch
  fails, it is split in halves until the failing item stands alone and is reported with
  Moodle's reason, while the rest lands;
- **partial-commit functions** (``core_user_update_users``, ``core_course_update_courses``)
  report per-item warnings, matched to changes by Moodle id;
- **lost answers** (no answer, a 5xx, a body cut short: Moodle may have run the call):
  the client repeats idempotent writes itself; a create whose answer is lost is verified
  by reading the idnumbers back (the ids are needed by later phases); any other write
  whose outcome stays unknown is reported with ``unknown`` set, never resent, for the
  caller to read back;
- **creates** must answer for every item sent: fewer means PHP dropped the tail of the
  request, and those items are reported, not guessed at.

Per kind: users are created (internal auths with a generated or initial password, see
:mod:`reconciler.moodle.passwords`) then suspended if planned so (create cannot);
updates, suspensions and adoptions are one ``core_user_update_users`` with the changed
fields (never ``auth``). Enrolments use the manual plugin with the first role, extra
roles through ``core_role_assign_roles``; suspending re-enrols with ``suspend=1``.
The tool creates enrolments without start or end dates and Moodle does not expose them,
so re-enrolling (an upsert that resets omitted dates) keeps them at none; a date an
admin set by hand on an owned enrolment is cleared. Group renames, and deleting courses
or categories, are not done (the site's service has no group update; the planner never
removes courses or categories).
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from reconciler.model import (
    Category,
    Cohort,
    CohortMember,
    Course,
    Enrolment,
    Group,
    GroupMember,
    Key,
    Kind,
    Resource,
    User,
)
from reconciler.moodle.client import MoodleClient, count_fields
from reconciler.moodle.errors import (
    AccessDenied,
    InvalidResponse,
    InvalidToken,
    MoodleError,
    MoodleResponseError,
    OutcomeUnknown,
    TruncatedRequest,
    UnknownFunction,
    UnknownRole,
    WriteConflict,
)
from reconciler.moodle.passwords import NewPassword
from reconciler.moodle.roles import RoleMap
from reconciler.moodle.schedule import plan_batches, row_locks, run_batches
from reconciler.plan.model import Action, Change

#: Moodle ids by key: seeded from the live read, grown by every create.
IdMap = MutableMapping[Key, int]

R = TypeVar("R", bound=Resource)

#: Access errors that concern one item (a course the account cannot enter), not the call.
_ITEM_ACCESS = frozenset({"nopermissions", "requireloginerror", "restrictedcontextexception"})
#: Update-like actions: one update by Moodle id (adopt and move also set the idnumber).
_UPDATES = (Action.UPDATE, Action.ADOPT, Action.MOVE)
#: The plugin that stores a role assignment in a course: the course context.
_COURSE = "course"
_SYSTEM_COHORT = {"type": "system", "value": ""}


@dataclass(frozen=True, slots=True)
class ChangeOutcome:
    """What became of one change. ``moodle_id`` is the object's id (new for creates);
    memberships have none. ``unknown``: not ok because its answer was lost, so Moodle may
    have made it (read it back to know)."""

    change: Change
    ok: bool
    error: str | None = None
    moodle_id: int | None = None
    unknown: bool = False


@dataclass(frozen=True, slots=True)
class _Entry:
    """One change's item in a batch call; ``moodle_id`` names it in Moodle's warnings."""

    change: Change
    params: Any
    moodle_id: int | None = None


@dataclass(frozen=True, slots=True)
class _Sent:
    """One entry after its call: an error (``unknown`` when Moodle may have made it), or
    Moodle's answer item."""

    entry: _Entry
    error: str | None = None
    answer: Any = None
    unknown: bool = False


class CallWatch(Protocol):
    """Told before and after every write call (the audit's per-call record); it can refuse
    further calls (an apply that is stopping)."""

    @property
    def refusal(self) -> str:
        """The error of a change not sent because the watch refused its call."""
        ...

    def sending(self, function: str, changes: Sequence[Change]) -> int | None:
        """A number for the call about to carry ``changes``, or None: do not send it."""
        ...

    def answered(self, call: int, function: str, results: Sequence[tuple[Change, str | None, bool]]) -> None:
        """Call ``call`` ended: per change, its error (None: done) and whether Moodle may have made it."""
        ...


class _Skip(Exception):
    """A change that cannot be sent (a reference without a Moodle id, an unknown role)."""


class WriteCounts:
    """Whole batches Moodle refused with a write error (thread-safe counters).

    ``refused``: answers "Error writing to database" for a whole batch; ``deadlocks``:
    those the same batch re-sent then wrote (a transient conflict, in practice a
    deadlock); ``split``: batches that failed again and were split to find a bad item."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.refused = 0
        self.deadlocks = 0
        self.split = 0

    def add(self, *, refused: int = 0, deadlocks: int = 0, split: int = 0) -> None:
        with self._lock:
            self.refused += refused
            self.deadlocks += deadlocks
            self.split += split


_Reader = Callable[[str, Sequence[_Entry], Any], list[_Sent]]
_Recover = Callable[[Sequence[_Entry], OutcomeUnknown], list[_Sent]]
_Handler = Callable[[Sequence[Change], IdMap], list[ChangeOutcome]]


@dataclass(frozen=True, slots=True)
class _Write:
    """One batch function's calls: the list parameter, how to read its answer, and how to
    recover a create whose answer was lost."""

    function: str
    list_key: str
    read: _Reader
    recover: _Recover | None


def spread_batch_size(count: int, batch_size: int, workers: int) -> int:
    """Items per write call for ``count`` items: at most ``batch_size``, and fewer when that
    keeps every worker busy to the end. An apply waits for a phase's slowest call before
    the next phase starts, so 168 new accounts go as 4 calls of 42 on 4 workers (one
    round) rather than 100 + 68 (as long, with two workers idle), and 1,000 enrolments
    as 12 calls of 84 (3 full rounds) rather than 10 of 100 (the third round half idle)."""
    if count <= 0:
        return batch_size
    rounds = math.ceil(math.ceil(count / batch_size) / workers)
    return math.ceil(count / (rounds * workers))


def _item_specific(error: MoodleResponseError) -> bool:
    """Whether one item can cause this error (so splitting the batch isolates it)."""
    if isinstance(error, InvalidToken | UnknownFunction | InvalidResponse):
        return False
    return not isinstance(error, AccessDenied) or error.errorcode in _ITEM_ACCESS


def _answered_null(function: str, batch: Sequence[_Entry], answer: Any) -> list[_Sent]:
    if answer is not None:
        return [_Sent(e, f"{function}: unexpected answer from Moodle") for e in batch]
    return [_Sent(e) for e in batch]


def _answered_list(function: str, batch: Sequence[_Entry], answer: Any) -> list[_Sent]:
    """Creates answer one item per item sent, in order; a short answer means PHP dropped
    the tail of the request, and those items were never created."""
    if not isinstance(answer, list) or len(answer) > len(batch):
        return [_Sent(e, f"{function}: unexpected answer from Moodle") for e in batch]
    cut = str(TruncatedRequest(function, len(batch), len(answer)))
    return [_Sent(e, answer=answer[i]) if i < len(answer) else _Sent(e, cut) for i, e in enumerate(batch)]


def _answered_warnings(function: str, batch: Sequence[_Entry], answer: Any) -> list[_Sent]:
    """Partial-commit functions: each warning names the failed item by Moodle id."""
    if not isinstance(answer, dict) or not isinstance(answer.get("warnings", []), list):
        return [_Sent(e, f"{function}: unexpected answer from Moodle") for e in batch]
    reasons: dict[int, list[str]] = defaultdict(list)
    for warning in answer.get("warnings", []):
        reasons[int(warning.get("itemid") or 0)].append(f"{warning.get('message')} [{warning.get('warningcode')}]")
    return [
        _Sent(e, f"{function}: " + "; ".join(reasons[e.moodle_id])) if e.moodle_id in reasons else _Sent(e)
        for e in batch
    ]


def _resource(change: Change, cls: type[R], which: str = "after") -> R:
    res = getattr(change, which)
    if not isinstance(res, cls):
        raise TypeError(f"{change.key}: expected a {cls.__name__} as {which}")
    return res


def _ref(ids: Mapping[Key, int], key: Key) -> int:
    if key not in ids:
        raise _Skip(f"{key} has no Moodle id")
    return ids[key]


def _own_id(change: Change, ids: Mapping[Key, int]) -> int:
    """The Moodle id of the object a change acts on: the live object's (adopt, move) or
    the id map's."""
    if change.before is not None and change.before.moodle_id is not None:
        return change.before.moodle_id
    return _ref(ids, change.key)


def _changed(before: Resource, after: Resource, names: Iterable[str]) -> dict[str, Any]:
    return {name: getattr(after, name) for name in names if getattr(after, name) != getattr(before, name)}


def _rekeyed(change: Change) -> dict[str, Any]:
    """The idnumber to write when the change gives the object its (new) key."""
    before = change.before
    return {"idnumber": change.key.id} if before is not None and before.key != change.key else {}


class MoodleWriter:
    """Executes planned changes against Moodle (one kind and action per call).

    ``roles`` maps role shortnames to ids; ``passwords`` chooses each new account's
    first password. ``batch_size`` and ``concurrency`` default to the client's. A
    ``watch`` hears of every write call before it is sent and after it ends.
    """

    def __init__(
        self,
        client: MoodleClient,
        *,
        roles: RoleMap,
        passwords: Callable[[User], NewPassword],
        batch_size: int | None = None,
        concurrency: int | None = None,
        watch: CallWatch | None = None,
    ) -> None:
        self.client = client
        self.watch = watch
        self.roles = roles
        self.passwords = passwords
        self.batch_size = batch_size or client.batch_size
        self.concurrency = concurrency or client.concurrency
        self.counts = WriteCounts()
        self._handlers: dict[tuple[Kind, Action], _Handler] = {
            (Kind.CATEGORY, Action.CREATE): self._create_categories,
            (Kind.COURSE, Action.CREATE): self._create_courses,
            (Kind.USER, Action.CREATE): self._create_users,
            (Kind.USER, Action.SUSPEND): self._update_users,
            (Kind.USER, Action.UNSUSPEND): self._update_users,
            (Kind.USER, Action.DELETE): self._delete_users,
            (Kind.COHORT, Action.CREATE): self._create_cohorts,
            (Kind.COHORT, Action.DELETE): self._delete_cohorts,
            (Kind.GROUP, Action.CREATE): self._create_groups,
            (Kind.GROUP, Action.DELETE): self._delete_groups,
            (Kind.ENROLMENT, Action.CREATE): self._enrol,
            (Kind.ENROLMENT, Action.UPDATE): self._update_enrolments,
            (Kind.ENROLMENT, Action.SUSPEND): self._update_enrolments,
            (Kind.ENROLMENT, Action.UNSUSPEND): self._update_enrolments,
            (Kind.ENROLMENT, Action.DELETE): self._unenrol,
            (Kind.COHORT_MEMBER, Action.CREATE): self._add_cohort_members,
            (Kind.COHORT_MEMBER, Action.DELETE): self._remove_cohort_members,
            (Kind.GROUP_MEMBER, Action.CREATE): self._add_group_members,
            (Kind.GROUP_MEMBER, Action.DELETE): self._remove_group_members,
        }
        for action in _UPDATES:
            self._handlers[(Kind.CATEGORY, action)] = self._update_categories
            self._handlers[(Kind.COURSE, action)] = self._update_courses
            self._handlers[(Kind.USER, action)] = self._update_users
            self._handlers[(Kind.COHORT, action)] = self._update_cohorts

    def execute(self, kind: Kind, action: Action, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        """Make ``changes`` (all of ``kind`` and ``action``) true; ``ids`` gains the ids
        of created and adopted objects. One outcome per change, in the same order."""
        if any(c.key.kind is not kind or c.action is not action for c in changes):
            raise ValueError(f"execute({kind.value}, {action.value}) got a change of another kind or action")
        if not changes:
            return []
        handler = self._handlers.get((kind, action))
        if handler is None:
            reason = f"the Moodle writer does not {action.value} a {kind.value}"
            if kind is Kind.GROUP and action in _UPDATES:
                reason += " (Moodle's service for this tool has no group update; rename the group in Moodle)"
            return [ChangeOutcome(c, False, reason) for c in changes]
        outcomes = {o.change.key: o for o in handler(changes, ids)}
        return [outcomes[c.key] for c in changes]

    # The batching engine ----------------------------------------------------------

    def _send(
        self,
        function: str,
        list_key: str,
        entries: Sequence[_Entry],
        read: _Reader,
        recover: _Recover | None = None,
    ) -> list[_Sent]:
        """Every entry through ``function`` in batches, concurrently, never two batches in
        flight that lock the same rows."""
        if not entries:
            return []
        budget = self.client.budget()
        largest = max(count_fields(e.params) for e in entries)
        if largest > budget:
            raise MoodleError(
                f"one item needs {largest} form fields but max_input_vars={self.client.max_input_vars} leaves {budget}"
            )
        locks = row_locks(function)
        batches = plan_batches(
            entries,
            lambda e: locks(e.params),
            lambda e: count_fields(e.params),
            limit=spread_batch_size(len(entries), self.batch_size, self.concurrency),
            budget=budget,
        )
        step = partial(self._watched, function, partial(self._send_batch, _Write(function, list_key, read, recover)))
        return [sent for done in run_batches(batches, step, workers=self.concurrency) for sent in done]

    def _watched(
        self, function: str, send: Callable[[Sequence[_Entry]], list[_Sent]], batch: Sequence[_Entry]
    ) -> list[_Sent]:
        """One batch's call, with the watch told before and after (a split batch's halves
        count as its one call)."""
        if self.watch is None:
            return send(batch)
        call = self.watch.sending(function, [e.change for e in batch])
        if call is None:
            return [_Sent(e, self.watch.refusal) for e in batch]
        sent = send(batch)
        self.watch.answered(call, function, [(s.entry.change, s.error, s.unknown) for s in sent])
        return sent

    def _send_batch(self, write: _Write, batch: Sequence[_Entry], *, resent: bool = False) -> list[_Sent]:
        try:
            answer = self.client.call(write.function, {write.list_key: [e.params for e in batch]})
        except OutcomeUnknown as exc:
            if write.recover is not None:
                return write.recover(batch, exc)
            return [_Sent(e, str(exc), unknown=True) for e in batch]
        except WriteConflict as exc:
            # Rolled back whole: re-send once (a deadlock passes); a second refusal means a bad item.
            self.counts.add(refused=1)
            if resent:
                return self._split(write, batch, exc)
            time.sleep(self.client.retry.wait(1, None))  # the client's first backoff, with jitter
            return self._send_batch(write, batch, resent=True)
        except MoodleResponseError as exc:
            return self._split(write, batch, exc)
        except MoodleError as exc:
            return [_Sent(e, str(exc)) for e in batch]
        if resent:
            self.counts.add(deadlocks=1)  # refused whole once, written when re-sent
        return write.read(write.function, batch, answer)

    def _split(self, write: _Write, batch: Sequence[_Entry], error: MoodleResponseError) -> list[_Sent]:
        """A batch Moodle refused: in halves until the failing item stands alone, when one
        item can cause the error; otherwise every item fails with it."""
        if len(batch) > 1 and _item_specific(error):
            if isinstance(error, WriteConflict):
                self.counts.add(split=1)
            half = len(batch) // 2
            return self._send_batch(write, batch[:half]) + self._send_batch(write, batch[half:])
        if isinstance(error, InvalidResponse):
            return [_Sent(e, f"{error}; Moodle may have applied part of it", unknown=True) for e in batch]
        return [_Sent(e, str(error)) for e in batch]

    def _prepare(
        self, changes: Sequence[Change], build: Callable[[Change], _Entry | None]
    ) -> tuple[list[_Entry], list[ChangeOutcome]]:
        """Entries for the changes that can be sent; outcomes for those that cannot (an
        unresolved reference) or need nothing sent (``build`` returns None)."""
        entries: list[_Entry] = []
        settled: list[ChangeOutcome] = []
        for change in changes:
            try:
                entry = build(change)
            except (_Skip, UnknownRole) as exc:
                settled.append(ChangeOutcome(change, False, str(exc)))
                continue
            if entry is None:
                settled.append(ChangeOutcome(change, True, moodle_id=_id_or_none(change)))
            else:
                entries.append(entry)
        return entries, settled

    def _simple(
        self,
        function: str,
        list_key: str,
        changes: Sequence[Change],
        ids: IdMap,
        build: Callable[[Change], _Entry | None],
        read: _Reader = _answered_null,
    ) -> list[ChangeOutcome]:
        """One call per batch; ok unless the item failed. Update-like changes record their
        key's id (an adopted or moved object answers to its new key from now on)."""
        entries, outcomes = self._prepare(changes, build)
        for sent in self._send(function, list_key, entries, read):
            change, oid = sent.entry.change, sent.entry.moodle_id
            if sent.error is None and oid is not None:
                ids[change.key] = oid
            outcomes.append(ChangeOutcome(change, sent.error is None, sent.error, oid, sent.unknown))
        return outcomes

    def _create(
        self,
        function: str,
        list_key: str,
        changes: Sequence[Change],
        ids: IdMap,
        build: Callable[[Change], _Entry],
    ) -> list[ChangeOutcome]:
        """Creates: every item must be answered with its new id, which ``ids`` records."""
        entries, outcomes = self._prepare(changes, build)
        kind = changes[0].key.kind
        for sent in self._send(function, list_key, entries, _answered_list, partial(self._recover_created, kind)):
            change = sent.entry.change
            if sent.error is not None:
                outcomes.append(ChangeOutcome(change, False, sent.error, unknown=sent.unknown))
                continue
            new_id = int(sent.answer["id"])
            ids[change.key] = new_id
            outcomes.append(ChangeOutcome(change, True, moodle_id=new_id))
        return outcomes

    def _recover_created(self, kind: Kind, batch: Sequence[_Entry], lost: OutcomeUnknown) -> list[_Sent]:
        """A create whose answer was lost: look the idnumbers up instead of resending."""
        try:
            found = self._find_created(kind, batch)
        except MoodleError as exc:
            return [_Sent(e, f"{lost}; reading it back failed too ({exc})", unknown=True) for e in batch]
        return [
            _Sent(e, answer={"id": found[e.change.key.id]})
            if e.change.key.id in found
            else _Sent(e, f"{lost}; it is not in Moodle now, so the next plan will propose it again")
            for e in batch
        ]

    def _find_created(self, kind: Kind, batch: Sequence[_Entry]) -> dict[str, int]:
        """Moodle ids by idnumber of the batch's objects that exist now."""
        calls: list[tuple[str, dict[str, Any]]] = []
        if kind is Kind.USER:
            values = [e.change.key.id for e in batch]
            calls.append(("core_user_get_users_by_field", {"values": values, "field": "idnumber"}))
        elif kind is Kind.COURSE:
            calls.append(("core_course_get_courses_by_field", {}))
        elif kind is Kind.CATEGORY:
            calls.append(("core_course_get_categories", {}))
        elif kind is Kind.COHORT:
            calls.append(("core_cohort_get_cohorts", {}))
        elif kind is Kind.GROUP:
            calls += [
                ("core_group_get_course_groups", {"courseid": c}) for c in sorted({e.params["courseid"] for e in batch})
            ]
        records: list[Any] = []
        for (function, _), answer in zip(calls, self.client.call_many(calls), strict=True):
            listed = answer.get("courses") if isinstance(answer, dict) else answer
            records += MoodleClient.expect_list(function, listed)
        wanted = {e.change.key.id for e in batch}
        return {r["idnumber"]: int(r["id"]) for r in records if r.get("idnumber") in wanted}

    # Categories ---------------------------------------------------------------------

    @staticmethod
    def _parents_first(run: _Handler, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        """Categories in waves: each runs the ones whose parent has an id by then (a
        sub-category waits for its parent, created or adopted in the same call)."""
        outcomes: list[ChangeOutcome] = []
        pending = list(changes)
        while pending:
            ready = [c for c in pending if (p := _resource(c, Category).parent) is None or p in ids]
            if not ready:
                break
            pending = [c for c in pending if c not in ready]
            outcomes += run(ready, ids)
        for change in pending:
            parent = _resource(change, Category).parent
            outcomes.append(ChangeOutcome(change, False, f"{parent} has no Moodle id"))
        return outcomes

    def _create_categories(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        def run(ready: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
            build = partial(self._new_category, ids)
            return self._create("core_course_create_categories", "categories", ready, ids, build)

        return self._parents_first(run, changes, ids)

    @staticmethod
    def _new_category(ids: IdMap, change: Change) -> _Entry:
        cat = _resource(change, Category)
        parent = 0 if cat.parent is None else _ref(ids, cat.parent)
        return _Entry(change, {"idnumber": change.key.id, "parent": parent, "name": cat.name})

    def _update_categories(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        def build(change: Change) -> _Entry:
            before, after = _resource(change, Category, "before"), _resource(change, Category)
            oid = _own_id(change, ids)
            params: dict[str, Any] = {**_rekeyed(change), **_changed(before, after, ("name",))}
            if after.parent != before.parent:
                params["parent"] = 0 if after.parent is None else _ref(ids, after.parent)
            return _Entry(change, {**params, "id": oid}, oid)

        def run(ready: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
            return self._simple("core_course_update_categories", "categories", ready, ids, build)

        return self._parents_first(run, changes, ids)

    # Courses ------------------------------------------------------------------------

    def _create_courses(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        def build(change: Change) -> _Entry:
            course = _resource(change, Course)
            params: dict[str, Any] = {"idnumber": change.key.id, **_dates(course)}
            params |= {"fullname": course.fullname, "categoryid": _ref(ids, course.category)}
            return _Entry(change, {**params, "shortname": course.shortname})

        return self._create("core_course_create_courses", "courses", changes, ids, build)

    def _update_courses(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        def build(change: Change) -> _Entry:
            before, after = _resource(change, Course, "before"), _resource(change, Course)
            oid = _own_id(change, ids)
            params = {**_rekeyed(change), **_changed(before, after, ("fullname", "shortname"))}
            if after.category != before.category:
                params["categoryid"] = _ref(ids, after.category)
            if _changed(before, after, ("startdate", "enddate")):
                # Moodle checks dates only against the fields sent: send both.
                params |= {"startdate": after.startdate, "enddate": after.enddate}
            return _Entry(change, {**params, "id": oid}, oid)

        return self._simple("core_course_update_courses", "courses", changes, ids, build, _answered_warnings)

    # Users --------------------------------------------------------------------------

    def _create_users(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        def build(change: Change) -> _Entry:
            user = _resource(change, User)
            params: dict[str, Any] = {k: v for k, v in user.profile if v}
            params |= {"auth": user.auth, "idnumber": change.key.id}
            custom = [{"type": k, "value": v} for k, v in user.customfields if v]
            if custom:
                params["customfields"] = custom
            params |= self.passwords(user).create_params()
            params |= {"firstname": user.firstname, "lastname": user.lastname, "email": user.email}
            return _Entry(change, {**params, "username": user.username})

        created = self._create("core_user_create_users", "users", changes, ids, build)
        # create_users cannot set suspended: suspend the new accounts that should be.
        to_suspend = [o for o in created if o.ok and _resource(o.change, User).suspended]
        if not to_suspend:
            return created
        entries = [_Entry(o.change, {"suspended": True, "id": o.moodle_id}, o.moodle_id) for o in to_suspend]
        failed = {
            s.entry.change.key: s
            for s in self._send("core_user_update_users", "users", entries, _answered_warnings)
            if s.error is not None
        }
        return [
            ChangeOutcome(o.change, False, f"created, but not suspended: {sent.error}", o.moodle_id, sent.unknown)
            if (sent := failed.get(o.change.key)) is not None
            else o
            for o in created
        ]

    def _update_users(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        def build(change: Change) -> _Entry | None:
            before, after = _resource(change, User, "before"), _resource(change, User)
            oid = _own_id(change, ids)
            params = {**_rekeyed(change), **_changed(before, after, ("username", "firstname", "lastname", "email"))}
            old_profile = dict(before.profile)
            params |= {k: v for k, v in after.profile if old_profile.get(k, "") != v}
            old_custom = dict(before.customfields)
            custom = [{"type": k, "value": v} for k, v in after.customfields if old_custom.get(k, "") != v]
            if custom:
                params["customfields"] = custom
            if after.suspended != before.suspended:
                params["suspended"] = after.suspended
            if not params:
                return None
            return _Entry(change, {**params, "id": oid}, oid)

        return self._simple("core_user_update_users", "users", changes, ids, build, _answered_warnings)

    def _delete_users(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        return self._simple(
            "core_user_delete_users", "userids", changes, ids, lambda c: _Entry(c, _own_id(c, ids), None)
        )

    # Cohorts ------------------------------------------------------------------------

    def _create_cohorts(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        def build(change: Change) -> _Entry:
            name = _resource(change, Cohort).name
            return _Entry(change, {"categorytype": _SYSTEM_COHORT, "name": name, "idnumber": change.key.id})

        return self._create("core_cohort_create_cohorts", "cohorts", changes, ids, build)

    def _update_cohorts(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        # categorytype, name and idnumber are all required on update.
        def build(change: Change) -> _Entry:
            oid = _own_id(change, ids)
            name = _resource(change, Cohort).name
            params = {"categorytype": _SYSTEM_COHORT, "name": name, "idnumber": change.key.id, "id": oid}
            return _Entry(change, params, oid)

        return self._simple("core_cohort_update_cohorts", "cohorts", changes, ids, build)

    def _delete_cohorts(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        return self._simple(
            "core_cohort_delete_cohorts", "cohortids", changes, ids, lambda c: _Entry(c, _own_id(c, ids), None)
        )

    # Groups -------------------------------------------------------------------------

    def _create_groups(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        def build(change: Change) -> _Entry:
            group = _resource(change, Group)
            params = {"idnumber": change.key.id, "courseid": _ref(ids, group.course), "name": group.name}
            return _Entry(change, {**params, "description": ""})

        return self._create("core_group_create_groups", "groups", changes, ids, build)

    def _delete_groups(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        return self._simple(
            "core_group_delete_groups", "groupids", changes, ids, lambda c: _Entry(c, _own_id(c, ids), None)
        )

    # Enrolments ---------------------------------------------------------------------

    def _enrol(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        def plan(change: Change) -> _EnrolmentSteps:
            after = _resource(change, Enrolment)
            if not after.roles:
                raise _Skip(f"{change.key} has no role to enrol with")
            steps = _EnrolmentSteps(change, _ref(ids, after.course), _ref(ids, after.user))
            steps.enrol_with = self.roles.id_for(after.roles[0])
            steps.suspend = after.suspended or None
            steps.assign = [self.roles.id_for(r) for r in after.roles[1:]]
            return steps

        return self._run_enrolment_steps(changes, plan)

    def _update_enrolments(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        def plan(change: Change) -> _EnrolmentSteps:
            before, after = _resource(change, Enrolment, "before"), _resource(change, Enrolment)
            steps = _EnrolmentSteps(change, _ref(ids, after.course), _ref(ids, after.user))
            if after.suspended != before.suspended:
                # Re-enrol (an upsert) with a role already held, so no role is added.
                kept = [r for r in after.roles if r in before.roles] or list(after.roles) or list(before.roles)
                if not kept:
                    raise _Skip(f"{change.key} holds no role to re-enrol with")
                steps.enrol_with = self.roles.id_for(kept[0])
                steps.suspend = after.suspended
            steps.assign = [self.roles.id_for(r) for r in after.roles if r not in before.roles]
            steps.unassign = [self.roles.id_for(r) for r in before.roles if r not in after.roles]
            return steps

        return self._run_enrolment_steps(changes, plan)

    def _run_enrolment_steps(
        self, changes: Sequence[Change], plan: Callable[[Change], _EnrolmentSteps]
    ) -> list[ChangeOutcome]:
        """Enrol (or re-enrol), then add roles, then remove roles; a change that fails a
        step skips the later ones."""
        errors: dict[Key, str] = {}
        unknown: set[Key] = set()
        steps: list[_EnrolmentSteps] = []
        for change in changes:
            try:
                steps.append(plan(change))
            except (_Skip, UnknownRole) as exc:
                errors[change.key] = str(exc)

        def run(function: str, list_key: str, entries: list[_Entry]) -> None:
            for sent in self._send(function, list_key, entries, _answered_null):
                if sent.error is not None:
                    errors.setdefault(sent.entry.change.key, sent.error)
                    if sent.unknown:
                        unknown.add(sent.entry.change.key)

        run("enrol_manual_enrol_users", "enrolments", [e for s in steps if (e := s.enrolment()) is not None])
        live = [s for s in steps if s.change.key not in errors]
        run("core_role_assign_roles", "assignments", [e for s in live for e in s.assignments(s.assign)])
        live = [s for s in live if s.change.key not in errors]
        run("core_role_unassign_roles", "unassignments", [e for s in live for e in s.assignments(s.unassign)])
        return [ChangeOutcome(c, c.key not in errors, errors.get(c.key), unknown=c.key in unknown) for c in changes]

    def _unenrol(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        # Never send roleid: Moodle 5.2 rejects it, and it was ignored before.
        def build(change: Change) -> _Entry:
            gone = _resource(change, Enrolment, "before")
            return _Entry(change, {"userid": _ref(ids, gone.user), "courseid": _ref(ids, gone.course)})

        return self._simple("enrol_manual_unenrol_users", "enrolments", changes, ids, build)

    # Cohort and group members -------------------------------------------------------

    def _add_cohort_members(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        def build(change: Change) -> _Entry:
            member = _resource(change, CohortMember)
            cohort, user = _ref(ids, member.cohort), _ref(ids, member.user)
            return _Entry(
                change, {"cohorttype": {"type": "id", "value": cohort}, "usertype": {"type": "id", "value": user}}
            )

        return self._simple("core_cohort_add_cohort_members", "members", changes, ids, build, self._cohort_added)

    def _cohort_added(self, function: str, batch: Sequence[_Entry], answer: Any) -> list[_Sent]:
        """Soft failures come back as warnings naming no item: when there are any besides
        "already a member" (code 3), read the cohorts back to see who is in."""
        if not isinstance(answer, dict):
            return [_Sent(e, f"{function}: unexpected answer from Moodle") for e in batch]
        warnings = [w for w in answer.get("warnings", []) if str(w.get("warningcode")) != "3"]
        if not warnings:
            return [_Sent(e) for e in batch]
        reason = f"{function}: " + "; ".join(str(w.get("message")) for w in warnings)
        pairs = [(e.params["cohorttype"]["value"], e.params["usertype"]["value"]) for e in batch]
        try:
            listed = self.client.call("core_cohort_get_cohort_members", {"cohortids": sorted({c for c, _ in pairs})})
        except MoodleError as exc:
            return [_Sent(e, f"{reason} (checking who was added failed: {exc})", unknown=True) for e in batch]
        members = {(int(r["cohortid"]), int(u)) for r in listed for u in r["userids"]}
        return [_Sent(e) if pair in members else _Sent(e, reason) for e, pair in zip(batch, pairs, strict=True)]

    def _remove_cohort_members(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        def build(change: Change) -> _Entry:
            member = _resource(change, CohortMember, "before")
            return _Entry(change, {"cohortid": _ref(ids, member.cohort), "userid": _ref(ids, member.user)})

        return self._simple("core_cohort_delete_cohort_members", "members", changes, ids, build)

    @staticmethod
    def _group_member(ids: IdMap, change: Change) -> _Entry:
        member = change.resource
        if not isinstance(member, GroupMember):
            raise TypeError(f"{change.key}: expected a GroupMember")
        return _Entry(change, {"groupid": _ref(ids, member.group), "userid": _ref(ids, member.user)})

    def _add_group_members(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        build = partial(self._group_member, ids)
        return self._simple("core_group_add_group_members", "members", changes, ids, build)

    def _remove_group_members(self, changes: Sequence[Change], ids: IdMap) -> list[ChangeOutcome]:
        build = partial(self._group_member, ids)
        return self._simple("core_group_delete_group_members", "members", changes, ids, build)


@dataclass(slots=True)
class _EnrolmentSteps:
    """What one enrolment change needs: an (re-)enrolment, roles to add and to remove."""

    change: Change
    course_id: int
    user_id: int
    enrol_with: int | None = None
    suspend: bool | None = None
    assign: list[int] | None = None
    unassign: list[int] | None = None

    def enrolment(self) -> _Entry | None:
        if self.enrol_with is None:
            return None
        params: dict[str, Any] = {} if self.suspend is None else {"suspend": int(self.suspend)}
        params |= {"roleid": self.enrol_with, "userid": self.user_id, "courseid": self.course_id}
        return _Entry(self.change, params)

    def assignments(self, roles: list[int] | None) -> list[_Entry]:
        return [
            _Entry(
                self.change,
                {"contextlevel": _COURSE, "instanceid": self.course_id, "roleid": role, "userid": self.user_id},
            )
            for role in roles or ()
        ]


def _dates(course: Course) -> dict[str, int]:
    """Start and end dates to create with: Moodle refuses an end date without a start."""
    if not course.startdate:
        return {}
    return {"startdate": course.startdate, **({"enddate": course.enddate} if course.enddate else {})}


def _id_or_none(change: Change) -> int | None:
    return change.before.moodle_id if change.before is not None else None
