"""Reading what courses hold: who is enrolled (with roles and groups), which enrolments are
suspended, and the owned groups.

A full read lists everyone enrolled in a course, then (Moodle lists suspended enrolments
with the others and never says which is which) the suspended ones. Applying a saved plan
needs only the memberships it touches; where the service holds
``core_enrol_get_enrolled_users_with_capability`` it lists the *active* enrolments of many
courses in one call (no capability filter: an empty capability is no filter to
``get_enrolled_sql``), and asks a course for its suspended ones only when a touched
account is not among its active ones. Without that function, or without the
capabilities it checks (``moodle/role:review``, ``moodle/course:enrolreview``), those
courses are read one by one.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from reconciler.model import Group, GroupMember, Key, Kind
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.errors import AccessDenied, MoodleResponseError, MoodleTransportError, UnknownFunction
from reconciler.moodle.live.found import Call, Found, Refusable, owned, text
from reconciler.moodle.live.users import Users
from reconciler.moodle.roles import RoleMap

#: What the enrolment read needs of each enrolled user (the rest costs 10x the time).
ENROLLED_USERFIELDS = "id,idnumber,roles,groups"
#: The read that lists many courses' enrolments in one call.
MANY_COURSES = "core_enrol_get_enrolled_users_with_capability"
#: Courses per call of :data:`MANY_COURSES` at most (its cost is per user listed).
COURSES_PER_CALL = 25
#: Refusals after which the courses are read one by one: the function is not in the
#: token's service, or the role lacks a capability it checks.
_FALL_BACK_ON = frozenset({"accessexception", "nopermissions"})

#: One enrolled account: its user id, role shortnames and group ids.
Enrolled = tuple[int, tuple[str, ...], tuple[int, ...]]


class Enrolments:
    """Per course: the owned accounts enrolled (``enrolled``), the accounts not ours
    (``others``: those of an account a desired one may adopt count as the desired one's),
    and the user ids whose enrolment is suspended.

    ``pairs`` names, for courses read for a saved plan, the accounts whose memberships in
    them the plan touches: only those need a status."""

    def __init__(
        self, found: Found, users: Users, roles: RoleMap, pairs: Mapping[Key, frozenset[Key]] | None = None
    ) -> None:
        self.found = found
        self.users = users
        self.roles = roles
        self.pairs: Mapping[Key, frozenset[Key]] = pairs or {}
        #: course key -> user key -> (user id, role shortnames, group ids)
        self.enrolled: dict[Key, dict[Key, Enrolled]] = {}
        #: course key -> user id -> (role shortnames, group ids), for accounts not ours
        self.others: dict[Key, dict[int, tuple[tuple[str, ...], tuple[int, ...]]]] = defaultdict(dict)
        self.suspended: dict[Key, set[int]] = {}
        #: Courses where some enrolled account is in a group.
        self.courses_with_groups: set[Key] = set()
        #: Courses listed by their active enrolments only.
        self.active_only: set[Key] = set()
        #: Courses whose many-course read was refused: to be listed one by one.
        self.refused: list[tuple[int, Key]] = []

    def lists(self, courses: Iterable[tuple[int, Key]]) -> list[Call]:
        """Everyone enrolled in each of ``courses`` (Moodle id, key), fields trimmed."""
        options = [{"name": "userfields", "value": ENROLLED_USERFIELDS}]
        return [
            ("core_enrol_get_enrolled_users", {"courseid": cid, "options": options}, partial(self.on_enrolled, key))
            for cid, key in courses
        ]

    def active_lists(self, courses: Sequence[tuple[int, Key]], concurrency: int) -> list[Call]:
        """The active enrolments of ``courses`` (Moodle id, key), many courses a call,
        spread over the workers."""
        if not courses:
            return []
        size = max(1, min(COURSES_PER_CALL, math.ceil(len(courses) / (4 * concurrency))))
        options = [{"name": "onlyactive", "value": "1"}, {"name": "userfields", "value": "id,roles,groups"}]
        calls: list[Call] = []
        for start in range(0, len(courses), size):
            chunk = courses[start : start + size]
            params = {
                "coursecapabilities": [{"courseid": cid, "capabilities": [""]} for cid, _ in chunk],
                "options": options,
            }
            calls.append((MANY_COURSES, params, _ActiveLists(self, dict(chunk))))
        return calls

    def suspended_lists(self, course_ids: Mapping[Key, int]) -> list[Call]:
        """The suspended enrolments of every course holding owned enrolments, or enrolments
        of an account a desired one may adopt: Moodle lists suspended enrolments with the
        others and never says which is which. For a course read for a saved plan, only
        when an account whose membership it touches is enrolled (listed with the others)
        or, listed by active enrolments only, when one is not among them (it may be
        suspended); those then come with their roles and groups."""
        ids = [{"name": "onlysuspended", "value": "1"}, {"name": "userfields", "value": "id"}]
        full = [{"name": "onlysuspended", "value": "1"}, {"name": "userfields", "value": ENROLLED_USERFIELDS}]
        calls: list[Call] = []
        for key in sorted(self.may_hold_suspended()):
            if key in self.active_only:
                calls.append(
                    (
                        "core_enrol_get_enrolled_users",
                        {"courseid": course_ids[key], "options": full},
                        partial(self.on_enrolled, key, suspended=True),
                    )
                )
            else:
                calls.append(
                    (
                        "core_enrol_get_enrolled_users",
                        {"courseid": course_ids[key], "options": ids},
                        partial(self.on_suspended, key),
                    )
                )
        return calls

    def may_hold_suspended(self) -> set[Key]:
        """The courses whose suspended enrolments matter (see :meth:`suspended_lists`)."""
        candidates = self.users.candidates()
        uids = {key: uid for uid, key in self.users.keys.items()} | {key: uid for uid, key in candidates.items()}
        courses: set[Key] = set()
        for key in self.enrolled.keys() | self.others.keys():
            if key not in self.pairs:
                held = self.enrolled.get(key) or candidates.keys() & self.others.get(key, {}).keys()
                if held:
                    courses.add(key)
                continue
            listed = {uid for uid, _, _ in self.enrolled.get(key, {}).values()} | self.others.get(key, {}).keys()
            touched = {uids[user] for user in self.pairs[key] if user in uids}
            if key in self.active_only:
                if touched - listed:
                    courses.add(key)
            elif touched & listed:
                courses.add(key)
        return courses

    def on_enrolled(self, course: Key, answer: Any, *, suspended: bool = False) -> None:
        """Everyone (or, with ``suspended``, the suspended ones) a course lists."""
        records = MoodleClient.expect_list("core_enrol_get_enrolled_users", answer)
        self.take(course, records)
        if suspended:
            self.suspended[course] = {int(r["id"]) for r in records}

    def take(self, course: Key, records: Iterable[Mapping[str, Any]], *, by_id: bool = False) -> None:
        """Accounts listed as enrolled in ``course``, with their roles and groups. With
        ``by_id`` the records carry no idnumber (the many-course read never returns one):
        an account is ours when its id was read as ours before."""
        users = self.enrolled.setdefault(course, {})
        for rec in records:
            held = rec.get("roles") or ()
            self.roles.learn((int(r["roleid"]), str(r["shortname"])) for r in held)
            roles = tuple(sorted({str(r["shortname"]) for r in held}))
            groups = tuple(int(g["id"]) for g in rec.get("groups") or ())
            if groups:
                self.courses_with_groups.add(course)
            uid = int(rec["id"])
            if by_id:
                key = self.users.keys.get(uid)
            elif owned(rec.get("idnumber")):
                key = Key(Kind.USER, rec["idnumber"])
                self.users.met(key, uid)
            else:
                key = None
            if key is None:
                # Someone else's enrolment: left alone (unless the plan adopts the account).
                self.others[course][uid] = (roles, groups)
            else:
                users[key] = (uid, roles, groups)

    def on_suspended(self, course: Key, answer: Any) -> None:
        listed = MoodleClient.expect_list("core_enrol_get_enrolled_users", answer)
        self.suspended[course] = {int(r["id"]) for r in listed}


class _ActiveLists(Refusable):
    """The answer of one many-course read: each course's active enrolments; a refusal
    leaves its courses to be read one by one."""

    def __init__(self, enrolments: Enrolments, courses: dict[int, Key]) -> None:
        self.enrolments = enrolments
        self.courses = courses

    def __call__(self, answer: Any) -> None:
        listed = {int(entry["courseid"]): entry for entry in MoodleClient.expect_list(MANY_COURSES, answer)}
        for cid, key in self.courses.items():
            entry = listed.get(cid)
            if entry is None:
                raise MoodleTransportError(f"{MANY_COURSES}: Moodle did not list course {cid}")
            self.enrolments.active_only.add(key)
            self.enrolments.take(key, MoodleClient.expect_list(MANY_COURSES, entry.get("users")), by_id=True)

    def refused(self, error: MoodleResponseError) -> bool:
        """A refusal for want of the function or a capability: read the courses one by one."""
        unavailable = isinstance(error, UnknownFunction) or (
            isinstance(error, AccessDenied) and error.errorcode in _FALL_BACK_ON
        )
        if not unavailable:
            return False
        self.enrolments.refused.extend(self.courses.items())
        return True


class Groups:
    """The owned groups' keys by Moodle id."""

    def __init__(self, found: Found, group_courses: set[Key] | None) -> None:
        self.found = found
        self.group_courses = group_courses
        self.keys: dict[int, Key] = {}

    def lists(self, courses: Iterable[tuple[int, Key]], courses_with_groups: set[Key]) -> list[Call]:
        """The groups of those of ``courses`` (Moodle id, key) that may hold owned ones."""
        grouped = self.where(courses_with_groups)
        return [
            ("core_group_get_course_groups", {"courseid": cid}, partial(self.on_groups, key))
            for cid, key in courses
            if grouped is None or key in grouped
        ]

    def where(self, courses_with_groups: set[Key]) -> set[Key] | None:
        """The courses whose groups are read (None: every one): ``group_courses`` when
        given, else those holding desired groups or groups seen on members."""
        if self.group_courses is not None:
            return self.group_courses
        desired = self.found.desired
        courses = {r.key: r.course for r in desired.by_kind(Kind.GROUP) if isinstance(r, Group)}
        # Members of groups ``desired`` does not describe (a saved plan adding people to a
        # group it does not change, still empty): such a group may be in any owned course.
        if any(isinstance(r, GroupMember) and r.group not in courses for r in desired.by_kind(Kind.GROUP_MEMBER)):
            return None
        return set(courses.values()) | courses_with_groups

    def on_groups(self, course: Key, answer: Any) -> None:
        for rec in MoodleClient.expect_list("core_group_get_course_groups", answer):
            if owned(rec.get("idnumber")):
                key = Key(Kind.GROUP, rec["idnumber"])
                self.keys[int(rec["id"])] = key
                self.found.claim(key, int(rec["id"]))
                self.found.add(Group(key, course=course, name=text(rec.get("name")), moodle_id=int(rec["id"])))
