"""Enrolments: ``enrol_manual_*`` writes and the ``core_enrol_*`` reads.

Mirrors ``enrol/manual/externallib.php`` (Moodle 4.5.5, which already loads the user
with ``MUST_EXIST``), ``enrol/externallib.php`` and ``enrol_plugin::enrol_user`` /
``unenrol_user``: enrolling is an upsert that rewrites times and status and only adds
roles; unenrolling from a user's last enrolment in a course wipes their roles and
groups there. "Active" compares with now rounded to 100 seconds, as Moodle does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ps2moodle_testkit.emulators.moodle import gradebook, permissions, php
from ps2moodle_testkit.emulators.moodle.errors import (
    coding_exception,
    invalid_parameter,
    missing_record,
    moodle_exception,
)
from ps2moodle_testkit.emulators.moodle.formatting import course_image_url, format_string, format_text
from ps2moodle_testkit.emulators.moodle.functions.userrecords import user_description, user_details
from ps2moodle_testkit.emulators.moodle.model import (
    ENROL_INSTANCE_ENABLED,
    ENROL_USER_ACTIVE,
    ENROL_USER_SUSPENDED,
    Course,
    EnrolInstance,
    RoleAssignment,
    User,
    UserEnrolment,
)
from ps2moodle_testkit.emulators.moodle.params import (
    Multiple,
    Need,
    Param,
    Single,
    Value,
    clean_param,
    default,
    optional,
)
from ps2moodle_testkit.emulators.moodle.permissions import CAPABILITY_ARCHETYPES
from ps2moodle_testkit.emulators.moodle.registry import Call, external, input_items, item_rows, output_items
from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from ps2moodle_testkit.emulators.moodle.sortorder import course_sortorders


def rounded_now(site: MoodleSite) -> int:
    """``round(time(), -2)``: Moodle's "now" for active-enrolment checks."""
    now = site.now()
    return (now + 50) // 100 * 100


def is_active(site: MoodleSite, enrolment: UserEnrolment, instance: EnrolInstance) -> bool:
    """An enrolment counts as active: both enabled, started, not ended."""
    now = rounded_now(site)
    return (
        enrolment.status == ENROL_USER_ACTIVE
        and instance.status == ENROL_INSTANCE_ENABLED
        and enrolment.timestart < now
        and (enrolment.timeend == 0 or enrolment.timeend > now)
    )


def course_enrolments(site: MoodleSite, courseid: int) -> list[tuple[UserEnrolment, EnrolInstance]]:
    """Every user enrolment of a course, whatever its status, with its instance."""
    return [
        (enrolment, instance)
        for instance in site.enrol_instances.find("course", courseid)
        for enrolment in site.user_enrolments.find("instance", instance.id)
    ]


def user_roles_in(site: MoodleSite, contextid: int, userid: int) -> list[RoleAssignment]:
    """Role assignments of a user in exactly this context."""
    return site.role_assignments.find("context_user", (contextid, userid))


def role_assign(
    site: MoodleSite, roleid: int, userid: int, contextid: int, component: str = "", itemid: int = 0
) -> None:
    """``role_assign``: an existing identical assignment is kept, not duplicated."""
    user = site.users.get(userid)
    if user is None or user.deleted:
        raise coding_exception("User ID does not exist or is deleted!", f"userid:{userid}")
    for assignment in user_roles_in(site, contextid, userid):
        if (assignment.roleid, assignment.component, assignment.itemid) == (roleid, component, itemid):
            return
    site.role_assignments.put(
        RoleAssignment(site.role_assignments.next_id(), roleid, contextid, userid, component, itemid, site.now())
    )


def role_unassign(site: MoodleSite, roleid: int, userid: int, contextid: int) -> None:
    """``role_unassign``: removes the manual (component ``''``) assignment, if any."""
    for assignment in user_roles_in(site, contextid, userid):
        if assignment.roleid == roleid and assignment.component == "":
            site.role_assignments.delete(assignment.id)


def remove_user_from_course_tables(site: MoodleSite, userid: int) -> None:
    """What deleting a user removes: enrolments, role assignments, group memberships and grades."""
    for table in (site.user_enrolments, site.role_assignments, site.group_members):
        for row in table.find("user", userid):
            table.delete(row.id)
    gradebook.remove_user_grades(site, userid)


def require_active_user(site: MoodleSite, userid: int) -> User:
    """``core_user::get_user(..., MUST_EXIST)`` then ``require_active_user``."""
    user = site.users.get(userid)
    if user is None:
        raise missing_record("user", "SELECT * FROM {user} WHERE id = ?", [userid])
    if user.deleted:
        raise moodle_exception("userdeleted", "This user account has been deleted")
    if not user.confirmed:
        raise moodle_exception("usernotconfirmed", f"The user account for {user.username} has not been confirmed")
    if user.id == 1:
        raise moodle_exception("guestsarenotallowed", "The guest user is not allowed to do this")
    return user


_ENROL_PARAMS = Single(
    {
        "enrolments": Multiple(
            Single(
                {
                    "roleid": Value(Param.INT),
                    "userid": Value(Param.INT),
                    "courseid": Value(Param.INT),
                    "timestart": Value(Param.INT, Need.OPTIONAL),
                    "timeend": Value(Param.INT, Need.OPTIONAL),
                    "suspend": Value(Param.INT, Need.OPTIONAL),
                }
            )
        )
    }
)


#: ``role_assign`` and ``update_user_enrol`` call ``mark_user_dirty``: an UPDATE of the user's
#: ``mdl_cache_flags`` row (``accesslib/dirtyusers``), held until the batch commits. (A
#: re-enrolment that changes nothing skips it; the model locks the row anyway.)
DIRTY_USER = item_rows("enrolments", "cache_flags", lambda item: item["userid"])


@external(
    "enrol_manual_enrol_users",
    _ENROL_PARAMS,
    None,
    component="enrol_manual",
    items=input_items("enrolments"),
    locks=DIRTY_USER,
)
def enrol_users(call: Call, params: dict[str, Any]) -> None:
    """Enrol users through each course's manual instance, all or nothing (an upsert)."""
    site = call.site
    with site.db.transaction():
        for row in params["enrolments"]:
            context = site.course_context(row["courseid"])
            if context is None:
                raise invalid_parameter("Context does not exist")
            user = require_active_user(site, row["userid"])
            if row["roleid"] not in {role.id for role in site.assignable_roles(context)}:
                raise moodle_exception(
                    "wsusercannotassign",
                    f"You don't have the permission to assign this role ({row['roleid']}) to this user "
                    f"({user.id}) in this course ({row['courseid']}).",
                )
            instance = _manual_instance(site, row["courseid"], enabled_only=True)
            if instance is None:
                raise moodle_exception(
                    "wsnoinstance",
                    "Manual enrolment plugin instance doesn't exist or is disabled for the course "
                    f"(id = {row['courseid']})",
                )
            status = ENROL_USER_SUSPENDED if row.get("suspend") else ENROL_USER_ACTIVE
            _enrol_user(site, instance, user.id, row.get("timestart", 0), row.get("timeend", 0), status)
            role_assign(site, row["roleid"], user.id, context.id)


def _manual_instance(site: MoodleSite, courseid: int, *, enabled_only: bool) -> EnrolInstance | None:
    instances = sorted(site.enrol_instances.find("course", courseid), key=lambda i: (i.sortorder, i.id))
    for instance in instances:
        if instance.enrol == "manual" and (instance.status == ENROL_INSTANCE_ENABLED or not enabled_only):
            return instance
    return None


def _enrol_user(site: MoodleSite, instance: EnrolInstance, userid: int, start: int, end: int, status: int) -> None:
    """``enrol_plugin::enrol_user``: rewrite times and status when they differ, else insert."""
    existing = site.user_enrolments.first("instance_user", (instance.id, userid))
    now = site.now()
    if existing is None:
        site.user_enrolments.put(
            UserEnrolment(site.user_enrolments.next_id(), instance.id, userid, status, start, end, now, now)
        )
    elif (existing.timestart, existing.timeend, existing.status) != (start, end, status):
        site.user_enrolments.put(replace(existing, status=status, timestart=start, timeend=end, timemodified=now))


_UNENROL_PARAMS = Single(
    {
        "enrolments": Multiple(
            Single(
                {
                    "userid": Value(Param.INT),
                    "courseid": Value(Param.INT),
                    # Ignored, and removed in Moodle 5.2.
                    "roleid": Value(Param.INT, Need.OPTIONAL),
                }
            )
        )
    }
)


@external(
    "enrol_manual_unenrol_users",
    _UNENROL_PARAMS,
    None,
    component="enrol_manual",
    items=input_items("enrolments"),
    locks=DIRTY_USER,
)
def unenrol_users(call: Call, params: dict[str, Any]) -> None:
    """Unenrol users from each course's manual instance, all or nothing."""
    site = call.site
    with site.db.transaction():
        for row in params["enrolments"]:
            if row["courseid"] not in site.courses:
                raise missing_record("course", "SELECT id,category FROM {course} WHERE id = ?", [row["courseid"]])
            instance = _manual_instance(site, row["courseid"], enabled_only=False)
            if instance is None:
                raise moodle_exception(
                    "wsnoinstance",
                    "Manual enrolment plugin instance doesn't exist or is disabled for the course "
                    f"(id = {row['courseid']})",
                )
            user = require_active_user(site, row["userid"])
            unenrol_user(site, instance, user.id)


def unenrol_user(site: MoodleSite, instance: EnrolInstance, userid: int) -> None:
    """``enrol_plugin::unenrol_user``; the last enrolment in a course takes roles and groups with it."""
    enrolment = site.user_enrolments.first("instance_user", (instance.id, userid))
    if enrolment is None:
        return
    context = site.course_context(instance.courseid)
    component = f"enrol_{instance.enrol}"
    for member in site.group_members.find("user", userid):
        if member.component == component and member.itemid == instance.id:
            site.group_members.delete(member.id)
    if context is not None:
        for assignment in user_roles_in(site, context.id, userid):
            if assignment.component == component and assignment.itemid == instance.id:
                site.role_assignments.delete(assignment.id)
    site.user_enrolments.delete(enrolment.id)
    if any(e.userid == userid for e, _ in course_enrolments(site, instance.courseid)):
        return
    gradebook.remove_user_grades(site, userid, instance.courseid)
    if context is not None:
        for assignment in site.role_assignments.find("user", userid):
            if assignment.contextid == context.id or _is_child_context(site, assignment.contextid, context.id):
                site.role_assignments.delete(assignment.id)
    group_ids = {group.id for group in site.groups.find("course", instance.courseid)}
    for member in site.group_members.find("user", userid):
        if member.groupid in group_ids:
            site.group_members.delete(member.id)


def _is_child_context(site: MoodleSite, contextid: int, ancestorid: int) -> bool:
    context = site.contexts.get(contextid)
    return context is not None and ancestorid in site.parent_context_ids(context)[1:]


# -- reads -----------------------------------------------------------------------------

_ENROLLED_PARAMS = Single(
    {
        "courseid": Value(Param.INT),
        "options": default(Multiple(Single({"name": Value(Param.ALPHANUMEXT), "value": Value(Param.RAW)})), []),
    }
)
_ENROLLED_USER = user_description(
    {
        "groups": optional(
            Multiple(
                Single(
                    {
                        "id": Value(Param.INT),
                        "name": Value(Param.RAW),
                        "description": Value(Param.RAW),
                        "descriptionformat": Value(Param.INT),
                    }
                )
            )
        ),
        "roles": optional(
            Multiple(
                Single(
                    {
                        "roleid": Value(Param.INT),
                        "name": Value(Param.RAW),
                        "shortname": Value(Param.ALPHANUMEXT),
                        "sortorder": Value(Param.INT),
                    }
                )
            )
        ),
        "enrolledcourses": optional(
            Multiple(Single({"id": Value(Param.INT), "fullname": Value(Param.RAW), "shortname": Value(Param.RAW)}))
        ),
    },
    in_course=True,
)


@external("core_enrol_get_enrolled_users", _ENROLLED_PARAMS, Multiple(_ENROLLED_USER), items=output_items)
def get_enrolled_users(call: Call, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Users enrolled in a course, any status unless ``onlyactive``/``onlysuspended``."""
    site = call.site
    options = _EnrolledOptions(site, params["options"])
    course = site.courses.get(params["courseid"])
    if course is None:
        raise missing_record("course", "SELECT * FROM {course} WHERE id = ?", [params["courseid"]])
    if options.onlyactive and options.onlysuspended:
        raise coding_exception("Both onlyactive and onlysuspended are set, this is probably not what you want!")
    users = [
        site.users.get(userid)
        for userid in enrolled_user_ids(site, course.id, options.onlyactive, options.onlysuspended)
    ]
    selected = [user for user in users if user is not None and _passes_filters(site, course, user, options)]
    selected.sort(key=options.sort_key, reverse=options.descending)
    page = selected[options.limitfrom :]
    if options.limitnumber > 0:
        page = page[: options.limitnumber]
    return [enrolled_user_record(call, course, user, options.userfields) for user in page]


class _EnrolledOptions:
    """The ``options`` of ``get_enrolled_users``, read as Moodle reads them."""

    def __init__(self, site: MoodleSite, options: list[dict[str, Any]], *, with_capability: bool = False) -> None:
        self.withcapability = ""
        self.groupid = 0
        self.onlyactive = False
        self.onlysuspended = False
        self.userfields: list[str] = []
        self.limitfrom = 0
        self.limitnumber = 0
        self.sortby = "id"
        self.descending = False
        for option in options:
            name, value = option["name"], option["value"]
            if name == "withcapability":
                self.withcapability = value
            elif name == "groupid":
                # get_enrolled_users_with_capability casts with (int): "3abc" is group 3.
                self.groupid = php.intval(value) if with_capability else int(clean_param(value, Param.INT, site) or 0)
            elif name == "onlyactive":
                self.onlyactive = value not in ("", "0")
            elif name == "onlysuspended":
                self.onlysuspended = value not in ("", "0")
            elif name == "userfields":
                self.userfields = [str(clean_param(f, Param.ALPHANUMEXT, site)) for f in value.split(",")]
            elif name == "limitfrom":
                self.limitfrom = int(clean_param(value, Param.INT, site) or 0)
            elif name == "limitnumber":
                self.limitnumber = int(clean_param(value, Param.INT, site) or 0)
            elif with_capability:
                continue  # the other options are get_enrolled_users' own
            elif name == "sortby":
                if value not in ("id", "firstname", "lastname", "siteorder"):
                    raise invalid_parameter(
                        f"Invalid value for sortby parameter (value: {value}), "
                        "allowed values are: id,firstname,lastname,siteorder"
                    )
                self.sortby = value
            elif name == "sortdirection":
                direction = value.upper()
                if direction not in ("ASC", "DESC"):
                    raise invalid_parameter(
                        f"Invalid value for sortdirection parameter\n                        (value: {direction}),"
                        "allowed values are: ASC,DESC"
                    )
                self.descending = direction == "DESC"

    def sort_key(self, user: User) -> tuple[Any, ...]:
        """The ORDER BY of the query: a column, then id (the storage order of equal values)."""
        if self.sortby == "siteorder":
            return (user.lastname.casefold(), user.firstname.casefold(), user.id)
        if self.sortby == "id":
            return (user.id,)
        return (getattr(user, self.sortby).casefold(), user.id)


#: What one course of a many-course read costs beyond its users, in users' worth: its
#: record, context, three capability checks and the enrolment query, estimated at 5 ms
#: (a quarter of a whole call's 20 ms) against 0.4 ms a user.
COURSE_ITEMS = 12

_CAPABILITY_PARAMS = Single(
    {
        "coursecapabilities": Multiple(
            Single({"courseid": Value(Param.INT), "capabilities": Multiple(Value(Param.CAPABILITY))})
        ),
        "options": default(Multiple(Single({"name": Value(Param.ALPHANUMEXT), "value": Value(Param.RAW)})), []),
    }
)
# The same user record without idnumber, and groups without their description format.
_CAPABLE_USER = Single(
    {key: desc for key, desc in _ENROLLED_USER.keys.items() if key != "idnumber"}
    | {
        "groups": optional(
            Multiple(Single({"id": Value(Param.INT), "name": Value(Param.RAW), "description": Value(Param.RAW)}))
        )
    }
)
_CAPABILITY_RETURNS = Multiple(
    Single({"courseid": Value(Param.INT), "capability": Value(Param.CAPABILITY), "users": Multiple(_CAPABLE_USER)})
)


@external(
    "core_enrol_get_enrolled_users_with_capability",
    _CAPABILITY_PARAMS,
    _CAPABILITY_RETURNS,
    items=lambda params, result: sum(len(entry["users"]) + COURSE_ITEMS for entry in result),
)
def get_enrolled_users_with_capability(call: Call, params: dict[str, Any]) -> list[dict[str, Any]]:
    """For each course and capability, the enrolled users holding it, by id."""
    site = call.site
    options = _EnrolledOptions(site, params["options"], with_capability=True)
    result = []
    for entry in params["coursecapabilities"]:
        course = site.courses.get(entry["courseid"])
        if course is None:
            raise missing_record("course", "SELECT * FROM {course} WHERE id = ?", [entry["courseid"]])
        require_capability_reader(call, course.id, options.groupid, options.onlyactive)
        for capability in entry["capabilities"]:
            users = [site.users.get(userid) for userid in enrolled_user_ids(site, course.id, options.onlyactive)]
            holders = [
                user
                for user in users
                if user is not None
                and (not options.groupid or site.group_members.first("group_user", (options.groupid, user.id)))
                # get_enrolled_sql filters by a capability only when one is named.
                and (not capability or has_capability(site, capability, user.id, course.id))
            ]
            page = holders[options.limitfrom :]
            if options.limitnumber > 0:
                page = page[: options.limitnumber]
            records = [enrolled_user_record(call, course, user, options.userfields) for user in page]
            result.append({"courseid": course.id, "capability": capability, "users": records})
    return result


def require_capability_reader(call: Call, courseid: int, groupid: int, onlyactive: bool) -> None:
    """The checks before listing a course's holders of a capability, in Moodle's order."""
    site, userid = call.site, call.user.id
    if not permissions.may_enter(call, courseid):
        # Moodle builds this error from a missing key: no course id, and the text as an error code.
        text = (
            "You cannot execute functions in the course context (course id:). "
            "The context error message was: Course or activity not accessible."
        )
        raise moodle_exception(text, f"error/{text}")
    viewer = ("moodle/site:viewparticipants",) if courseid == 1 else ("moodle/course:viewparticipants",)
    needed: list[tuple[str, ...]] = [(*viewer, "moodle/course:enrolreview")]
    if groupid and site.group_members.first("group_user", (groupid, userid)) is not None:
        needed.append(("moodle/site:accessallgroups",))
    if onlyactive:
        needed.append(("moodle/course:enrolreview",))
    needed.append(("moodle/role:review",))
    for alternatives in needed:
        if not any(site.permissions.has(site, userid, capability) for capability in alternatives):
            raise permissions.nopermissions(alternatives[0])


def enrolled_user_ids(
    site: MoodleSite, courseid: int, onlyactive: bool = False, onlysuspended: bool = False
) -> list[int]:
    """``get_enrolled_sql``: ids of enrolled, non-deleted users (not the guest), ascending."""
    active: dict[int, bool] = {}
    for enrolment, instance in course_enrolments(site, courseid):
        active[enrolment.userid] = active.get(enrolment.userid, False) or is_active(site, enrolment, instance)
    ids = []
    for userid, has_active in sorted(active.items()):
        user = site.users.get(userid)
        if user is None or user.deleted or user.id == 1:
            continue
        if (onlyactive and not has_active) or (onlysuspended and has_active):
            continue
        ids.append(userid)
    return ids


def _passes_filters(site: MoodleSite, course: Course, user: User, options: _EnrolledOptions) -> bool:
    if options.groupid and site.group_members.first("group_user", (options.groupid, user.id)) is None:
        return False
    if options.withcapability:
        return has_capability(site, options.withcapability, user.id, course.id)
    return True


def has_capability(site: MoodleSite, capability: str, userid: int, courseid: int) -> bool:
    """Whether a role the user holds in the course (or above it) grants the capability."""
    archetypes = CAPABILITY_ARCHETYPES.get(capability)
    if archetypes is None:
        raise coding_exception(f"Capability '{capability}' was not found! This has to be fixed in code.")
    context = site.course_context(courseid)
    if context is None:
        return False
    for contextid in site.parent_context_ids(context):
        for assignment in user_roles_in(site, contextid, userid):
            role = site.roles.get(assignment.roleid)
            if role is not None and role.archetype in archetypes:
                return True
    return False


def enrolled_user_record(call: Call, course: Course, user: User, userfields: list[str]) -> dict[str, Any]:
    """``user_get_user_details`` in a course: the system record plus course access, roles, groups, courses."""
    site = call.site
    details = user_details(call, user, userfields)
    wanted = set(userfields) if userfields else None

    def want(name: str) -> bool:
        return wanted is None or name in wanted

    context = site.course_context(course.id)
    if want("lastcourseaccess"):
        details["lastcourseaccess"] = 0
    if want("groups"):
        groups = [site.groups.get(m.groupid) for m in site.group_members.find("user", user.id)]
        mine = sorted((g for g in groups if g is not None and g.courseid == course.id), key=lambda g: (g.name, g.id))
        if mine:
            details["groups"] = [
                {
                    "id": g.id,
                    "name": format_string(g.name),
                    "description": g.description,
                    "descriptionformat": g.descriptionformat,
                }
                for g in mine
            ]
    if want("roles") and context is not None:
        # get_user_roles: one row per assignment (any component), by the role's sortorder.
        held = [(site.roles.get(a.roleid), a) for a in user_roles_in(site, context.id, user.id)]
        held.sort(key=lambda pair: (pair[0].sortorder if pair[0] else 0, pair[1].id))
        details["roles"] = [
            {"roleid": role.id, "name": role.name, "shortname": role.shortname, "sortorder": 0}
            for role, _ in held
            if role is not None
        ]
    if want("enrolledcourses"):
        courses = [
            {
                "id": c.id,
                "fullname": format_string(c.fullname),
                "shortname": format_string(c.shortname),
            }
            for c in users_active_courses(site, user.id)
        ]
        if courses:
            details["enrolledcourses"] = courses
    return details


def users_active_courses(site: MoodleSite, userid: int) -> list[Course]:
    """``enrol_get_users_courses($userid, true)``: active enrolments, visible (or viewable) courses."""
    courses: dict[int, Course] = {}
    for enrolment in site.user_enrolments.find("user", userid):
        instance = site.enrol_instances.get(enrolment.enrolid)
        if instance is None or not is_active(site, enrolment, instance):
            continue
        course = site.courses.get(instance.courseid)
        if course is None or course.id == 1:
            continue
        if course.visible or has_capability(site, "moodle/course:viewhiddencourses", userid, course.id):
            courses[course.id] = course
    numbers = course_sortorders(site, courses.values())
    return sorted(courses.values(), key=lambda c: (-c.visible, numbers[c.id]))


_METHODS_RETURNS = Multiple(
    Single(
        {
            "id": Value(Param.INT),
            "courseid": Value(Param.INT),
            "type": Value(Param.PLUGIN),
            "name": Value(Param.RAW),
            "status": Value(Param.RAW),
            "wsfunction": Value(Param.ALPHANUMEXT, Need.OPTIONAL),
        }
    )
)


@external(
    "core_enrol_get_course_enrolment_methods",
    Single({"courseid": Value(Param.INT)}),
    _METHODS_RETURNS,
    items=output_items,
)
def get_course_enrolment_methods(call: Call, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Enabled instances whose plugin describes itself: self and guest only (never manual)."""
    site = call.site
    if params["courseid"] not in site.courses:
        raise missing_record("course", "SELECT * FROM {course} WHERE id = ?", [params["courseid"]])
    methods = []
    for instance in sorted(site.enrol_instances.find("course", params["courseid"]), key=lambda i: (i.sortorder, i.id)):
        if instance.status != ENROL_INSTANCE_ENABLED or instance.enrol not in ("self", "guest"):
            continue
        name = "Guest access" if instance.enrol == "guest" else "Self enrolment (Student)"
        methods.append(
            {
                "id": instance.id,
                "courseid": instance.courseid,
                "type": instance.enrol,
                "name": name,
                "status": True,
                "wsfunction": f"enrol_{instance.enrol}_get_instance_info",
            }
        )
    return methods


_USERS_COURSES_PARAMS = Single({"userid": Value(Param.INT), "returnusercount": Value(Param.BOOL, Need.DEFAULT, True)})
_USERS_COURSES_RETURNS = Multiple(
    Single(
        {
            "id": Value(Param.INT),
            "shortname": Value(Param.RAW),
            "fullname": Value(Param.RAW),
            "displayname": Value(Param.RAW, Need.OPTIONAL),
            "enrolledusercount": Value(Param.INT, Need.OPTIONAL),
            "idnumber": Value(Param.RAW),
            "visible": Value(Param.INT),
            "summary": Value(Param.RAW, Need.OPTIONAL),
            "summaryformat": Value(Param.INT, Need.OPTIONAL),
            "format": Value(Param.PLUGIN, Need.OPTIONAL),
            "courseimage": Value(Param.RAW, Need.OPTIONAL),
            "showgrades": Value(Param.BOOL, Need.OPTIONAL),
            "lang": Value(Param.LANG, Need.OPTIONAL),
            "enablecompletion": Value(Param.BOOL, Need.OPTIONAL),
            "completionhascriteria": Value(Param.BOOL, Need.OPTIONAL),
            "completionusertracked": Value(Param.BOOL, Need.OPTIONAL),
            "category": Value(Param.INT, Need.OPTIONAL),
            "progress": Value(Param.FLOAT, Need.OPTIONAL),
            "completed": Value(Param.BOOL, Need.OPTIONAL),
            "startdate": Value(Param.INT, Need.OPTIONAL),
            "enddate": Value(Param.INT, Need.OPTIONAL),
            "marker": Value(Param.INT, Need.OPTIONAL),
            "lastaccess": Value(Param.INT, Need.OPTIONAL),
            "isfavourite": Value(Param.BOOL, Need.OPTIONAL),
            "hidden": Value(Param.BOOL, Need.OPTIONAL),
            "overviewfiles": optional(Multiple(Single({"filename": Value(Param.RAW)}))),
            "showactivitydates": Value(Param.BOOL, Need.OPTIONAL),
            "showcompletionconditions": Value(Param.BOOL, Need.OPTIONAL),
            "timemodified": Value(Param.INT, Need.OPTIONAL),
        }
    )
)


@external("core_enrol_get_users_courses", _USERS_COURSES_PARAMS, _USERS_COURSES_RETURNS, items=output_items)
def get_users_courses(call: Call, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The courses where a user's enrolment is active."""
    site = call.site
    userid = params["userid"]
    result = []
    for course in users_active_courses(site, userid):
        context = site.course_context(course.id)
        tracked = (
            bool(course.enablecompletion)
            and context is not None
            and any(a.roleid == 5 for a in user_roles_in(site, context.id, userid))
        )
        name = format_string(course.fullname, call.raw)
        record: dict[str, Any] = {
            "id": course.id,
            "shortname": format_string(course.shortname, call.raw),
            "fullname": name,
            "displayname": name,
            "idnumber": course.idnumber,
            "visible": course.visible,
            "summary": format_text(call, course.summary, course.summaryformat),
            "summaryformat": course.summaryformat,
            "format": course.format,
            "courseimage": course_image_url(call, context.id if context else 0),
            "showgrades": course.showgrades,
            "lang": clean_param(course.lang, Param.LANG, site),
            "enablecompletion": course.enablecompletion,
            "completionhascriteria": False,
            "completionusertracked": tracked,
            "category": course.category,
            "progress": None,
            "completed": False,
            "startdate": course.startdate,
            "enddate": course.enddate,
            "marker": course.marker,
            "lastaccess": None,
            "isfavourite": False,
            "hidden": False,
            "overviewfiles": [],
            "showactivitydates": course.showactivitydates,
            "showcompletionconditions": course.showcompletionconditions,
            "timemodified": course.timemodified,
        }
        if params["returnusercount"]:
            record["enrolledusercount"] = len(enrolled_user_ids(site, course.id))
        result.append(record)
    return result


def require_enrolled(site: MoodleSite, courseid: int, userid: int) -> bool:
    """``is_enrolled`` without ``onlyactive``: any enrolment in the course counts."""
    # By the (instance, user) index: a group-mode course can hold a whole school.
    return any(
        site.user_enrolments.first("instance_user", (instance.id, userid)) is not None
        for instance in site.enrol_instances.find("course", courseid)
    )
