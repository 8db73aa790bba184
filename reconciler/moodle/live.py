"""What the tool owns in Moodle now, read as a :class:`~reconciler.model.State`.

Ownership is the idnumber: objects whose idnumber starts with ``ps2m:`` are ours, and
only those come back (memberships count when both ends are ours). Beside them,
``State.foreign`` holds, for each desired user, course, category or cohort that has no
owned object yet, the unowned object occupying its unique name (username, shortname,
name under the same parent, name), keyed by the desired key, so the planner can propose
a reviewed adoption or report the conflict; likewise for an owned account or course
whose desired new username or shortname an unowned object holds (a rename Moodle would
refuse).

The reads, fewest calls first (``n`` owned courses):

1. one call each for all categories, all courses (``core_course_get_courses_by_field``
   without a field: unlike ``core_course_get_courses`` it does not fail outright on one
   course the account cannot enter) and all cohorts; users by idnumber in var-limited
   batches spread over the workers;
2. ``core_enrol_get_enrolled_users`` per owned course with ``userfields`` trimmed to
   ``id,idnumber,roles,groups`` (0.39 s instead of 3.96 s for 1,000 users on a real
   site), cohort members in batches, and the usernames of desired users not found, to
   find foreign holders;
3. ``onlysuspended`` per course holding owned enrolments (Moodle lists suspended
   enrolments with the others and never says which is which), the groups of courses
   that have desired groups or group members, and owned users found only through their
   memberships (leavers, so they can be suspended), by id.

Each step's calls run together under the client's concurrency bound. Every read asks
for raw text (``moodlewssettingraw=1``) and values are normalized the way desired state
is built (usernames and emails lowercased, text trimmed, empty fields as ``""``, custom
profile fields by shortname), so unchanged objects compare equal.

Limits, by construction of Moodle's API: an owned group without members in a course
that has no desired groups is not seen; leavers are found through memberships only when
those are read (scope), otherwise through ``also_users``; enrolment start and end dates
are not exposed, so an enrolment whose end date has passed reads as suspended. Objects
reference parents the tool does not own as ``#<moodle id>`` keys (a course moved by hand
into a category of someone else's). Memberships carry the member's user id as
``moodle_id``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from reconciler.lock import is_lock
from reconciler.model import (
    OWNED_PREFIX,
    Category,
    Cohort,
    Course,
    Group,
    GroupMember,
    Key,
    Kind,
    Resource,
    State,
    User,
    cohort_member,
    enrolment,
    group_member,
    pairs,
)
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.errors import AmbiguousOwnership
from reconciler.moodle.roles import RoleMap

#: What the enrolment read needs of each enrolled user (the rest costs 10x the time).
ENROLLED_USERFIELDS = "id,idnumber,roles,groups"
#: Usernames Moodle accepts as a lookup value (PARAM_USERNAME, extendedusernamechars off).
_LOOKUP_USERNAME = re.compile(r"^[a-z0-9._@-]+$")
#: Emails safe to look up (a conservative subset of what Moodle's validate_email takes).
_LOOKUP_EMAIL = re.compile(r"^[a-z0-9._%+'-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+$")
#: Kinds read from the per-course enrolment lists.
_FROM_ENROLLED = frozenset({Kind.ENROLMENT, Kind.GROUP, Kind.GROUP_MEMBER})
#: Kinds whose objects carry no Moodle id of their own.
MEMBERSHIP_KINDS = frozenset({Kind.ENROLMENT, Kind.COHORT_MEMBER, Kind.GROUP_MEMBER})

_Handler = Callable[[Any], None]
_Call = tuple[str, dict[str, Any], _Handler]


def read_live(
    client: MoodleClient,
    desired: State,
    *,
    kinds: set[Kind] | None = None,
    roles: RoleMap | None = None,
    also_users: Iterable[Key] = (),
    courses: Iterable[Key] | None = None,
    group_courses: Iterable[Key] | None = None,
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
    group is not in ``desired``).
    """
    kinds = set(Kind) if kinds is None else set(kinds)
    reader = _Reader(
        client,
        desired,
        kinds,
        roles or RoleMap(),
        None if courses is None else set(courses),
        None if group_courses is None else set(group_courses),
    )
    return reader.read(also_users)


def live_ids(state: State) -> dict[Key, int]:
    """Moodle ids by key for every object with one of its own: the writer's starting IdMap."""
    return {
        res.key: res.moodle_id for res in state if res.moodle_id is not None and res.key.kind not in MEMBERSHIP_KINDS
    }


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _owned(idnumber: Any) -> bool:
    return isinstance(idnumber, str) and idnumber.startswith(OWNED_PREFIX)


def _unowned_ref(kind: Kind, moodle_id: int) -> Key:
    """A reference to a parent the tool does not own (never equal to a desired key)."""
    return Key(kind, f"#{moodle_id}")


class _Reader:
    def __init__(
        self,
        client: MoodleClient,
        desired: State,
        kinds: set[Kind],
        roles: RoleMap,
        member_courses: set[Key] | None,
        group_courses: set[Key] | None,
    ) -> None:
        self.client = client
        self.desired = desired
        self.kinds = kinds
        self.roles = roles
        self.member_courses = member_courses
        self.group_courses = group_courses
        self.out: dict[Key, Resource] = {}
        self.foreign: dict[Key, Resource] = {}
        self.email_holders: dict[Key, int] = {}
        self.claims: dict[Key, set[int]] = defaultdict(set)
        desired_users = [r for r in desired.by_kind(Kind.USER) if isinstance(r, User)]
        self.profile_names = sorted({name for u in desired_users for name, _ in u.profile})
        self.custom_names = sorted({name for u in desired_users for name, _ in u.customfields})
        # Raw records and id maps filled as answers arrive.
        self.categories: list[dict[str, Any]] = []
        self.category_keys: dict[int, Key] = {}
        self.courses: list[dict[str, Any]] = []
        self.course_keys: dict[int, Key] = {}
        self.cohorts: list[dict[str, Any]] = []
        self.cohort_keys: dict[int, Key] = {}
        self.group_keys: dict[int, Key] = {}
        self.user_keys: dict[int, Key] = {}
        self.not_ours: set[int] = set()
        self.users_read: set[Key] = set()
        #: course key -> user key -> (user id, role shortnames, group ids)
        self.enrolled: dict[Key, dict[Key, tuple[int, tuple[str, ...], tuple[int, ...]]]] = {}
        self.courses_with_groups: set[Key] = set()
        self.suspended: dict[Key, set[int]] = {}
        #: course key -> user id -> (role shortnames, group ids) of accounts not ours: those of
        #: an account a desired one may adopt count as the desired one's.
        self.others_enrolled: dict[Key, dict[int, tuple[tuple[str, ...], tuple[int, ...]]]] = defaultdict(dict)
        self.cohort_members: dict[Key, list[int]] = {}

    def wants(self, *kinds: Kind) -> bool:
        return any(k in self.kinds for k in kinds)

    def per_course(self) -> list[tuple[int, Key]]:
        """The owned courses whose memberships and groups are read, by Moodle id."""
        return [
            (cid, key)
            for cid, key in sorted(self.course_keys.items())
            if self.member_courses is None or key in self.member_courses
        ]

    # The three rounds ---------------------------------------------------------

    def read(self, also_users: Iterable[Key]) -> State:
        self.run(self.first_round(also_users))
        self.find_foreign_categories()
        self.find_foreign_courses()
        self.find_foreign_cohorts()
        self.run(self.second_round())
        self.run(self.third_round())
        self.build_memberships()
        clashes = {str(key): sorted(ids) for key, ids in self.claims.items() if len(ids) > 1}
        if clashes:
            raise AmbiguousOwnership(clashes)
        return State.of(
            (r for r in self.out.values() if r.key.kind in self.kinds),
            foreign=self.foreign,
            email_holders=self.email_holders,
        )

    def first_round(self, also_users: Iterable[Key]) -> list[_Call]:
        calls: list[_Call] = []
        if self.wants(Kind.CATEGORY, Kind.COURSE):
            calls.append(("core_course_get_categories", {}, self.on_categories))
        if self.wants(Kind.COURSE, *_FROM_ENROLLED):
            calls.append(("core_course_get_courses_by_field", {}, self.on_courses))
        if self.wants(Kind.COHORT, Kind.COHORT_MEMBER):
            calls.append(("core_cohort_get_cohorts", {}, self.on_cohorts))
        if self.wants(Kind.USER, Kind.COHORT_MEMBER):
            idnumbers = sorted({r.key.id for r in self.desired.by_kind(Kind.USER)} | {k.id for k in also_users})
            calls += self.user_lookups("idnumber", idnumbers)
        return calls

    def second_round(self) -> list[_Call]:
        calls: list[_Call] = []
        if self.wants(*_FROM_ENROLLED):
            options = [{"name": "userfields", "value": ENROLLED_USERFIELDS}]
            for course_id, key in self.per_course():
                calls.append(
                    (
                        "core_enrol_get_enrolled_users",
                        {"courseid": course_id, "options": options},
                        partial(self.on_enrolled, key),
                    )
                )
        if self.wants(Kind.COHORT_MEMBER) and self.cohort_keys:
            for group in self.client.read_batches(sorted(self.cohort_keys)):
                calls.append(("core_cohort_get_cohort_members", {"cohortids": group}, self.on_cohort_members))
        if self.wants(Kind.USER):
            # Usernames desired accounts do not hold yet: not found, or renamed (PowerSchool
            # changed a login, or someone changed it in Moodle), which another account may block.
            missing = [
                r.username
                for r in self.desired.by_kind(Kind.USER)
                if isinstance(r, User)
                and _LOOKUP_USERNAME.match(r.username)
                and (r.key not in self.users_read or self.renamed(r))
            ]
            calls += self.user_lookups("username", sorted(set(missing)), self.on_username_holders)
        return calls

    def third_round(self) -> list[_Call]:
        calls: list[_Call] = []
        if self.wants(Kind.ENROLMENT):
            options = [{"name": "onlysuspended", "value": "1"}, {"name": "userfields", "value": "id"}]
            ids = {key: cid for cid, key in self.course_keys.items()}
            candidates = self.candidate_users()
            held = {k for k, others in self.others_enrolled.items() if candidates.keys() & others.keys()}
            for key in sorted({k for k, users in self.enrolled.items() if users} | held):
                calls.append(
                    (
                        "core_enrol_get_enrolled_users",
                        {"courseid": ids[key], "options": options},
                        partial(self.on_suspended, key),
                    )
                )
        if self.wants(Kind.GROUP, Kind.GROUP_MEMBER):
            courses = {r.key: r.course for r in self.desired.by_kind(Kind.GROUP) if isinstance(r, Group)}
            grouped = set(courses.values()) | self.courses_with_groups
            # Members of groups ``desired`` does not describe (a saved plan adding people to a
            # group it does not change, still empty): such a group may be in any owned course.
            unplaced = any(
                isinstance(r, GroupMember) and r.group not in courses for r in self.desired.by_kind(Kind.GROUP_MEMBER)
            )
            if self.group_courses is not None:
                grouped, unplaced = self.group_courses, False
            for course_id, key in self.per_course():
                if key in grouped or unplaced:
                    calls.append(
                        (
                            "core_group_get_course_groups",
                            {"courseid": course_id},
                            partial(self.on_groups, key),
                        )
                    )
        if self.member_courses is not None:
            return calls  # a partial read: members it meets need not be read as users
        if self.wants(Kind.USER):
            calls += self.user_lookups("email", sorted(self.emails_to_check()), self.on_email_holders)
        unknown: set[int] = set()
        if self.wants(Kind.USER):
            unknown |= {uid for uid, key in self.user_keys.items() if key not in self.users_read}
        for members in self.cohort_members.values():
            unknown |= {uid for uid in members if uid not in self.user_keys and uid not in self.not_ours}
        calls += self.user_lookups("id", sorted(unknown))
        return calls

    def renamed(self, wanted: User | Course) -> bool:
        """True when the owned object read for a desired one goes by another unique name."""
        live = self.out.get(wanted.key)
        if isinstance(wanted, User):
            return isinstance(live, User) and live.username != wanted.username
        return isinstance(live, Course) and live.shortname != wanted.shortname

    def run(self, calls: Sequence[_Call]) -> None:
        answers = self.client.call_many([(function, params) for function, params, _ in calls], raw=True)
        for (_, _, handle), answer in zip(calls, answers, strict=True):
            handle(answer)

    def user_lookups(self, field: str, values: Sequence[Any], handle: _Handler | None = None) -> list[_Call]:
        if not values:
            return []
        groups = self.client.read_batches(values, fixed={"field": field})
        return [
            ("core_user_get_users_by_field", {"field": field, "values": group}, handle or self.on_users)
            for group in groups
        ]

    # Answers ------------------------------------------------------------------

    def claim(self, key: Key, moodle_id: int) -> None:
        self.claims[key].add(moodle_id)

    def on_categories(self, answer: Any) -> None:
        self.categories = MoodleClient.expect_list("core_course_get_categories", answer)
        for rec in self.categories:
            if _owned(rec.get("idnumber")):
                key = Key(Kind.CATEGORY, rec["idnumber"])
                self.category_keys[int(rec["id"])] = key
                self.claim(key, int(rec["id"]))
        for rec in self.categories:
            if _owned(rec.get("idnumber")):
                self.add(self.category(Key(Kind.CATEGORY, rec["idnumber"]), rec))

    def category(self, key: Key, rec: Mapping[str, Any]) -> Category:
        parent_id = int(rec.get("parent") or 0)
        parent = None if parent_id == 0 else self.category_ref(parent_id)
        return Category(key, name=_text(rec.get("name")), parent=parent, moodle_id=int(rec["id"]))

    def category_ref(self, category_id: int) -> Key:
        return self.category_keys.get(category_id) or _unowned_ref(Kind.CATEGORY, category_id)

    def on_courses(self, answer: Any) -> None:
        listed = answer.get("courses") if isinstance(answer, dict) else answer
        # The site course (format "site", category 0) is never a sync target.
        self.courses = [
            c for c in MoodleClient.expect_list("core_course_get_courses_by_field", listed) if c.get("format") != "site"
        ]
        for rec in self.courses:
            if _owned(rec.get("idnumber")):
                key = Key(Kind.COURSE, rec["idnumber"])
                self.course_keys[int(rec["id"])] = key
                self.claim(key, int(rec["id"]))
                self.add(self.course(key, rec))

    def course(self, key: Key, rec: Mapping[str, Any]) -> Course:
        return Course(
            key,
            shortname=_text(rec.get("shortname")),
            fullname=_text(rec.get("fullname")),
            category=self.category_ref(int(rec.get("categoryid") or 0)),
            startdate=int(rec.get("startdate") or 0),
            enddate=int(rec.get("enddate") or 0),
            moodle_id=int(rec["id"]),
        )

    def on_cohorts(self, answer: Any) -> None:
        # The apply lock is a cohort too: never a cohort to manage, adopt or remove.
        listed = MoodleClient.expect_list("core_cohort_get_cohorts", answer)
        self.cohorts = [c for c in listed if not is_lock(c.get("idnumber"))]
        for rec in self.cohorts:
            if _owned(rec.get("idnumber")):
                key = Key(Kind.COHORT, rec["idnumber"])
                self.cohort_keys[int(rec["id"])] = key
                self.claim(key, int(rec["id"]))
                self.add(Cohort(key, name=_text(rec.get("name")), moodle_id=int(rec["id"])))

    def on_users(self, answer: Any) -> None:
        for rec in MoodleClient.expect_list("core_user_get_users_by_field", answer):
            uid = int(rec["id"])
            if not _owned(rec.get("idnumber")):
                self.not_ours.add(uid)
                continue
            key = Key(Kind.USER, rec["idnumber"])
            self.claim(key, uid)
            self.user_keys[uid] = key
            self.users_read.add(key)
            self.add(self.user(key, rec))

    def emails_to_check(self) -> dict[str, list[Key]]:
        """Emails of desired accounts to be created (not read, no username holder), by email.
        Only plainly valid addresses are looked up: Moodle refuses the whole lookup for one
        it cannot clean."""
        by_email: dict[str, list[Key]] = defaultdict(list)
        for r in self.desired.by_kind(Kind.USER):
            creating = isinstance(r, User) and r.key not in self.users_read and r.key not in self.foreign
            if creating and isinstance(r, User) and _LOOKUP_EMAIL.match(r.email):
                by_email[r.email].append(r.key)
        return by_email

    def on_email_holders(self, answer: Any) -> None:
        wanted = self.emails_to_check()
        for rec in MoodleClient.expect_list("core_user_get_users_by_field", answer):
            for key in wanted.get(_text(rec.get("email")).lower(), ()):
                if rec.get("idnumber") != key.id:
                    self.email_holders[key] = int(rec["id"])

    def on_username_holders(self, answer: Any) -> None:
        by_username = {r.username: r.key for r in self.desired.by_kind(Kind.USER) if isinstance(r, User)}
        for rec in MoodleClient.expect_list("core_user_get_users_by_field", answer):
            if _owned(rec.get("idnumber")):
                self.on_users([rec])  # ours under another key: part of what we own
                continue
            wanted = by_username.get(_text(rec.get("username")).lower())
            if wanted is not None:
                self.foreign[wanted] = self.user(Key(Kind.USER, _text(rec.get("idnumber"))), rec)

    def user(self, key: Key, rec: Mapping[str, Any]) -> User:
        customs = {
            _text(cf.get("shortname")): _text(cf.get("value"))
            for cf in rec.get("customfields") or ()
            if cf.get("shortname")
        }
        return User(
            key,
            username=_text(rec.get("username")).lower(),
            firstname=_text(rec.get("firstname")),
            lastname=_text(rec.get("lastname")),
            email=_text(rec.get("email")).lower(),
            auth=_text(rec.get("auth")),
            suspended=bool(rec.get("suspended", False)),
            profile=pairs({name: _text(rec.get(name)) for name in self.profile_names}),
            customfields=pairs({**dict.fromkeys(self.custom_names, ""), **customs}),
            moodle_id=int(rec["id"]),
        )

    def on_enrolled(self, course: Key, answer: Any) -> None:
        users: dict[Key, tuple[int, tuple[str, ...], tuple[int, ...]]] = {}
        for rec in MoodleClient.expect_list("core_enrol_get_enrolled_users", answer):
            held = rec.get("roles") or ()
            self.roles.learn((int(r["roleid"]), str(r["shortname"])) for r in held)
            groups = tuple(int(g["id"]) for g in rec.get("groups") or ())
            if groups:
                self.courses_with_groups.add(course)
            if not _owned(rec.get("idnumber")):
                # Someone else's enrolment: left alone (unless the plan adopts the account).
                self.others_enrolled[course][int(rec["id"])] = (
                    tuple(sorted({str(r["shortname"]) for r in held})),
                    groups,
                )
                continue
            uid = int(rec["id"])
            key = Key(Kind.USER, rec["idnumber"])
            self.claim(key, uid)
            self.user_keys[uid] = key
            users[key] = (uid, tuple(sorted({str(r["shortname"]) for r in held})), groups)
        self.enrolled[course] = users

    def on_suspended(self, course: Key, answer: Any) -> None:
        listed = MoodleClient.expect_list("core_enrol_get_enrolled_users", answer)
        self.suspended[course] = {int(r["id"]) for r in listed}

    def on_groups(self, course: Key, answer: Any) -> None:
        for rec in MoodleClient.expect_list("core_group_get_course_groups", answer):
            if _owned(rec.get("idnumber")):
                key = Key(Kind.GROUP, rec["idnumber"])
                self.group_keys[int(rec["id"])] = key
                self.claim(key, int(rec["id"]))
                self.add(Group(key, course=course, name=_text(rec.get("name")), moodle_id=int(rec["id"])))

    def on_cohort_members(self, answer: Any) -> None:
        for rec in MoodleClient.expect_list("core_cohort_get_cohort_members", answer):
            key = self.cohort_keys.get(int(rec["cohortid"]))
            if key is not None:
                self.cohort_members[key] = [int(uid) for uid in rec.get("userids") or ()]

    def add(self, resource: Resource) -> None:
        self.out.setdefault(resource.key, resource)

    # Memberships and foreign holders ----------------------------------------------

    def candidate_users(self) -> dict[int, Key]:
        """Moodle ids of accounts not ours that hold a desired username (a plan may adopt
        them), by the desired key: their memberships are read as that key's, so a plan that
        adopts one knows what the account already has (the planner touches none of it otherwise)."""
        return {
            held.moodle_id: key
            for key, held in self.foreign.items()
            if key.kind is Kind.USER and key not in self.out and held.moodle_id is not None
        }

    def build_memberships(self) -> None:
        candidates = self.candidate_users()
        for course, others in self.others_enrolled.items():
            for uid, (roles, groups) in others.items():
                if uid in candidates:
                    self.enrolled.setdefault(course, {})[candidates[uid]] = (uid, roles, groups)
        for cohort, members in self.cohort_members.items():
            for uid in members:
                if uid in candidates:
                    self.add(cohort_member(cohort, candidates[uid], moodle_id=uid))
        for course, users in self.enrolled.items():
            suspended = self.suspended.get(course, set())
            for user, (uid, roles, groups) in users.items():
                self.add(enrolment(course, user, roles, suspended=uid in suspended, moodle_id=uid))
                for gid in groups:
                    if gid in self.group_keys:
                        self.add(group_member(self.group_keys[gid], user, moodle_id=uid))
        for cohort, members in self.cohort_members.items():
            for uid in members:
                if uid in self.user_keys:
                    self.add(cohort_member(cohort, self.user_keys[uid], moodle_id=uid))

    def missing(self, kind: Kind) -> list[Resource]:
        """Desired objects of ``kind`` with no owned live object, when ``kind`` is read."""
        if kind not in self.kinds:
            return []
        return [r for r in self.desired.by_kind(kind) if r.key not in self.out]

    def find_foreign_categories(self) -> None:
        live_ids = {key: cid for cid, key in self.category_keys.items()}
        holders: dict[tuple[int, str], dict[str, Any]] = {}
        for record in self.categories:
            if not _owned(record.get("idnumber")):
                holders.setdefault((int(record.get("parent") or 0), _text(record.get("name"))), record)
        # Parents before children, so a child can match under its parent's holder.
        wanted = sorted((r for r in self.missing(Kind.CATEGORY) if isinstance(r, Category)), key=self.desired_depth)
        for cat in wanted:
            if cat.parent is None:
                parent_id: int | None = 0
            else:
                parent_id = live_ids.get(cat.parent)
            rec = holders.get((parent_id, cat.name)) if parent_id is not None else None
            if rec is not None:
                live_ids[cat.key] = int(rec["id"])
                self.foreign[cat.key] = self.category(Key(Kind.CATEGORY, _text(rec.get("idnumber"))), rec)

    def desired_depth(self, category: Category) -> int:
        depth = 0
        parent = category.parent
        while parent is not None:
            depth += 1
            above = self.desired.get(parent)
            parent = above.parent if isinstance(above, Category) else None
        return depth

    def find_foreign_courses(self) -> None:
        holders = {_text(c.get("shortname")): c for c in self.courses if not _owned(c.get("idnumber"))}
        for course in self.missing(Kind.COURSE):
            assert isinstance(course, Course)
            rec = holders.get(course.shortname)
            if rec is not None:
                self.foreign[course.key] = self.course(Key(Kind.COURSE, _text(rec.get("idnumber"))), rec)
                # A candidate for adoption: what it holds of ours (enrolments of our accounts,
                # our groups) is read under the key it would take, so a plan that adopts it
                # knows what is already there (the planner touches none of it otherwise).
                self.course_keys[int(rec["id"])] = course.key
        if Kind.COURSE in self.kinds:
            for course in self.desired.by_kind(Kind.COURSE):
                if isinstance(course, Course) and self.renamed(course) and course.shortname in holders:
                    rec = holders[course.shortname]
                    self.foreign[course.key] = self.course(Key(Kind.COURSE, _text(rec.get("idnumber"))), rec)

    def find_foreign_cohorts(self) -> None:
        holders: dict[str, dict[str, Any]] = {}
        for record in sorted(self.cohorts, key=lambda c: int(c["id"])):
            if not _owned(record.get("idnumber")):
                holders.setdefault(_text(record.get("name")), record)
        for cohort in self.missing(Kind.COHORT):
            assert isinstance(cohort, Cohort)
            rec = holders.get(cohort.name)
            if rec is not None:
                key = Key(Kind.COHORT, _text(rec.get("idnumber")))
                self.foreign[cohort.key] = Cohort(key, name=_text(rec.get("name")), moodle_id=int(rec["id"]))
