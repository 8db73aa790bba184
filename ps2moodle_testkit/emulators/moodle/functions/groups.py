"""``core_group_*``: groups inside a course and their members.

Mirrors ``group/externallib.php`` and ``group/lib.php``: names are unique within a
course, a non-empty idnumber too; only users enrolled in the course (any status) may
join; adding an existing member or removing a non-member is a no-op; deleting an
unknown group is ignored; a group with members keeps its visibility and participation.
All writes are all-or-nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ps2moodle_testkit.emulators.moodle import php
from ps2moodle_testkit.emulators.moodle.errors import (
    MoodleError,
    invalid_parameter,
    missing_record,
    moodle_exception,
)
from ps2moodle_testkit.emulators.moodle.formatting import format_string, format_text, validate_format
from ps2moodle_testkit.emulators.moodle.functions.enrol import (
    require_active_user,
    require_enrolled,
    users_active_courses,
)
from ps2moodle_testkit.emulators.moodle.model import Course, Group, GroupMember
from ps2moodle_testkit.emulators.moodle.params import (
    Multiple,
    Need,
    Param,
    Single,
    Value,
    default,
    optional,
    warnings_description,
)
from ps2moodle_testkit.emulators.moodle.permissions import may_enter
from ps2moodle_testkit.emulators.moodle.registry import Call, external, input_items, item_rows, output_items
from ps2moodle_testkit.emulators.moodle.site import MoodleSite

_GROUP_OUT = Single(
    {
        "id": Value(Param.INT),
        "courseid": Value(Param.INT),
        "name": Value(Param.TEXT),
        "description": Value(Param.RAW),
        "descriptionformat": Value(Param.INT),
        "enrolmentkey": Value(Param.RAW),
        "idnumber": Value(Param.RAW),
        "visibility": Value(Param.INT, Need.OPTIONAL),
        "participation": Value(Param.BOOL, Need.OPTIONAL),
        "customfields": optional(
            Multiple(
                Single(
                    {
                        "name": Value(Param.RAW),
                        "shortname": Value(Param.RAW),
                        "type": Value(Param.RAW),
                        "valueraw": Value(Param.RAW),
                        "value": Value(Param.RAW),
                    }
                )
            )
        ),
    }
)
#: ``build_custom_fields_parameters_structure``: the emulated groups have no custom fields to set.
_CUSTOM_FIELDS_IN = optional(Multiple(Single({"shortname": Value(Param.ALPHANUMEXT), "value": Value(Param.RAW)})))
_NEW_GROUP = Single(
    {
        "courseid": Value(Param.INT),
        "name": Value(Param.TEXT),
        "description": Value(Param.RAW),
        "descriptionformat": Value(Param.INT, Need.DEFAULT, 1),
        "enrolmentkey": Value(Param.RAW, Need.OPTIONAL),
        "idnumber": Value(Param.RAW, Need.OPTIONAL),
        "visibility": Value(Param.INT, Need.DEFAULT, 0),
        "participation": Value(Param.BOOL, Need.DEFAULT, True),
        "customfields": _CUSTOM_FIELDS_IN,
    }
)


def _course_context_error(courseid: int) -> Exception:
    return moodle_exception(
        "errorcoursecontextnotvalid",
        f"You cannot execute functions in the course context (course id:{courseid}). "
        "The context error message was: Invalid parameter value detected",
    )


@external(
    "core_group_create_groups",
    Single({"groups": Multiple(_NEW_GROUP)}),
    Multiple(_GROUP_OUT),
    items=input_items("groups"),
)
def create_groups(call: Call, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Create groups, all or nothing; returns them as sent, with ids."""
    site = call.site
    created = []
    with site.db.transaction():
        for data in params["groups"]:
            name = data["name"]
            if name.strip() == "":
                raise invalid_parameter("Invalid group name")
            if any(g.name == name for g in site.groups.find("course", data["courseid"])):
                raise invalid_parameter("Group with the same name already exists in the course")
            if site.course_context(data["courseid"]) is None:
                raise _course_context_error(data["courseid"])
            validate_format(data["descriptionformat"])
            _validate_visibility(data["visibility"])
            created.append(_create_group(site, data))
    return created


def _validate_visibility(visibility: int) -> None:
    """``core_group_external::validate_visibility``: one of the four ``GROUPS_VISIBILITY_*``."""
    if visibility not in (0, 1, 2, 3):
        raise invalid_parameter("Invalid group visibility provided. Must be one of 0,1,2,3")


def _create_group(site: MoodleSite, data: dict[str, Any]) -> dict[str, Any]:
    """``groups_create_group``: trims name and idnumber, checks the idnumber, forces participation."""
    record = dict(data, name=data["name"].strip())
    if "idnumber" in record:
        record["idnumber"] = record["idnumber"].strip()
        if record["idnumber"] and any(
            g.idnumber == record["idnumber"] for g in site.groups.find("course", data["courseid"])
        ):
            raise moodle_exception("idnumbertaken", "This ID number is already in use")
    if record["visibility"] in (2, 3):
        record["participation"] = False
    now = site.now()
    group = Group(
        site.groups.next_id(),
        record["courseid"],
        record["name"],
        record.get("idnumber", ""),
        record["description"],
        record["descriptionformat"],
        record.get("enrolmentkey"),
        record["visibility"],
        record["participation"],
        now,
        now,
    )
    site.groups.put(group)
    record.setdefault("enrolmentkey", "")
    record.setdefault("idnumber", "")
    return {"id": group.id, **record}


@external(
    "core_group_get_course_groups",
    Single({"courseid": Value(Param.INT)}),
    Multiple(_GROUP_OUT),
    items=output_items,
)
def get_course_groups(call: Call, params: dict[str, Any]) -> list[dict[str, Any]]:
    """A course's groups, by name."""
    site = call.site
    courseid = params["courseid"]
    if site.course_context(courseid) is None:
        raise _course_context_error(courseid)
    groups = sorted(site.groups.find("course", courseid), key=lambda g: (g.name, g.id))
    return [
        {
            "id": group.id,
            "courseid": group.courseid,
            "name": format_string(group.name, call.raw),
            "description": format_text(call, group.description, group.descriptionformat),
            "descriptionformat": group.descriptionformat,
            "enrolmentkey": group.enrolmentkey,
            "idnumber": group.idnumber,
            "visibility": group.visibility,
            "participation": group.participation,
        }
        for group in groups
    ]


def _require_group(site: MoodleSite, groupid: int, columns: str = "*") -> Group:
    group = site.groups.get(groupid)
    if group is None:
        raise missing_record("groups", f"SELECT {columns} FROM {{groups}} WHERE id = ?", [groupid])
    return group


_MEMBERS = Single({"members": Multiple(Single({"groupid": Value(Param.INT), "userid": Value(Param.INT)}))})


#: ``groups_add_member``/``groups_remove_member`` UPDATE the group's ``timemodified``: its row.
_GROUP_ROW = item_rows("members", "groups", lambda member: member["groupid"])


@external("core_group_add_group_members", _MEMBERS, None, items=input_items("members"), locks=_GROUP_ROW)
def add_group_members(call: Call, params: dict[str, Any]) -> None:
    """Add members, all or nothing; each must be enrolled in the group's course."""
    site = call.site
    with site.db.transaction():
        for member in params["members"]:
            group = _require_group(site, member["groupid"])
            user = site.require_local_user(member["userid"])
            if site.course_context(group.courseid) is None:
                raise _course_context_error(group.courseid)
            if not require_enrolled(site, group.courseid, user.id):
                raise invalid_parameter("Only enrolled users may be members of groups")
            if site.group_members.first("group_user", (group.id, user.id)) is None:
                site.group_members.put(
                    GroupMember(site.group_members.next_id(), group.id, user.id, timeadded=site.now())
                )


@external("core_group_delete_group_members", _MEMBERS, None, items=input_items("members"), locks=_GROUP_ROW)
def delete_group_members(call: Call, params: dict[str, Any]) -> None:
    """Remove members, all or nothing; members added by a plugin cannot be removed here."""
    site = call.site
    with site.db.transaction():
        for member in params["members"]:
            group = _require_group(site, member["groupid"])
            user = site.require_local_user(member["userid"])
            existing = site.group_members.first("group_user", (group.id, user.id))
            if existing is None:
                continue
            if existing.component:
                raise moodle_exception(
                    "errorremovenotpermitted",
                    f"You do not have permission to remove automatically-added group member {user.fullname}",
                )
            site.group_members.delete(existing.id)


@external(
    "core_group_get_group_members",
    Single({"groupids": Multiple(Value(Param.INT))}),
    Multiple(Single({"groupid": Value(Param.INT), "userids": Multiple(Value(Param.INT))})),
    items=output_items,
)
def get_group_members(call: Call, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Each group's member ids, sorted by last name then first name."""
    site = call.site
    result = []
    for groupid in params["groupids"]:
        group = _require_group(site, groupid, "id, courseid, name, enrolmentkey")
        users = [site.users.get(m.userid) for m in site.group_members.find("group", group.id)]
        ordered = sorted((u for u in users if u is not None), key=lambda u: (u.lastname, u.firstname, u.id))
        result.append({"groupid": groupid, "userids": [u.id for u in ordered]})
    return result


@external(
    "core_group_delete_groups", Single({"groupids": Multiple(Value(Param.INT))}), None, items=input_items("groupids")
)
def delete_groups(call: Call, params: dict[str, Any]) -> None:
    """Delete groups and their memberships; unknown ids are skipped."""
    site = call.site
    with site.db.transaction():
        for groupid in params["groupids"]:
            group = site.groups.get(groupid)
            if group is None:
                continue
            for member in site.group_members.find("group", group.id):
                site.group_members.delete(member.id)
            site.groups.delete(group.id)


_GROUP_CHANGES = Single(
    {
        "id": Value(Param.INT),
        "name": Value(Param.TEXT),
        "description": Value(Param.RAW, Need.OPTIONAL),
        "descriptionformat": Value(Param.INT, Need.DEFAULT, 1),
        "enrolmentkey": Value(Param.RAW, Need.OPTIONAL),
        "idnumber": Value(Param.RAW, Need.OPTIONAL),
        "visibility": Value(Param.TEXT, Need.OPTIONAL),
        "participation": Value(Param.BOOL, Need.OPTIONAL),
        "customfields": _CUSTOM_FIELDS_IN,
    }
)


@external(
    "core_group_update_groups",
    Single({"groups": Multiple(_GROUP_CHANGES)}),
    None,
    items=input_items("groups"),
    locks=item_rows("groups", "groups", lambda group: group["id"]),
)
def update_groups(call: Call, params: dict[str, Any]) -> None:
    """Change groups found by id, all or nothing; only the fields sent change."""
    site = call.site
    with site.db.transaction():
        for data in params["groups"]:
            if data["name"].strip() == "":
                raise invalid_parameter("Invalid group name")
            current = site.groups.get(data["id"])
            if current is None:
                raise invalid_parameter(f"Group {data['id']} does not exist")
            if data["name"] != current.name and any(
                g.name == data["name"] for g in site.groups.find("course", current.courseid)
            ):
                raise invalid_parameter("A different group with the same name already exists in the course")
            changes = _membership_modes(site, current, data)
            if site.course_context(current.courseid) is None:
                raise _course_context_error(current.courseid)
            if data.get("description"):
                validate_format(data["descriptionformat"])
            site.groups.put(_updated_group(site, current, data, changes))


def _membership_modes(site: MoodleSite, current: Group, data: dict[str, Any]) -> dict[str, Any]:
    """Visibility and participation as sent, refused for a group with members if they change."""
    if "visibility" not in data and "participation" not in data:
        return {}
    has_members = bool(site.group_members.find("group", current.id))
    changes: dict[str, Any] = {"visibility": current.visibility}
    if "visibility" in data:
        visibility = _visibility_number(data["visibility"])
        _validate_visibility(visibility)
        if has_members and visibility != current.visibility:
            raise invalid_parameter("The visibility of this group cannot be changed as it currently has members.")
        changes["visibility"] = visibility
    if "participation" in data:
        if has_members and data["participation"] != current.participation:
            raise invalid_parameter(
                "The participation mode of this group cannot be changed as it currently has members."
            )
        changes["participation"] = data["participation"]
    return changes


def _visibility_number(text: str) -> int:
    """The PARAM_TEXT visibility handed to an ``int`` parameter: PHP refuses a non-numeric string."""
    if not php.is_numeric(text):
        raise MoodleError(
            "TypeError",
            None,
            "core_group_external::validate_visibility(): Argument #1 ($visibility) must be of type int, string given",
        )
    return php.intval(text)


def _updated_group(site: MoodleSite, current: Group, data: dict[str, Any], changes: dict[str, Any]) -> Group:
    """``groups_update_group``: trims name and idnumber, checks the idnumber, drops participation
    for the "own" and "none" visibilities."""
    changes |= {"name": data["name"].strip(), "descriptionformat": data["descriptionformat"]}
    changes |= {key: data[key] for key in ("description", "enrolmentkey") if key in data}
    if "idnumber" in data:
        idnumber = data["idnumber"].strip()
        if idnumber and any(
            g.idnumber == idnumber and g.id != current.id for g in site.groups.find("course", current.courseid)
        ):
            raise moodle_exception("idnumbertaken", "This ID number is already in use")
        changes["idnumber"] = idnumber
    if changes.get("visibility", 0) in (2, 3):
        changes["participation"] = False
    return replace(current, **changes, timemodified=site.now())


_USER_GROUPS_PARAMS = Single(
    {
        "courseid": default(Value(Param.INT), 0),
        "userid": default(Value(Param.INT), 0),
        "groupingid": default(Value(Param.INT), 0),
    }
)
_USER_GROUP = Single(
    {
        "id": Value(Param.INT),
        "name": Value(Param.TEXT),
        "description": Value(Param.RAW),
        "descriptionformat": Value(Param.INT),
        "idnumber": Value(Param.RAW),
        "courseid": Value(Param.INT, Need.OPTIONAL),
    }
)


@external(
    "core_group_get_course_user_groups",
    _USER_GROUPS_PARAMS,
    Single({"groups": Multiple(_USER_GROUP), "warnings": warnings_description()}),
    items=lambda params, result: len(result["groups"]),
)
def get_course_user_groups(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """A user's groups in one course, or (``courseid`` 0) in every course of their active enrolments."""
    site = call.site
    userid = params["userid"] or call.user.id
    if params["userid"]:
        require_active_user(site, userid)
    if params["courseid"]:
        course = site.courses.get(params["courseid"])
        if course is None:
            raise missing_record("course", "SELECT * FROM {course} WHERE id = ?", [params["courseid"]])
        courses = [course]
    else:
        courses = users_active_courses(site, userid)
    groups: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    for course in courses:
        refusal = _user_groups_refusal(call, course, userid)
        if refusal is not None:
            warnings.append({"item": "course", "itemid": course.id, **refusal})
            continue
        if params["courseid"] and not require_enrolled(site, course.id, userid):
            # Not an error: the groups (none) come back with a warning.
            message = f"User {userid} is not enrolled in course {course.id}"
            warnings.append({"item": "course", "itemid": course.id, "warningcode": "notenrolled", "message": message})
        if not params["groupingid"]:  # the emulated courses have no groupings
            groups += [_user_group(call, group) for group in _member_groups(site, course.id, userid)]
    return {"groups": groups, "warnings": warnings}


def _user_groups_refusal(call: Call, course: Course, userid: int) -> dict[str, str] | None:
    """``util::validate_courses`` then ``moodle/course:managegroups`` for another user's groups."""
    site = call.site
    if not may_enter(call, course.id):
        return {"warningcode": "1", "message": "No access rights in course context"}
    if userid != call.user.id and not site.permissions.has(site, call.user.id, "moodle/course:managegroups"):
        return {
            "warningcode": "cannotmanagegroups",
            "message": f"User {call.user.id} cannot manage groups in course {course.id}",
        }
    return None


def _member_groups(site: MoodleSite, courseid: int, userid: int) -> list[Group]:
    """``groups_get_all_groups($courseid, $userid)``: the user's groups there, by name."""
    groups = (site.groups.get(member.groupid) for member in site.group_members.find("user", userid))
    return sorted((g for g in groups if g is not None and g.courseid == courseid), key=lambda g: (g.name, g.id))


def _user_group(call: Call, group: Group) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": format_string(group.name, call.raw),
        "description": format_text(call, group.description, group.descriptionformat),
        "descriptionformat": group.descriptionformat,
        "idnumber": group.idnumber,
        "courseid": group.courseid,
    }
