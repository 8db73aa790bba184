"""What the tool owns in Moodle now, read as a :class:`~reconciler.model.State`.

Ownership is the idnumber: objects whose idnumber starts with ``ps2m:`` are ours, and
only those come back (memberships count when both ends are ours). Beside them,
``State.foreign`` holds, for each desired user, course, category or cohort that has no
owned object yet, the unowned object occupying its unique name (username, shortname,
name under the same parent, name), keyed by the desired key, so the planner can propose
a reviewed adoption or report the conflict; likewise for an owned account or course
whose desired new username or shortname an unowned object holds (a rename Moodle would
refuse).

The reads, in three rounds, fewest calls first (``n`` owned courses); each round needs
what the one before found:

1. **listings**: one call each for all categories, all courses
   (``core_course_get_courses_by_field`` without a field: unlike
   ``core_course_get_courses`` it does not fail outright on one course the account cannot
   enter) and all cohorts; users by idnumber in var-limited batches spread over the
   workers;
2. **memberships**: ``core_enrol_get_enrolled_users`` per owned course with
   ``userfields`` trimmed to ``id,idnumber,roles,groups`` (0.39 s instead of 3.96 s for
   1,000 users on a real site), cohort members in batches, and the usernames of desired
   users not found, to find foreign holders;
3. **what the memberships reveal**: ``onlysuspended`` per course holding owned
   enrolments (Moodle lists suspended enrolments with the others and never says which is
   which), the groups of courses that have desired groups or group members, and owned
   users found only through their memberships (leavers, so they can be suspended), by id.

Applying a saved plan reads less (``pairs``): a course whose touched memberships are
all of accounts the plan creates is not read while those accounts do not exist (none of
their memberships can), and the others list their active enrolments many courses a call
where the service allows it (:mod:`.enrolments`), with a course's suspended ones asked
only when a touched account is not among them. Courses it did not read that way (the
many-course read refused, or an account the plan creates found after all) are read one
by one between rounds 2 and 3.

Each round's calls run together under the client's concurrency bound. One reader per
kind of thing read holds what it found (:mod:`.users`, :mod:`.courses` for categories
and courses, :mod:`.cohorts`, :mod:`.enrolments` for enrolments and groups); the
:class:`~.found.Found` they share collects the owned objects. Every read asks for raw
text (``moodlewssettingraw=1``) and values are normalized the way desired state is built
(usernames and emails lowercased, text trimmed, empty fields as ``""``, custom profile
fields by shortname), so unchanged objects compare equal.

Limits, by construction of Moodle's API: an owned group without members in a course
that has no desired groups is not seen; leavers are found through memberships only when
those are read (scope), otherwise through ``also_users``; enrolment start and end dates
are not exposed, so an enrolment whose end date has passed reads as suspended. Objects
reference parents the tool does not own as ``#<moodle id>`` keys (a course moved by hand
into a category of someone else's). Memberships carry the member's user id as
``moodle_id``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reconciler.model import Key, Kind, State, cohort_member, enrolment, group_member
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.errors import MoodleResponseError
from reconciler.moodle.live.cohorts import Cohorts
from reconciler.moodle.live.courses import Categories, Courses
from reconciler.moodle.live.enrolments import ENROLLED_USERFIELDS, Enrolments, Groups
from reconciler.moodle.live.found import Call, Found, Refusable
from reconciler.moodle.live.users import Users
from reconciler.moodle.roles import RoleMap

__all__ = ["ENROLLED_USERFIELDS", "MEMBERSHIP_KINDS", "live_ids", "read_live"]

#: Kinds read from the per-course enrolment lists.
_FROM_ENROLLED = frozenset({Kind.ENROLMENT, Kind.GROUP, Kind.GROUP_MEMBER})
#: Kinds whose objects carry no Moodle id of their own.
MEMBERSHIP_KINDS = frozenset({Kind.ENROLMENT, Kind.COHORT_MEMBER, Kind.GROUP_MEMBER})


def read_live(
    client: MoodleClient,
    desired: State,
    *,
    kinds: set[Kind] | None = None,
    roles: RoleMap | None = None,
    also_users: Iterable[Key] = (),
    courses: Iterable[Key] | None = None,
    group_courses: Iterable[Key] | None = None,
    pairs: Mapping[Key, frozenset[Key]] | None = None,
    new_users: Iterable[Key] = (),
    needed_courses: Iterable[Key] | None = None,
) -> State:
    """Everything the tool owns in Moodle, of ``kinds`` (all by default), with Moodle ids.

    ``desired`` says which users to look up and which foreign name holders to find;
    ``also_users`` are further owned user keys to look up (people PowerSchool lists as
    inactive, so leavers are found even when no membership points at them). Role
    shortnames seen on enrolments are taught to ``roles``. ``courses`` limits the
    per-course reads (enrolments, groups and their members) to those courses, and the
    users read to those named (what applying a saved plan needs); by default every
    owned course is read, and so are owned users found only through memberships.
    ``group_courses`` are the courses whose groups are read; by default those holding
    desired groups or groups seen on members (every course when a desired membership's
    group is not in ``desired``). ``pairs`` names, for some of ``courses``, the only
    accounts whose memberships in them are needed (what a saved plan touches), and
    ``new_users`` the accounts expected not to exist yet (those it creates);
    ``needed_courses``, all the owned courses it needs besides the desired ones (when
    few, they are looked up rather than every course listed).
    """
    kinds = set(Kind) if kinds is None else set(kinds)
    reader = _Reader(
        client,
        Found(desired, kinds),
        roles or RoleMap(),
        None if courses is None else set(courses),
        None if group_courses is None else set(group_courses),
        pairs or {},
        frozenset(new_users),
        None if needed_courses is None else set(needed_courses),
    )
    return reader.read(also_users)


def live_ids(state: State) -> dict[Key, int]:
    """Moodle ids by key for every object with one of its own: the writer's starting IdMap."""
    return {
        res.key: res.moodle_id for res in state if res.moodle_id is not None and res.key.kind not in MEMBERSHIP_KINDS
    }


class _Reader:
    """One read: a reader per kind of thing read, and the three rounds that run them."""

    def __init__(
        self,
        client: MoodleClient,
        found: Found,
        roles: RoleMap,
        member_courses: set[Key] | None,
        group_courses: set[Key] | None,
        pairs: Mapping[Key, frozenset[Key]],
        new_users: frozenset[Key],
        needed_courses: set[Key] | None,
    ) -> None:
        self.client = client
        self.found = found
        self.member_courses = member_courses
        self.pairs = pairs
        self.new_users = new_users
        self.users = Users(client, found)
        self.categories = Categories(found)
        self.courses = Courses(found, self.categories, member_courses, needed_courses)
        self.cohorts = Cohorts(client, found)
        self.enrolments = Enrolments(found, self.users, roles, pairs)
        self.groups = Groups(found, group_courses)
        #: Courses left unread in round 2: their touched accounts are all new.
        self.deferred: list[tuple[int, Key]] = []

    def read(self, also_users: Iterable[Key]) -> State:
        self.run(self.listings(also_users))
        self.categories.find_foreign()
        self.courses.find_foreign()
        self.cohorts.find_foreign()
        self.run(self.memberships())
        self.run(self.left_to_read())
        self.run(self.what_memberships_reveal())
        self.build_memberships()
        return self.found.state()

    def run(self, calls: Sequence[Call]) -> None:
        """Make ``calls`` together, then hand each answer to its handler, in order."""
        answers = self.client.map(self.answer, calls)
        for (_, _, handle), answer in zip(calls, answers, strict=True):
            if isinstance(answer, MoodleResponseError):
                assert isinstance(handle, Refusable)  # only their refusals come back as answers
                if not handle.refused(answer):
                    raise answer
                continue
            handle(answer)

    def answer(self, call: Call) -> Any:
        """One call's answer; for a read the reader can do without, its refusal."""
        function, params, handle = call
        try:
            return self.client.call(function, params, raw=True)
        except MoodleResponseError as error:
            if isinstance(handle, Refusable):
                return error
            raise

    # The three rounds -----------------------------------------------------------

    def listings(self, also_users: Iterable[Key]) -> list[Call]:
        """Round 1: every category, course and cohort (one call each), and the desired
        accounts and ``also_users`` by idnumber."""
        wants = self.found.wants
        calls: list[Call] = []
        if wants(Kind.CATEGORY, Kind.COURSE):
            calls += self.categories.listing()
        if wants(Kind.COURSE, *_FROM_ENROLLED):
            calls += self.courses.listing()
        if wants(Kind.COHORT, Kind.COHORT_MEMBER):
            calls += self.cohorts.listing()
        if wants(Kind.USER, Kind.COHORT_MEMBER):
            calls += self.users.by_idnumber(also_users)
        return calls

    def memberships(self) -> list[Call]:
        """Round 2: everyone enrolled in each owned course (and each course a plan may
        adopt), the members of the owned cohorts, and the holders of the usernames desired
        accounts do not hold yet."""
        wants = self.found.wants
        calls: list[Call] = []
        if wants(*_FROM_ENROLLED):
            whole, scoped = [], []
            for cid, key in self.courses.per_course():
                if key not in self.pairs:
                    whole.append((cid, key))
                elif self.pairs[key] <= self.new_users:
                    self.deferred.append((cid, key))
                else:
                    scoped.append((cid, key))
            calls += self.enrolments.lists(whole)
            calls += self.enrolments.active_lists(scoped, self.client.concurrency)
        if wants(Kind.COHORT_MEMBER):
            calls += self.cohorts.member_lists()
        if wants(Kind.USER):
            calls += self.users.username_holders()
        return calls

    def left_to_read(self) -> list[Call]:
        """Round 2b (usually no call): one by one, the courses whose many-course read was
        refused, and the deferred ones where an account the plan creates exists after all
        (owned, or not ours under its username)."""
        found = set(self.users.keys.values()) | set(self.users.candidates().values())
        courses = self.enrolments.refused + [(cid, key) for cid, key in self.deferred if self.pairs[key] & found]
        return self.enrolments.lists(courses)

    def what_memberships_reveal(self) -> list[Call]:
        """Round 3: the suspended enrolments of courses holding owned ones, the groups of
        courses that may hold owned groups and, on a full read, the holders of desired
        accounts' emails and the owned accounts met only on memberships (leavers)."""
        wants = self.found.wants
        calls: list[Call] = []
        if wants(Kind.ENROLMENT):
            calls += self.enrolments.suspended_lists({key: cid for cid, key in self.courses.keys.items()})
        if wants(Kind.GROUP, Kind.GROUP_MEMBER):
            calls += self.groups.lists(self.courses.per_course(), self.enrolments.courses_with_groups)
        if self.member_courses is not None:
            return calls  # a partial read: members it meets need not be read as users
        if wants(Kind.USER):
            calls += self.users.email_holders()
        unknown: set[int] = set()
        if wants(Kind.USER):
            unknown |= self.users.unread()
        for members in self.cohorts.members.values():
            unknown |= {uid for uid in members if uid not in self.users.keys and uid not in self.users.not_ours}
        calls += self.users.by_id(unknown)
        return calls

    def build_memberships(self) -> None:
        """Enrolments, group and cohort memberships from what the rounds read; those of an
        account a desired one may adopt under the desired key."""
        candidates = self.users.candidates()
        enrolled = self.enrolments.enrolled
        for course, others in self.enrolments.others.items():
            for uid, (roles, groups) in others.items():
                if uid in candidates:
                    enrolled.setdefault(course, {})[candidates[uid]] = (uid, roles, groups)
        for cohort, members in self.cohorts.members.items():
            for uid in members:
                if uid in candidates:
                    self.found.add(cohort_member(cohort, candidates[uid], moodle_id=uid))
        for course, users in enrolled.items():
            suspended = self.enrolments.suspended.get(course, set())
            for user, (uid, roles, groups) in users.items():
                self.found.add(enrolment(course, user, roles, suspended=uid in suspended, moodle_id=uid))
                for gid in groups:
                    if gid in self.groups.keys:
                        self.found.add(group_member(self.groups.keys[gid], user, moodle_id=uid))
        for cohort, members in self.cohorts.members.items():
            for uid in members:
                if uid in self.users.keys:
                    self.found.add(cohort_member(cohort, self.users.keys[uid], moodle_id=uid))
