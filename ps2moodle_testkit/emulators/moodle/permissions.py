"""What a token that is not a site admin may do: capabilities, role allowances, hidden fields.

Held to ``shared/golden/moodle/leastpriv`` (a real Moodle 4.5 answering a sync user whose
role held no capability, then one granted capability at a time). Everything is granted
at system context there, so a capability here is one some role assigned to the user at
system context allows. A site admin passes every check. In the order Moodle checks:

1. ``webservice/rest:use``, before anything else: ``accessexception`` naming nothing;
2. a course context the user may not enter (no ``moodle/course:view``):
   ``errorcoursecontextnotvalid`` (``core_course_get_courses_by_field`` instead returns
   only the public part of such courses, without idnumber: Moodle's own fallback);
3. the function's capabilities: ``nopermissions`` with the capability's display name;
   ``core_course_update_courses`` and ``core_course_delete_courses`` refuse per course
   through ``warnings`` instead (one capability per changed field for updates);
4. "Allow role assignments": enrolling needs the role to be assignable by the user's
   role (``wsusercannotassign``); assigning or unassigning it too (``invalidparameter``);
5. user records: another user is left out entirely without ``moodle/user:viewdetails``,
   loses username, idnumber, auth, department... without ``moodle/user:viewalldetails``
   and its email without ``moodle/site:viewuseridentity``; a user searched by a field the
   caller may not see is not found. Silently: no error, no warning (the recording's
   warning section).

The setup steps of the recording (``create_sync_user``, ``grant_capability``,
``allow_assign``) and "Define roles → Import" of a role preset
(:meth:`Permissions.import_preset`) change what a role holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from ps2moodle_testkit.emulators.moodle.errors import MoodleError, access_exception, invalid_parameter, moodle_exception
from ps2moodle_testkit.emulators.moodle.model import (
    CONTEXT_COURSE,
    CONTEXT_COURSECAT,
    CONTEXT_SYSTEM,
    CONTEXT_USER,
    Role,
    RoleAssignment,
    User,
)

if TYPE_CHECKING:
    from ps2moodle_testkit.emulators.moodle.registry import Call, ExternalFunction
    from ps2moodle_testkit.emulators.moodle.site import MoodleSite

#: Capability display names, as ``nopermissions`` messages show them (recorded).
DISPLAY_NAMES = {
    "moodle/category:manage": "Manage categories",
    "moodle/course:create": "Create courses",
    "moodle/course:update": "Update course settings",
    "moodle/course:changefullname": "Change course full name",
    "moodle/course:changeshortname": "Change course short name",
    "moodle/course:changeidnumber": "Change course ID number",
    "moodle/course:changecategory": "Change course category",
    "moodle/course:viewparticipants": "View participants",
    "moodle/course:managegroups": "Manage groups",
    # From lang/en/role.php (not recorded): what get_enrolled_users_with_capability asks for.
    "moodle/course:enrolreview": "Review course enrolments",
    "moodle/role:review": "Review permissions for others",
    "moodle/site:accessallgroups": "Access all groups",
    "moodle/role:assign": "Assign roles to users",
    "moodle/user:create": "Create users",
    "moodle/user:update": "Update user profiles",
    "moodle/user:delete": "Delete users",
    "moodle/cohort:manage": "Create, delete and move cohorts",
    "moodle/cohort:view": "View site-wide cohorts",
    "moodle/cohort:assign": "Add and remove cohort members",
    "enrol/manual:enrol": "Enrol users",
    "enrol/manual:unenrol": "Unenrol users from the course",
}

#: Which role archetypes hold a capability in a default install (for ``withcapability``).
CAPABILITY_ARCHETYPES = {
    "moodle/course:manageactivities": {"manager", "editingteacher"},
    "moodle/course:update": {"manager", "editingteacher"},
    "moodle/course:viewhiddencourses": {"manager", "coursecreator", "editingteacher", "teacher"},
    "moodle/course:viewparticipants": {"manager", "coursecreator", "editingteacher", "teacher", "student"},
    "moodle/course:enrolreview": {"manager", "editingteacher"},
    "moodle/course:markcomplete": {"manager", "editingteacher", "teacher"},
    "moodle/course:isincompletionreports": {"student"},
    "moodle/grade:viewall": {"manager", "editingteacher", "teacher"},
    "moodle/grade:view": {"student"},
    "moodle/site:accessallgroups": {"manager", "editingteacher", "teacher"},
    "moodle/role:review": {"manager", "editingteacher"},
    "mod/assign:submit": {"student"},
    "mod/quiz:attempt": {"student"},
    "mod/forum:replypost": {"manager", "editingteacher", "teacher", "student"},
}

#: The capabilities each function requires, in order; a tuple is "any of" (the first is named).
_REQUIRES: dict[str, tuple[tuple[str, ...], ...]] = {
    "core_course_create_categories": (("moodle/category:manage",),),
    "core_course_update_categories": (("moodle/category:manage",),),
    "core_course_delete_categories": (("moodle/category:manage",),),
    "core_course_create_courses": (("moodle/course:create",),),
    "core_enrol_get_enrolled_users": (("moodle/course:viewparticipants",),),
    "enrol_manual_enrol_users": (("enrol/manual:enrol",),),
    "enrol_manual_unenrol_users": (("enrol/manual:unenrol",),),
    "core_role_assign_roles": (("moodle/role:assign",),),
    "core_role_unassign_roles": (("moodle/role:assign",),),
    "core_user_create_users": (("moodle/user:create",),),
    "core_user_update_users": (("moodle/user:update",),),
    "core_user_delete_users": (("moodle/user:delete",),),
    "core_cohort_create_cohorts": (("moodle/cohort:manage",),),
    "core_cohort_update_cohorts": (("moodle/cohort:manage",),),
    "core_cohort_delete_cohorts": (("moodle/cohort:manage",),),
    "core_cohort_get_cohorts": (("moodle/cohort:view", "moodle/cohort:manage"),),
    "core_cohort_search_cohorts": (("moodle/cohort:view", "moodle/cohort:manage"),),
    "core_cohort_get_cohort_members": (("moodle/cohort:view", "moodle/cohort:manage"),),
    "core_cohort_add_cohort_members": (("moodle/cohort:assign", "moodle/cohort:manage"),),
    "core_cohort_delete_cohort_members": (("moodle/cohort:assign", "moodle/cohort:manage"),),
    "core_group_create_groups": (("moodle/course:managegroups",),),
    "core_group_get_course_groups": (("moodle/course:managegroups",),),
    "core_group_get_group_members": (("moodle/course:managegroups",),),
    "core_group_add_group_members": (("moodle/course:managegroups",),),
    "core_group_delete_group_members": (("moodle/course:managegroups",),),
    "core_group_delete_groups": (("moodle/course:managegroups",),),
    "core_group_update_groups": (("moodle/course:managegroups",),),
}

#: core_course_update_courses: the capability each changed field needs (course/externallib.php).
_UPDATE_FIELDS = {
    "fullname": "moodle/course:changefullname",
    "shortname": "moodle/course:changeshortname",
    "idnumber": "moodle/course:changeidnumber",
    "categoryid": "moodle/course:changecategory",
}
#: What get_course_public_information returns of a course the user may not enter.
_PUBLIC_COURSE = frozenset(
    {
        "id", "fullname", "displayname", "shortname", "courseimage", "categoryid", "categoryname", "sortorder",
        "summary", "summaryformat", "summaryfiles", "overviewfiles", "showactivitydates",
        "showcompletionconditions", "contacts", "enrollmentmethods", "customfields",
    }
)  # fmt: skip
#: get_courses_by_field: fields for holders of moodle/course:update only (idnumber among them).
_COURSE_MANAGER = frozenset({"idnumber", "legacyfiles", "calendartype", "timecreated", "timemodified"})
_COURSE_MANAGER |= {"requested", "cacherev"}
#: get_courses: what a user without moodle/course:update sees.
_GET_COURSES_PUBLIC = frozenset(
    {"id", "shortname", "categoryid", "fullname", "displayname", "summary", "summaryformat", "format"}
    | {"startdate", "enddate", "showactivitydates", "showcompletionconditions"}
)
#: get_categories: fields for holders of moodle/category:manage only.
_CATEGORY_MANAGER = frozenset({"idnumber", "visible", "visibleold", "timemodified", "theme"})
#: User record fields shown only with moodle/user:viewalldetails (email: viewuseridentity).
_ALL_DETAILS = frozenset(
    {"username", "idnumber", "auth", "confirmed", "lang", "theme", "mailformat", "trackforums", "department"}
    | {"institution", "calendartype"}
)
_IDENTITY = "moodle/site:viewuseridentity"
#: What a user without site-admin rights is told about uploads in get_site_info (recorded).
_NON_ADMIN_SITE_INFO = {"userquota": 104857600, "usermaxuploadfilesize": 2097152}
_CONTEXT_LEVELS = {
    "system": CONTEXT_SYSTEM,
    "user": CONTEXT_USER,
    "coursecat": CONTEXT_COURSECAT,
    "course": CONTEXT_COURSE,
}


@dataclass
class Permissions:
    """Capabilities (allowed at system context) and "Allow role assignments", per role id."""

    capabilities: dict[int, set[str]] = field(default_factory=dict)
    allow_assign: dict[int, set[int]] = field(default_factory=dict)

    def has(self, site: MoodleSite, userid: int, capability: str) -> bool:
        """``has_capability`` at system context (a site admin has them all)."""
        if site.is_siteadmin(userid):
            return True
        return any(capability in self.capabilities.get(r, ()) for r in self._roles(site, userid))

    def may_assign(self, site: MoodleSite, userid: int, roleid: int) -> bool:
        """Whether one of the user's roles may assign ``roleid`` (``get_assignable_roles``)."""
        if site.is_siteadmin(userid):
            return True
        return any(roleid in self.allow_assign.get(r, ()) for r in self._roles(site, userid))

    def _roles(self, site: MoodleSite, userid: int) -> set[int]:
        system = site.system_context().id
        return {a.roleid for a in site.role_assignments.find("context_user", (system, userid))}

    # -- changes made in the site, not through web services ---------------------------------

    def setup(self, site: MoodleSite, name: str, *args: str | int) -> int | None:
        """``create_sync_user USERNAME TOKEN`` (a manual user, a role of the same shortname
        with no capability at system level, assigned there, a token): returns the user id;
        ``grant_capability ROLE CAPABILITY``; ``allow_assign ROLE TARGETROLEID``."""
        if name == "create_sync_user":
            username, token = str(args[0]), str(args[1])
            roleid = self._create_role(site, username, "PowerSchool sync", (CONTEXT_SYSTEM,))
            user = User(site.users.next_id(), username, f"{username}@example.invalid", "PowerSchool", "Sync")
            site.users.put(user)
            site.create_context(CONTEXT_USER, user.id, site.system_context().id)
            self._assign(site, roleid, user.id)
            site.add_token(token, user.id)
            return user.id
        role = site.roles.first("shortname", str(args[0]))
        if role is None:
            raise KeyError(f"no role {args[0]}")
        if name == "grant_capability":
            self.capabilities.setdefault(role.id, set()).add(str(args[1]))
        elif name == "allow_assign":
            self.allow_assign.setdefault(role.id, set()).add(int(args[1]))
        else:
            raise ValueError(f"unknown setup step {name!r}")
        return None

    def import_preset(self, site: MoodleSite, xml: str) -> int:
        """Define roles → Import a role preset (``core_role_preset::parse_preset``): the new role's id."""
        root = ET.fromstring(xml)
        if root.tag != "role":
            raise ValueError("not a role preset: the root element must be <role>")
        levels = tuple(_CONTEXT_LEVELS[t] for t in _texts(root.find("contextlevels"), "level") if t in _CONTEXT_LEVELS)
        shortname = root.findtext("shortname", "").strip().lower()
        roleid = self._create_role(site, shortname, root.findtext("name", shortname), levels)
        self.capabilities[roleid] = set(_texts(root.find("permissions"), "allow"))
        targets = (site.roles.first("shortname", s) for s in _texts(root.find("allowassign"), "shortname"))
        self.allow_assign[roleid] = {target.id for target in targets if target is not None}
        return roleid

    def assign_at_system(self, site: MoodleSite, roleid: int, userid: int) -> None:
        """Assign a role to a user at system context (Site administration > Users > Assign system roles)."""
        self._assign(site, roleid, userid)

    @staticmethod
    def _create_role(site: MoodleSite, shortname: str, name: str, levels: tuple[int, ...]) -> int:
        roleid = site.roles.next_id()
        sortorder = max((r.sortorder for r in site.roles.by_id()), default=0) + 1
        site.roles.put(Role(roleid, shortname, "", sortorder, levels, name))
        return roleid

    @staticmethod
    def _assign(site: MoodleSite, roleid: int, userid: int) -> None:
        assignment = RoleAssignment(
            site.role_assignments.next_id(), roleid, site.system_context().id, userid, timemodified=site.now()
        )
        site.role_assignments.put(assignment)


def _texts(parent: ET.Element | None, tag: str) -> list[str]:
    return [(child.text or "").strip() for child in parent.iter(tag)] if parent is not None else []


# -- the checks, around a function call ---------------------------------------------------


def require_protocol(site: MoodleSite, user: User) -> None:
    """``webservice/rest:use`` (webservice/lib.php): refused before the function is even looked up."""
    if not site.permissions.has(site, user.id, "webservice/rest:use"):
        raise access_exception("You are not allowed to use the rest protocol (missing capability: webservice/rest:use)")


def run_checked(function: ExternalFunction, call: Call, params: dict[str, Any]) -> Any:
    """Run ``function`` as the token's user may: refused, answered with warnings, or its
    answer with what the user may not see left out."""
    site, user = call.site, call.user
    if site.is_siteadmin(user.id):
        return function.run(call, params)
    name = function.name
    special = _WARNING_FUNCTIONS.get(name)
    if special is not None:
        return special(function, call, params)
    for courseid in _COURSES.get(name, _no_courses)(site, params):
        _require_course_access(call, courseid)
    for alternatives in _REQUIRES.get(name, ()):
        if not any(site.permissions.has(site, user.id, c) for c in alternatives):
            raise nopermissions(alternatives[0])
    _check_allowances(call, name, params)
    result = function.run(call, params)
    return _FILTERS.get(name, _unfiltered)(call, params, result)


def nopermissions(capability: str) -> MoodleError:
    """``required_capability_exception``, naming the capability as the site shows it."""
    return MoodleError(
        "core\\exception\\required_capability_exception",
        "nopermissions",
        f"Sorry, but you do not currently have permissions to do that ({DISPLAY_NAMES.get(capability, capability)}).",
    )


def may_enter(call: Call, courseid: int) -> bool:
    """Whether ``validate_context`` lets the token's user into a course (see :func:`_require_course_access`)."""
    return courseid == 1 or call.site.permissions.has(call.site, call.user.id, "moodle/course:view")


def _course_error(courseid: int) -> MoodleError:
    return moodle_exception(
        "errorcoursecontextnotvalid",
        f"You cannot execute functions in the course context (course id:{courseid}). "
        "The context error message was: Course or activity not accessible.",
    )


def _require_course_access(call: Call, courseid: int) -> None:
    """``validate_context`` of a course context: ``require_login`` lets in enrolled users and
    holders of moodle/course:view; the site course is open to every user. (Not modelled: a
    non-admin token user enrolled in the course; the sync user is enrolled nowhere.)"""
    if call.site.course_context(courseid) is not None and not may_enter(call, courseid):
        raise _course_error(courseid)


def _check_allowances(call: Call, name: str, params: dict[str, Any]) -> None:
    site, userid = call.site, call.user.id
    if name == "enrol_manual_enrol_users":
        for row in params["enrolments"]:
            if not site.permissions.may_assign(site, userid, row["roleid"]):
                raise moodle_exception(
                    "wsusercannotassign",
                    f"You don't have the permission to assign this role ({row['roleid']}) to this user "
                    f"({row['userid']}) in this course ({row['courseid']}).",
                )
    for key, verb in (("assignments", "assign"), ("unassignments", "unassign")):
        if name == f"core_role_{verb}_roles":
            for row in params[key]:
                if not site.permissions.may_assign(site, userid, row["roleid"]):
                    raise invalid_parameter(
                        f"Can not {verb} roleid={row['roleid']} in contextid={row.get('contextid', '')}"
                    )


# Which course contexts a function validates, from its parameters.
def _no_courses(site: MoodleSite, params: dict[str, Any]) -> list[int]:
    return []


def _rows(key: str, column: str = "courseid") -> Callable[[MoodleSite, dict[str, Any]], list[int]]:
    return lambda site, params: [row[column] for row in params[key]]


def _group_courses(key: str | None, column: str = "groupid") -> Callable[[MoodleSite, dict[str, Any]], list[int]]:
    def courses(site: MoodleSite, params: dict[str, Any]) -> list[int]:
        ids = [row[column] for row in params[key]] if key else list(params["groupids"])
        return [group.courseid for gid in ids if (group := site.groups.get(gid)) is not None]

    return courses


def _role_courses(key: str) -> Callable[[MoodleSite, dict[str, Any]], list[int]]:
    return lambda site, params: [
        row["instanceid"] for row in params[key] if row.get("contextlevel") == "course" and "instanceid" in row
    ]


_COURSES: dict[str, Callable[[MoodleSite, dict[str, Any]], list[int]]] = {
    "core_course_get_courses": lambda site, params: [
        i for i in (params.get("options") or {}).get("ids") or [c.id for c in site.courses.by_id()] if i != 1
    ][:1],
    "core_enrol_get_enrolled_users": lambda site, params: [params["courseid"]],
    "enrol_manual_enrol_users": _rows("enrolments"),
    "enrol_manual_unenrol_users": _rows("enrolments"),
    "core_group_create_groups": _rows("groups"),
    "core_group_get_course_groups": lambda site, params: [params["courseid"]],
    "core_group_add_group_members": _group_courses("members"),
    "core_group_delete_group_members": _group_courses("members"),
    "core_group_get_group_members": _group_courses(None),
    "core_group_delete_groups": _group_courses(None),
    "core_group_update_groups": _group_courses("groups", "id"),
    "core_role_assign_roles": _role_courses("assignments"),
    "core_role_unassign_roles": _role_courses("unassignments"),
}


# -- functions that refuse per course through warnings ------------------------------------


def _update_courses(function: ExternalFunction, call: Call, params: dict[str, Any]) -> Any:
    allowed, warnings = [], []
    for course in params["courses"]:
        refusal = _update_refusal(call, course)
        if refusal is None:
            allowed.append(course)
        else:
            warnings.append({"item": "course", "itemid": course["id"], **refusal})
    result = function.run(call, {**params, "courses": allowed}) if allowed else {"warnings": []}
    return {**result, "warnings": [*warnings, *result.get("warnings", [])]}


def _update_refusal(call: Call, course: dict[str, Any]) -> dict[str, str] | None:
    site, userid = call.site, call.user.id
    existing = site.courses.get(course["id"])
    if existing is None:
        return None  # the function itself reports an unknown course
    if not may_enter(call, existing.id):
        error = _course_error(existing.id)
        return {"warningcode": error.errorcode or "", "message": error.message}
    needed = ["moodle/course:update"]
    current: dict[str, object] = {"fullname": existing.fullname, "shortname": existing.shortname}
    current |= {"idnumber": existing.idnumber, "categoryid": existing.category}
    needed += [cap for key, cap in _UPDATE_FIELDS.items() if key in course and course[key] != current[key]]
    for capability in needed:
        if not site.permissions.has(site, userid, capability):
            error = nopermissions(capability)
            return {"warningcode": "nopermissions", "message": error.message}
    return None


def _delete_courses(function: ExternalFunction, call: Call, params: dict[str, Any]) -> Any:
    site = call.site
    if site.permissions.has(site, call.user.id, "moodle/course:delete"):
        return function.run(call, params)
    warnings = [
        {
            "item": "course",
            "itemid": courseid,
            "warningcode": "cannotdeletecourse",
            "message": f"You do not have the permission to delete this course{courseid}",
        }
        for courseid in params["courseids"]
        if site.courses.get(courseid) is not None
    ]
    return {"warnings": warnings}


_WARNING_FUNCTIONS: dict[str, Callable[[ExternalFunction, Call, dict[str, Any]], Any]] = {
    "core_course_update_courses": _update_courses,
    "core_course_delete_courses": _delete_courses,
}


# -- what the answer may show ---------------------------------------------------------------


def _unfiltered(call: Call, params: dict[str, Any], result: Any) -> Any:
    return result


def _visible(call: Call, record: dict[str, Any], searched: str | None = None) -> dict[str, Any] | None:
    """``user_get_user_details`` for this caller: the record as they may see it, or None."""
    site, userid = call.site, call.user.id
    if record.get("id") == userid:
        return record
    if not site.permissions.has(site, userid, "moodle/user:viewdetails"):
        return None
    hidden: set[str] = set()
    if not site.permissions.has(site, userid, "moodle/user:viewalldetails"):
        hidden |= _ALL_DETAILS
    if not site.permissions.has(site, userid, _IDENTITY):
        hidden.add("email")
    if searched in hidden:
        return None  # "return the user only if the searched field is returned"
    return {k: v for k, v in record.items() if k not in hidden}


def _user_list(call: Call, records: Iterable[dict[str, Any]], searched: str | None = None) -> list[dict[str, Any]]:
    return [seen for record in records if (seen := _visible(call, record, searched)) is not None]


def _users_by_field(call: Call, params: dict[str, Any], result: Any) -> Any:
    return _user_list(call, result, params["field"])


def _get_users(call: Call, params: dict[str, Any], result: Any) -> Any:
    keys = [c["key"] for c in params["criteria"]]
    users = result["users"]
    for key in keys:
        users = _user_list(call, users, key)
    return {**result, "users": users if keys else _user_list(call, users)}


def _enrolled_users(call: Call, params: dict[str, Any], result: Any) -> Any:
    return _user_list(call, result)


def _capable_users(call: Call, params: dict[str, Any], result: Any) -> Any:
    return [{**entry, "users": _user_list(call, entry["users"])} for entry in result]


def _users_courses(call: Call, params: dict[str, Any], result: Any) -> Any:
    if _visible(call, {"id": params["userid"]}) is None:
        return []
    if params["userid"] == call.user.id:
        return result
    # completion_can_view_data(): another user's completion is not the caller's to see.
    return [{**c, "completed": None, "completionusertracked": False} for c in result]


def _categories(call: Call, params: dict[str, Any], result: Any) -> Any:
    if call.site.permissions.has(call.site, call.user.id, "moodle/category:manage"):
        return result
    return [{k: v for k, v in c.items() if k not in _CATEGORY_MANAGER} for c in result]


def _get_courses(call: Call, params: dict[str, Any], result: Any) -> Any:
    if call.site.permissions.has(call.site, call.user.id, "moodle/course:update"):
        return result
    return [{k: v for k, v in c.items() if k in _GET_COURSES_PUBLIC} for c in result]


def _courses_by_field(call: Call, params: dict[str, Any], result: Any) -> Any:
    manager = call.site.permissions.has(call.site, call.user.id, "moodle/course:update")
    courses = [
        {k: v for k, v in c.items() if manager or k not in _COURSE_MANAGER}
        if may_enter(call, int(c["id"]))
        else {k: v for k, v in c.items() if k in _PUBLIC_COURSE}
        for c in result["courses"]
    ]
    return {**result, "courses": courses}


def _site_info(call: Call, params: dict[str, Any], result: Any) -> Any:
    return {**result, **_NON_ADMIN_SITE_INFO}


_FILTERS: dict[str, Callable[[Call, dict[str, Any], Any], Any]] = {
    "core_user_get_users_by_field": _users_by_field,
    "core_user_get_users": _get_users,
    "core_enrol_get_enrolled_users": _enrolled_users,
    "core_enrol_get_enrolled_users_with_capability": _capable_users,
    "core_enrol_get_users_courses": _users_courses,
    "core_course_get_courses_by_field": _courses_by_field,
    "core_course_get_courses": _get_courses,
    "core_course_get_categories": _categories,
    "core_webservice_get_site_info": _site_info,
}
