"""Grades, read through the user grade report: ``gradereport_user_get_grade_items`` and
``core_grades_get_gradeitems`` (``grades/`` recordings).

The recorded site does not put them in the token's service; a test or a sandbox adds
them (``site.setup("add_service_function", NAME)``). ``userid=0`` lists every user the
report shows: an active enrolment and a gradebook role (``grade_report_showonlyactiveenrol``
is on), by user id; a suspended enrolment drops out of it. A single ``userid`` is
answered for any existing user, enrolled or not.
"""

from __future__ import annotations

from typing import Any

from ps2moodle_testkit.emulators.moodle import gradebook
from ps2moodle_testkit.emulators.moodle.errors import missing_record
from ps2moodle_testkit.emulators.moodle.functions.enrol import enrolled_user_ids, user_roles_in
from ps2moodle_testkit.emulators.moodle.params import (
    Multiple,
    Need,
    Param,
    Single,
    Value,
    default,
    warnings_description,
)
from ps2moodle_testkit.emulators.moodle.registry import Call, external

_ITEM = Single(
    {
        "id": Value(Param.INT),
        "itemname": Value(Param.TEXT),
        "itemtype": Value(Param.ALPHA),
        "itemmodule": Value(Param.PLUGIN),
        "iteminstance": Value(Param.INT),
        "itemnumber": Value(Param.INT),
        "idnumber": Value(Param.TEXT),
        "categoryid": Value(Param.INT),
        "outcomeid": Value(Param.INT),
        "scaleid": Value(Param.INT),
        "locked": Value(Param.BOOL, Need.OPTIONAL),
        "cmid": Value(Param.INT, Need.OPTIONAL),
        "weightraw": Value(Param.FLOAT, Need.OPTIONAL),
        "weightformatted": Value(Param.NOTAGS, Need.OPTIONAL),
        "status": Value(Param.ALPHA, Need.OPTIONAL),
        "graderaw": Value(Param.FLOAT, Need.OPTIONAL),
        "gradedatesubmitted": Value(Param.INT, Need.OPTIONAL),
        "gradedategraded": Value(Param.INT, Need.OPTIONAL),
        "gradehiddenbydate": Value(Param.BOOL, Need.OPTIONAL),
        "gradeneedsupdate": Value(Param.BOOL, Need.OPTIONAL),
        "gradeishidden": Value(Param.BOOL, Need.OPTIONAL),
        "gradeislocked": Value(Param.BOOL, Need.OPTIONAL),
        "gradeisoverridden": Value(Param.BOOL, Need.OPTIONAL),
        "gradeformatted": Value(Param.RAW, Need.OPTIONAL),
        "grademin": Value(Param.FLOAT, Need.OPTIONAL),
        "grademax": Value(Param.FLOAT, Need.OPTIONAL),
        "rangeformatted": Value(Param.RAW, Need.OPTIONAL),
        "percentageformatted": Value(Param.RAW, Need.OPTIONAL),
        "feedback": Value(Param.RAW, Need.OPTIONAL),
        "feedbackformat": Value(Param.INT, Need.OPTIONAL),
    }
)
_ITEMS_PARAMS = Single(
    {
        "courseid": Value(Param.INT),
        "userid": default(Value(Param.INT), 0),
        "groupid": default(Value(Param.INT), 0),
    }
)
_ITEMS_RETURNS = Single(
    {
        "usergrades": Multiple(
            Single(
                {
                    "courseid": Value(Param.INT),
                    "courseidnumber": Value(Param.TEXT),
                    "userid": Value(Param.INT),
                    "userfullname": Value(Param.TEXT),
                    "useridnumber": Value(Param.TEXT),
                    "maxdepth": Value(Param.INT),
                    "gradeitems": Multiple(_ITEM),
                }
            )
        ),
        "warnings": warnings_description(),
    }
)


def _answered_users(params: dict[str, Any], result: Any) -> int:
    """Cost items: the users the report was built for (one user report each)."""
    return len(result["usergrades"]) if isinstance(result, dict) else 0


@external(
    "gradereport_user_get_grade_items",
    _ITEMS_PARAMS,
    _ITEMS_RETURNS,
    component="gradereport_user",
    items=_answered_users,
)
def get_grade_items(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """One user's report, or (``userid=0``) the report of every user the gradebook lists."""
    site = call.site
    courseid, userid = params["courseid"], params["userid"]
    course = site.courses.get(courseid)
    if course is None:
        raise missing_record("course", "SELECT * FROM {course} WHERE id = ?", [courseid])
    if userid:
        site.require_local_user(userid)
        users = [userid]
    else:
        users = [u for u in enrolled_user_ids(site, courseid, onlyactive=True) if _in_gradebook(call, courseid, u)]
    usergrades = []
    for user_id in users:
        user = site.require_local_user(user_id)
        usergrades.append(
            {
                "courseid": course.id,
                "courseidnumber": course.idnumber,
                "userid": user.id,
                "userfullname": user.fullname,
                "useridnumber": user.idnumber,
                "maxdepth": 2,
                "gradeitems": gradebook.user_report(site, courseid, user.id),
            }
        )
    return {"usergrades": usergrades, "warnings": []}


def _in_gradebook(call: Call, courseid: int, userid: int) -> bool:
    """Whether the user holds a gradebook role in the course or above it."""
    context = call.site.course_context(courseid)
    if context is None:
        return False
    return any(
        assignment.roleid in gradebook.GRADEBOOK_ROLES
        for contextid in call.site.parent_context_ids(context)
        for assignment in user_roles_in(call.site, contextid, userid)
    )


_GRADEITEMS_RETURNS = Single(
    {
        "gradeItems": Multiple(
            Single({"id": Value(Param.ALPHANUM), "itemname": Value(Param.TEXT), "category": Value(Param.TEXT)})
        ),
        "warnings": warnings_description(),
    }
)


@external("core_grades_get_gradeitems", Single({"courseid": Value(Param.INT)}), _GRADEITEMS_RETURNS)
def get_gradeitems(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """A course's grade items (no grades), the course total left out; ids as strings."""
    site = call.site
    course = site.courses.get(params["courseid"])
    if course is None:
        raise missing_record("course", "SELECT * FROM {course} WHERE id = ?", [params["courseid"]])
    items = [i for i in site.grade_items.find("course", course.id) if i.itemtype != "course"]
    return {
        "gradeItems": [
            {"id": str(item.id), "itemname": item.itemname, "category": course.fullname}
            for item in sorted(items, key=lambda i: i.id)
        ],
        "warnings": [],
    }
