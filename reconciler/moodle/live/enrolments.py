"""Reading what courses hold: who is enrolled (with roles and groups), which enrolments are
suspended, and the owned groups."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from reconciler.model import Group, GroupMember, Key, Kind
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.live.found import Call, Found, owned, text
from reconciler.moodle.live.users import Users
from reconciler.moodle.roles import RoleMap

#: What the enrolment read needs of each enrolled user (the rest costs 10x the time).
ENROLLED_USERFIELDS = "id,idnumber,roles,groups"

#: One enrolled account: its user id, role shortnames and group ids.
Enrolled = tuple[int, tuple[str, ...], tuple[int, ...]]


class Enrolments:
    """Per course: the owned accounts enrolled (``enrolled``), the accounts not ours
    (``others``: those of an account a desired one may adopt count as the desired one's),
    and the user ids whose enrolment is suspended."""

    def __init__(self, found: Found, users: Users, roles: RoleMap) -> None:
        self.found = found
        self.users = users
        self.roles = roles
        #: course key -> user key -> (user id, role shortnames, group ids)
        self.enrolled: dict[Key, dict[Key, Enrolled]] = {}
        #: course key -> user id -> (role shortnames, group ids), for accounts not ours
        self.others: dict[Key, dict[int, tuple[tuple[str, ...], tuple[int, ...]]]] = defaultdict(dict)
        self.suspended: dict[Key, set[int]] = {}
        #: Courses where some enrolled account is in a group.
        self.courses_with_groups: set[Key] = set()

    def lists(self, courses: Iterable[tuple[int, Key]]) -> list[Call]:
        """Everyone enrolled in each of ``courses`` (Moodle id, key), fields trimmed."""
        options = [{"name": "userfields", "value": ENROLLED_USERFIELDS}]
        return [
            ("core_enrol_get_enrolled_users", {"courseid": cid, "options": options}, partial(self.on_enrolled, key))
            for cid, key in courses
        ]

    def suspended_lists(self, course_ids: Mapping[Key, int]) -> list[Call]:
        """The suspended enrolments of every course holding owned enrolments, or enrolments
        of an account a desired one may adopt: Moodle lists suspended enrolments with the
        others and never says which is which."""
        options = [{"name": "onlysuspended", "value": "1"}, {"name": "userfields", "value": "id"}]
        candidates = self.users.candidates()
        held = {k for k, others in self.others.items() if candidates.keys() & others.keys()}
        return [
            (
                "core_enrol_get_enrolled_users",
                {"courseid": course_ids[key], "options": options},
                partial(self.on_suspended, key),
            )
            for key in sorted({k for k, users in self.enrolled.items() if users} | held)
        ]

    def on_enrolled(self, course: Key, answer: Any) -> None:
        users: dict[Key, Enrolled] = {}
        for rec in MoodleClient.expect_list("core_enrol_get_enrolled_users", answer):
            held = rec.get("roles") or ()
            self.roles.learn((int(r["roleid"]), str(r["shortname"])) for r in held)
            groups = tuple(int(g["id"]) for g in rec.get("groups") or ())
            if groups:
                self.courses_with_groups.add(course)
            if not owned(rec.get("idnumber")):
                # Someone else's enrolment: left alone (unless the plan adopts the account).
                self.others[course][int(rec["id"])] = (tuple(sorted({str(r["shortname"]) for r in held})), groups)
                continue
            uid = int(rec["id"])
            key = Key(Kind.USER, rec["idnumber"])
            self.users.met(key, uid)
            users[key] = (uid, tuple(sorted({str(r["shortname"]) for r in held})), groups)
        self.enrolled[course] = users

    def on_suspended(self, course: Key, answer: Any) -> None:
        listed = MoodleClient.expect_list("core_enrol_get_enrolled_users", answer)
        self.suspended[course] = {int(r["id"]) for r in listed}


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
