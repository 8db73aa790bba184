"""Moodle as the emulated site holds it, read straight from its tables.

The end-to-end tests judge the tool by what ends up in Moodle, so they read the site
without going through any of the tool's own code (not its client, not ``read_live``):
a bug in the live reader cannot hide a bug in the writer. :class:`SiteView` answers the
questions a Moodle admin would ask (who is enrolled in this course with which roles?),
and :func:`unowned_snapshot` captures everything the tool does not own, to prove it was
left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ps2moodle_testkit.emulators.moodle.model import CONTEXT_COURSE, CONTEXT_SYSTEM, ENROL_USER_ACTIVE
from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from reconciler.model import OWNED_PREFIX


def owned(idnumber: str | None) -> bool:
    """What the tool may claim: an idnumber carrying its prefix."""
    return bool(idnumber) and str(idnumber).startswith(OWNED_PREFIX)


@dataclass(frozen=True)
class Account:
    """A Moodle account with the fields the tool can set."""

    id: int
    username: str
    idnumber: str
    firstname: str
    lastname: str
    email: str
    auth: str
    suspended: bool
    institution: str
    department: str
    city: str
    custom: Mapping[str, str]


@dataclass(frozen=True)
class SiteCourse:
    """A course with its category as a name path (``High Schools/Lincoln``)."""

    id: int
    shortname: str
    fullname: str
    idnumber: str
    category: str
    category_idnumber: str
    startdate: int
    enddate: int


@dataclass(frozen=True)
class SiteCohort:
    id: int
    name: str
    idnumber: str
    system_level: bool
    members: frozenset[str]


@dataclass(frozen=True)
class SiteGroup:
    id: int
    name: str
    idnumber: str
    members: frozenset[str]


@dataclass(frozen=True)
class Seat:
    """One user's place in a course: the role shortnames held there and whether the
    enrolment is active."""

    roles: frozenset[str]
    active: bool


class SiteView:
    """Read-only questions about an emulated :class:`MoodleSite`."""

    def __init__(self, site: MoodleSite) -> None:
        self.site = site

    # People ---------------------------------------------------------------------

    def accounts(self) -> dict[str, Account]:
        """Every live account by username (admin and guest included)."""
        fields = {f.id: f.shortname for f in self.site.profile_fields.by_id()}
        out: dict[str, Account] = {}
        for user in self.site.users.by_id():
            if user.deleted:
                continue
            custom = {fields[d.fieldid]: d.data for d in self.site.profile_data.find("user", user.id)}
            out[user.username] = Account(
                id=user.id,
                username=user.username,
                idnumber=user.idnumber,
                firstname=user.firstname,
                lastname=user.lastname,
                email=user.email,
                auth=user.auth,
                suspended=user.suspended,
                institution=user.institution,
                department=user.department,
                city=user.city,
                custom=custom,
            )
        return out

    def owned_accounts(self) -> dict[str, Account]:
        return {name: a for name, a in self.accounts().items() if owned(a.idnumber)}

    def username_of(self, user_id: int) -> str:
        user = self.site.users.get(user_id)
        assert user is not None, f"no user {user_id}"
        return user.username

    # Courses --------------------------------------------------------------------

    def category_path(self, category_id: int) -> str:
        names: list[str] = []
        current = self.site.categories.get(category_id)
        while current is not None:
            names.append(current.name)
            current = self.site.categories.get(current.parent) if current.parent else None
        return "/".join(reversed(names))

    def categories(self) -> dict[str, str]:
        """Every category's name path -> its idnumber ('' when none)."""
        return {self.category_path(c.id): c.idnumber or "" for c in self.site.categories.by_id()}

    def courses(self) -> dict[str, SiteCourse]:
        """Every course but the front page, by shortname."""
        out: dict[str, SiteCourse] = {}
        for course in self.site.courses.by_id():
            if course.id == 1:
                continue
            category = self.site.categories.get(course.category)
            out[course.shortname] = SiteCourse(
                id=course.id,
                shortname=course.shortname,
                fullname=course.fullname,
                idnumber=course.idnumber,
                category=self.category_path(course.category),
                category_idnumber=(category.idnumber or "") if category else "",
                startdate=course.startdate,
                enddate=course.enddate,
            )
        return out

    def owned_courses(self) -> dict[str, SiteCourse]:
        return {name: c for name, c in self.courses().items() if owned(c.idnumber)}

    def course_by_idnumber(self, idnumber: str) -> SiteCourse:
        found = [c for c in self.courses().values() if c.idnumber == idnumber]
        assert len(found) == 1, f"{len(found)} courses with idnumber {idnumber}"
        return found[0]

    def seats(self, course_id: int) -> dict[str, Seat]:
        """Who is enrolled in a course (any enrol instance), by username."""
        context = self.site.course_context(course_id)
        assert context is not None
        role_names = {r.id: r.shortname for r in self.site.roles.by_id()}
        out: dict[str, Seat] = {}
        for instance in self.site.enrol_instances.find("course", course_id):
            for row in self.site.user_enrolments.find("instance", instance.id):
                roles = frozenset(
                    role_names[a.roleid]
                    for a in self.site.role_assignments.find("context_user", (context.id, row.userid))
                )
                out[self.username_of(row.userid)] = Seat(roles, row.status == ENROL_USER_ACTIVE)
        return out

    def groups(self, course_id: int) -> dict[str, SiteGroup]:
        """A course's groups by name, with their members' usernames."""
        out: dict[str, SiteGroup] = {}
        for group in self.site.groups.find("course", course_id):
            members = frozenset(self.username_of(m.userid) for m in self.site.group_members.find("group", group.id))
            out[group.name] = SiteGroup(group.id, group.name, group.idnumber, members)
        return out

    # Cohorts --------------------------------------------------------------------

    def cohorts(self) -> dict[str, SiteCohort]:
        """Every cohort by idnumber (or ``#id`` when it has none)."""
        system = self.site.system_context().id
        out: dict[str, SiteCohort] = {}
        for cohort in self.site.cohorts.by_id():
            members = frozenset(self.username_of(m.userid) for m in self.site.cohort_members.find("cohort", cohort.id))
            context = self.site.contexts.get(cohort.contextid)
            at_system = cohort.contextid == system and context is not None and context.contextlevel == CONTEXT_SYSTEM
            out[cohort.idnumber or f"#{cohort.id}"] = SiteCohort(
                cohort.id, cohort.name, cohort.idnumber, at_system, members
            )
        return out

    # Everything, for "nothing changed" ---------------------------------------------

    def everything(self) -> dict[str, Any]:
        """Every row of the tables the tool writes, for before/after comparisons."""
        return _rows(self.site, lambda table, row: True)


@dataclass(frozen=True)
class Unowned:
    """The Moodle ids of what the tool does not own, fixed at one moment."""

    users: frozenset[int]
    courses: frozenset[int]
    cohorts: frozenset[int]
    groups: frozenset[int]

    @classmethod
    def of(cls, site: MoodleSite) -> Unowned:
        return cls(
            users=frozenset(u.id for u in site.users.by_id() if not owned(u.idnumber)),
            courses=frozenset(c.id for c in site.courses.by_id() if not owned(c.idnumber)),
            cohorts=frozenset(c.id for c in site.cohorts.by_id() if not owned(c.idnumber)),
            groups=frozenset(g.id for g in site.groups.by_id() if not owned(g.idnumber)),
        )

    def without(self, *, users: set[int], courses: set[int]) -> Unowned:
        """Less the accounts and courses the tool took over through a reviewed adopt rule."""
        return replace(self, users=self.users - users, courses=self.courses - courses)


def unowned_snapshot(site: MoodleSite, unowned: Unowned | None = None) -> dict[str, Any]:
    """Every row the tool must leave alone: objects without its idnumber, and memberships,
    enrolments, role assignments and profile data of accounts it does not own (wherever
    they are, owned courses included). ``unowned`` fixes which objects those are (by
    default, what is unowned now), so a before and an after compare the same objects.
    Sort orders are left out: Moodle renumbers a category's courses when one is added,
    which is Moodle's doing, not the tool's."""
    ids = unowned or Unowned.of(site)
    users, courses, cohorts, groups = ids.users, ids.courses, ids.cohorts, ids.groups
    contexts = {site.system_context().id}
    contexts |= {c.id for c in site.contexts.by_id() if c.contextlevel == CONTEXT_COURSE and c.instanceid in courses}
    instances = {e.id for e in site.enrol_instances.by_id() if e.courseid in courses}

    def keep(table: str, row: Any) -> bool:
        if table == "users":
            return row.id in users
        if table == "profile_data":
            return row.userid in users
        if table == "courses":
            return row.id in courses
        if table == "cohorts":
            return row.id in cohorts
        if table == "groups":
            return row.id in groups
        if table == "categories":
            return not owned(row.idnumber)
        if table == "enrol_instances":
            return row.courseid in courses
        if table == "user_enrolments":
            return row.userid in users or row.enrolid in instances
        if table == "role_assignments":
            return row.userid in users or row.contextid in contexts
        if table == "cohort_members":
            return row.userid in users or row.cohortid in cohorts
        if table == "group_members":
            return row.userid in users or row.groupid in groups
        return True

    return _rows(site, keep)


_TABLES = (
    "users",
    "profile_data",
    "categories",
    "courses",
    "enrol_instances",
    "user_enrolments",
    "role_assignments",
    "cohorts",
    "cohort_members",
    "groups",
    "group_members",
)


def _rows(site: MoodleSite, keep: Callable[[str, Any], bool]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _TABLES:
        table = getattr(site, name)
        rows = {}
        for row in table.by_id():
            if not keep(name, row):
                continue
            if name in ("courses", "categories"):
                row = replace(row, sortorder=0)
            rows[row.id] = row
        out[name] = rows
    return out
