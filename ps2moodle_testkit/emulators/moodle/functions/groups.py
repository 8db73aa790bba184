"""``core_group_*``: groups inside a course and their members.

Mirrors ``group/externallib.php`` and ``group/lib.php``: names are unique within a
course, a non-empty idnumber too; only users enrolled in the course (any status) may
join; adding an existing member or removing a non-member is a no-op; deleting an
unknown group is ignored. All writes are all-or-nothing.
"""

from __future__ import annotations

from typing import Any

from ps2moodle_testkit.emulators.moodle.errors import invalid_parameter, missing_record, moodle_exception
from ps2moodle_testkit.emulators.moodle.formatting import format_string, validate_format
from ps2moodle_testkit.emulators.moodle.functions.enrol import require_enrolled
from ps2moodle_testkit.emulators.moodle.model import Group, GroupMember
from ps2moodle_testkit.emulators.moodle.params import Multiple, Need, Param, Single, Value, optional
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
        "customfields": optional(Multiple(Single({"shortname": Value(Param.ALPHANUMEXT), "value": Value(Param.RAW)}))),
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
            if data["visibility"] not in (0, 1, 2, 3):
                raise invalid_parameter("Invalid group visibility")
            created.append(_create_group(site, data))
    return created


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
            "description": group.description,
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
