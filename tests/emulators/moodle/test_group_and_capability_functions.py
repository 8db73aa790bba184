"""Functions outside the recorded service, added to it as a test would on a real site:
``core_enrol_get_enrolled_users_with_capability``, ``core_group_update_groups`` and
``core_group_get_course_user_groups`` (Moodle 4.5's enrol/ and group/externallib.php)."""

from __future__ import annotations

from typing import Any

import pytest

from ps2moodle_testkit.emulators.moodle import MoodleSite

from .replay import WebService

WITH_CAPABILITY = "core_enrol_get_enrolled_users_with_capability"
UPDATE_GROUPS = "core_group_update_groups"
USER_GROUPS = "core_group_get_course_user_groups"


@pytest.fixture
def course(ws: Any, site: MoodleSite) -> dict[str, int]:
    """A course with a student and an editing teacher, both in group G1; the three functions in the service."""
    for name in (WITH_CAPABILITY, UPDATE_GROUPS, USER_GROUPS):
        site.add_function(name)
    courseid = ws("core_course_create_courses", courses=[{"fullname": "C", "shortname": "C", "categoryid": 1}])[0]["id"]
    users = ws(
        "core_user_create_users",
        users=[
            {
                "username": name,
                "firstname": name,
                "lastname": "L",
                "email": f"{name}@example.org",
                "password": "Pw0rd!xx",
            }
            for name in ("stu", "tea")
        ],
    )
    student, teacher = users[0]["id"], users[1]["id"]
    enrolments = [{"roleid": 5, "userid": student, "courseid": courseid}]
    enrolments.append({"roleid": 3, "userid": teacher, "courseid": courseid})
    ws("enrol_manual_enrol_users", enrolments=enrolments)
    group = ws("core_group_create_groups", groups=[{"courseid": courseid, "name": "G1", "description": ""}])[0]["id"]
    ws("core_group_add_group_members", members=[{"groupid": group, "userid": u} for u in (student, teacher)])
    return {"course": courseid, "student": student, "teacher": teacher, "group": group}


def _sync_user(site: MoodleSite, *capabilities: str) -> WebService:
    """A non-admin token whose role holds only these capabilities (at system level)."""
    site.setup("create_sync_user", "ps2m_sync", "synctoken")
    for capability in ("webservice/rest:use", *capabilities):
        site.setup("grant_capability", "ps2m_sync", capability)
    return WebService(site, "synctoken")


# -- in the service only once added -------------------------------------------------------------


@pytest.mark.parametrize("name", [WITH_CAPABILITY, UPDATE_GROUPS, USER_GROUPS])
def test_a_function_outside_the_service_is_refused_until_added(ws: Any, site: MoodleSite, name: str) -> None:
    assert ws(name)["errorcode"] == "accessexception"
    assert name not in {f["name"] for f in ws("core_webservice_get_site_info")["functions"]}
    site.add_function(name)
    listed = {f["name"]: f["version"] for f in ws("core_webservice_get_site_info")["functions"]}
    assert listed[name] == site.config.version
    assert ws(name).get("errorcode") != "accessexception"


def test_the_http_test_hook_adds_a_function_too(ws: Any) -> None:
    assert ws.http.post("/_emulator/setup", json={"setup": "add_service_function", "args": [USER_GROUPS]}).json() == {
        "result": None
    }
    assert ws(USER_GROUPS) == {"groups": [], "warnings": []}


# -- core_enrol_get_enrolled_users_with_capability ------------------------------------------------


def _holders(ws: Any, courseid: int, *capabilities: str, options: list[dict[str, str]] | None = None) -> Any:
    query = [{"courseid": courseid, "capabilities": list(capabilities)}]
    return ws(WITH_CAPABILITY, coursecapabilities=query, options=options or [])


def test_enrolled_users_are_filtered_by_capability(ws: Any, course: dict[str, int]) -> None:
    answer = _holders(ws, course["course"], "moodle/course:update", "moodle/course:viewparticipants")
    assert [(a["courseid"], a["capability"]) for a in answer] == [
        (course["course"], "moodle/course:update"),
        (course["course"], "moodle/course:viewparticipants"),
    ]
    assert [u["id"] for u in answer[0]["users"]] == [course["teacher"]]
    assert [u["id"] for u in answer[1]["users"]] == [course["student"], course["teacher"]]
    teacher = answer[0]["users"][0]
    assert teacher["roles"][0]["shortname"] == "editingteacher" and "idnumber" not in teacher
    assert teacher["groups"] == [{"id": course["group"], "name": "G1", "description": ""}]
    limited = _holders(
        ws,
        course["course"],
        "moodle/course:viewparticipants",
        options=[{"name": "limitfrom", "value": "1"}, {"name": "userfields", "value": "id,username"}],
    )
    assert limited[0]["users"] == [{"id": course["teacher"], "fullname": "tea L", "username": "tea"}]


def test_no_capability_lists_everyone_enrolled_and_onlyactive_leaves_out_suspended(
    ws: Any, course: dict[str, int]
) -> None:
    # get_enrolled_sql filters by a capability only when one is named (an empty one passes
    # PARAM_CAPABILITY: it cleans to itself).
    everyone = _holders(ws, course["course"], "")
    assert everyone[0]["capability"] == ""
    assert [u["id"] for u in everyone[0]["users"]] == [course["student"], course["teacher"]]
    suspend = {"roleid": 5, "userid": course["student"], "courseid": course["course"], "suspend": 1}
    ws("enrol_manual_enrol_users", enrolments=[suspend])
    active = _holders(ws, course["course"], "", options=[{"name": "onlyactive", "value": "1"}])
    assert [u["id"] for u in active[0]["users"]] == [course["teacher"]]
    assert [u["id"] for u in _holders(ws, course["course"], "")[0]["users"]] == [course["student"], course["teacher"]]


def test_enrolled_users_with_capability_errors(ws: Any, site: MoodleSite, course: dict[str, int]) -> None:
    assert _holders(ws, 999, "moodle/course:update")["errorcode"] == "invalidrecord"
    site.config.debug = True
    unknown = _holders(ws, course["course"], "moodle/no:such")
    assert unknown["errorcode"] == "invalidparameter" and "capability" in unknown["debuginfo"]


def test_enrolled_users_with_capability_asks_a_sync_user_for_its_capabilities(
    site: MoodleSite, course: dict[str, int]
) -> None:
    sync = _sync_user(site)
    assert _holders(sync, course["course"], "moodle/course:update")["errorcode"].startswith(
        "You cannot execute functions in the course context"
    )
    for capability, missing in (
        ("moodle/course:view", "View participants"),
        ("moodle/course:viewparticipants", "Review permissions for others"),
    ):
        site.setup("grant_capability", "ps2m_sync", capability)
        refused = _holders(sync, course["course"], "moodle/course:update")
        assert refused["errorcode"] == "nopermissions" and f"({missing})" in refused["message"]
    site.setup("grant_capability", "ps2m_sync", "moodle/role:review")
    assert _holders(sync, course["course"], "moodle/course:update")[0]["users"] == []  # users hidden: no viewdetails
    site.setup("grant_capability", "ps2m_sync", "moodle/user:viewdetails")
    assert [u["id"] for u in _holders(sync, course["course"], "moodle/course:update")[0]["users"]] == [
        course["teacher"]
    ]


# -- core_group_update_groups ------------------------------------------------------------------


def test_update_groups_changes_name_description_and_idnumber(ws: Any, course: dict[str, int]) -> None:
    change = {"id": course["group"], "name": "  Renamed ", "description": "<p>new</p>", "idnumber": " g-1 "}
    assert ws(UPDATE_GROUPS, groups=[change]) is None
    group = ws("core_group_get_course_groups", courseid=course["course"])[0]
    assert (group["name"], group["description"], group["idnumber"]) == ("Renamed", "<p>new</p>", "g-1")
    assert ws(UPDATE_GROUPS, groups=[{"id": course["group"], "name": "Renamed"}]) is None
    kept = ws("core_group_get_course_groups", courseid=course["course"])[0]
    assert (kept["description"], kept["idnumber"]) == ("<p>new</p>", "g-1")  # fields not sent stay


def test_update_groups_refuses_what_moodle_refuses(ws: Any, site: MoodleSite, course: dict[str, int]) -> None:
    site.config.debug = True
    other = ws("core_group_create_groups", groups=[{"courseid": course["course"], "name": "G2", "description": ""}])
    ws(UPDATE_GROUPS, groups=[{"id": other[0]["id"], "name": "G2", "idnumber": "taken"}])

    def refusal(**change: Any) -> tuple[str, str]:
        answer = ws(UPDATE_GROUPS, groups=[{"id": course["group"], "name": "G1"} | change])
        return answer["errorcode"], answer.get("debuginfo") or answer["message"]

    assert refusal(name="G2") == (
        "invalidparameter",
        "A different group with the same name already exists in the course",
    )
    assert refusal(idnumber="taken") == ("idnumbertaken", "This ID number is already in use")
    assert refusal(id=999) == ("invalidparameter", "Group 999 does not exist")
    assert refusal(name=" ") == ("invalidparameter", "Invalid group name")
    assert refusal(visibility="7") == ("invalidparameter", "Invalid group visibility provided. Must be one of 0,1,2,3")
    assert refusal(visibility="3") == (
        "invalidparameter",
        "The visibility of this group cannot be changed as it currently has members.",
    )
    assert refusal(participation=0) == (
        "invalidparameter",
        "The participation mode of this group cannot be changed as it currently has members.",
    )
    # All or nothing: a valid change before a refused one is rolled back.
    batch = [{"id": other[0]["id"], "name": "G3"}, {"id": course["group"], "name": "G1", "idnumber": "taken"}]
    assert ws(UPDATE_GROUPS, groups=batch)["errorcode"] == "idnumbertaken"
    assert {g["name"] for g in ws("core_group_get_course_groups", courseid=course["course"])} == {"G1", "G2"}


def test_update_groups_hidden_visibility_drops_participation(ws: Any, course: dict[str, int]) -> None:
    empty = ws("core_group_create_groups", groups=[{"courseid": course["course"], "name": "E", "description": ""}])
    assert ws(UPDATE_GROUPS, groups=[{"id": empty[0]["id"], "name": "E", "visibility": "3"}]) is None
    group = next(g for g in ws("core_group_get_course_groups", courseid=course["course"]) if g["name"] == "E")
    assert (group["visibility"], group["participation"]) == (3, False)


def test_update_groups_needs_managegroups(site: MoodleSite, course: dict[str, int]) -> None:
    sync = _sync_user(site, "moodle/course:view")
    refused = sync(UPDATE_GROUPS, groups=[{"id": course["group"], "name": "X"}])
    assert (refused["errorcode"], refused["message"]) == (
        "nopermissions",
        "Sorry, but you do not currently have permissions to do that (Manage groups).",
    )
    site.setup("grant_capability", "ps2m_sync", "moodle/course:managegroups")
    assert sync(UPDATE_GROUPS, groups=[{"id": course["group"], "name": "X"}]) is None


# -- core_group_get_course_user_groups ----------------------------------------------------------


def test_course_user_groups_in_one_course_and_in_all(ws: Any, course: dict[str, int]) -> None:
    second = ws("core_course_create_courses", courses=[{"fullname": "D", "shortname": "D", "categoryid": 1}])[0]["id"]
    ws("enrol_manual_enrol_users", enrolments=[{"roleid": 5, "userid": course["student"], "courseid": second}])
    group = ws(
        "core_group_create_groups", groups=[{"courseid": second, "name": "D1", "description": "", "idnumber": "d1"}]
    )
    ws("core_group_add_group_members", members=[{"groupid": group[0]["id"], "userid": course["student"]}])

    everywhere = ws(USER_GROUPS, courseid=0, userid=course["student"])
    # Course by course in enrol_get_users_courses' order (the category's sortorder: newest first).
    assert [(g["courseid"], g["name"], g["idnumber"]) for g in everywhere["groups"]] == [
        (second, "D1", "d1"),
        (course["course"], "G1", ""),
    ]
    assert everywhere["warnings"] == []
    one = ws(USER_GROUPS, courseid=second, userid=course["student"])
    assert [g["id"] for g in one["groups"]] == [group[0]["id"]]
    assert ws(USER_GROUPS, courseid=second, userid=course["student"], groupingid=5)["groups"] == []


def test_course_user_groups_warnings_and_errors(ws: Any, site: MoodleSite, course: dict[str, int]) -> None:
    admin_groups = ws(USER_GROUPS, courseid=course["course"])
    assert admin_groups == {
        "groups": [],
        "warnings": [
            {
                "item": "course",
                "itemid": course["course"],
                "warningcode": "notenrolled",
                "message": f"User 2 is not enrolled in course {course['course']}",
            }
        ],
    }
    assert ws(USER_GROUPS, courseid=999)["errorcode"] == "invalidrecord"
    assert ws(USER_GROUPS, userid=999)["errorcode"] == "invaliduser"
    ws("core_user_delete_users", userids=[course["teacher"]])
    assert ws(USER_GROUPS, userid=course["teacher"])["errorcode"] == "userdeleted"

    sync = _sync_user(site)
    hidden = sync(USER_GROUPS, courseid=course["course"], userid=course["student"])
    assert hidden["warnings"][0]["warningcode"] == "1" and hidden["groups"] == []
    site.setup("grant_capability", "ps2m_sync", "moodle/course:view")
    refused = sync(USER_GROUPS, courseid=course["course"], userid=course["student"])
    assert (
        refused["warnings"][0]["message"] == f"User {sync_id(site)} cannot manage groups in course {course['course']}"
    )
    site.setup("grant_capability", "ps2m_sync", "moodle/course:managegroups")
    allowed = sync(USER_GROUPS, courseid=course["course"], userid=course["student"])
    assert ([g["name"] for g in allowed["groups"]], allowed["warnings"]) == (["G1"], [])


def sync_id(site: MoodleSite) -> int:
    user = site.users.first("username", (1, "ps2m_sync"))
    assert user is not None
    return user.id
