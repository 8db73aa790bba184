"""The emulated site's state and semantics beyond the recorded scenario, and its knobs."""

from __future__ import annotations

from typing import Any

from ps2moodle_testkit.emulators.moodle import MoodleSite


def _user(name: str, **extra: Any) -> dict[str, Any]:
    return {"username": name, "firstname": "F", "lastname": name.upper(), "email": f"{name}@example.org"} | (
        {"password": "Passw0rd!x"} | extra
    )


def _course(ws: Any, shortname: str, category: int = 1) -> int:
    created = ws(
        "core_course_create_courses", courses=[{"fullname": shortname, "shortname": shortname, "categoryid": category}]
    )
    return int(created[0]["id"])


def _enrolled(ws: Any, courseid: int, *options: tuple[str, str]) -> list[dict[str, Any]]:
    opts = [{"name": name, "value": value} for name, value in options]
    return list(ws("core_enrol_get_enrolled_users", courseid=courseid, options=opts))


# -- knobs another engineer's doctor relies on -----------------------------------------------


def test_removed_function_is_refused_and_not_listed(ws: Any, site: MoodleSite) -> None:
    site.remove_function("core_user_get_users")
    assert ws("core_user_get_users", criteria=[{"key": "id", "value": "2"}])["errorcode"] == "accessexception"
    names = {f["name"] for f in ws("core_webservice_get_site_info")["functions"]}
    assert "core_user_get_users" not in names and "core_user_create_users" in names


def test_removed_role_cannot_be_assigned(ws: Any, site: MoodleSite) -> None:
    courseid = _course(ws, "C1")
    userid = ws("core_user_create_users", users=[_user("a")])[0]["id"]
    site.remove_role("teacher")
    answer = ws("enrol_manual_enrol_users", enrolments=[{"roleid": 4, "userid": userid, "courseid": courseid}])
    assert answer["errorcode"] == "wsusercannotassign"
    assert site.roles.first("shortname", "teacher") is None


def test_removed_profile_field_is_ignored_and_not_shown(ws: Any, site: MoodleSite) -> None:
    userid = ws("core_user_create_users", users=[_user("a", customfields=[{"type": "gradelevel", "value": "9"}])])[0][
        "id"
    ]
    assert (
        ws("core_user_get_users_by_field", field="id", values=[userid])[0]["customfields"][0]["shortname"]
        == "gradelevel"
    )
    site.remove_profile_field("gradelevel")
    assert "customfields" not in ws("core_user_get_users_by_field", field="id", values=[userid])[0]
    site.add_profile_field("studentid", "Student ID")
    ws("core_user_update_users", users=[{"id": userid, "customfields": [{"type": "studentid", "value": "S1"}]}])
    assert ws("core_user_get_users_by_field", field="id", values=[userid])[0]["customfields"][0]["value"] == "S1"


def test_auth_plugins_are_configurable(ws: Any, site: MoodleSite) -> None:
    site.config.installed_auths = site.config.installed_auths - {"ldap"}
    assert ws("core_user_create_users", users=[_user("a", auth="ldap")])["errorcode"] == "invalidparameter"


def test_revoked_token_and_suspended_owner(ws: Any, site: MoodleSite) -> None:
    site.setup("unsuspend", 2)  # a no-op on an active user
    site.revoke_token(ws.token)
    assert ws("core_webservice_get_site_info")["errorcode"] == "invalidtoken"


def test_setup_steps_through_the_python_api(ws: Any, site: MoodleSite) -> None:
    courseid = _course(ws, "C1")
    assert site.setup("ctx", courseid) == site.course_context(courseid).id  # type: ignore[union-attr]
    site.setup("disable_manual", courseid)
    userid = ws("core_user_create_users", users=[_user("a")])[0]["id"]
    assert (
        ws("enrol_manual_enrol_users", enrolments=[{"roleid": 5, "userid": userid, "courseid": courseid}])["errorcode"]
        == "wsnoinstance"
    )


def test_setup_hook_needs_test_hooks(ws: Any, site: MoodleSite) -> None:
    assert ws.http.post("/_emulator/setup", json={"setup": "ctx", "args": [1]}).json() == {"result": 2}
    assert ws.http.post("/_emulator/setup", json={"setup": "nope", "args": []}).status_code == 400
    site.test_hooks = False
    assert ws.http.post("/_emulator/setup", json={"setup": "ctx", "args": [1]}).status_code == 404


# -- transactions and ids --------------------------------------------------------------------


def test_rolled_back_batch_leaves_nothing_but_burns_ids(ws: Any, site: MoodleSite) -> None:
    answer = ws("core_user_create_users", users=[_user("a"), _user("b", email="bad")])
    assert answer["errorcode"] == "invalidparameter"
    assert ws("core_user_get_users_by_field", field="username", values=["a"]) == []
    assert ws("core_user_create_users", users=[_user("c")]) == [{"id": 4, "username": "c"}]


def test_update_courses_is_partial(ws: Any) -> None:
    first, second = _course(ws, "A"), _course(ws, "B")
    answer = ws(
        "core_course_update_courses", courses=[{"id": first, "fullname": "A2"}, {"id": second, "shortname": "A"}]
    )
    assert answer == {
        "warnings": [
            {
                "item": "course",
                "itemid": second,
                "warningcode": "shortnametaken",
                "message": "Short name is already used for another course (A)",
            }
        ]
    }
    assert ws("core_course_get_courses_by_field", field="id", value=first)["courses"][0]["fullname"] == "A2"


# -- enrolments ------------------------------------------------------------------------------


def test_enrol_is_an_upsert_that_only_adds_roles(ws: Any, site: MoodleSite) -> None:
    courseid = _course(ws, "C1")
    userid = ws("core_user_create_users", users=[_user("a")])[0]["id"]
    enrol = [
        {"roleid": 5, "userid": userid, "courseid": courseid, "timestart": 100, "timeend": 4102444800, "suspend": 1}
    ]
    ws("enrol_manual_enrol_users", enrolments=enrol)
    ws("enrol_manual_enrol_users", enrolments=[{"roleid": 4, "userid": userid, "courseid": courseid}])
    (enrolment,) = site.user_enrolments.by_id()
    assert (enrolment.status, enrolment.timestart, enrolment.timeend) == (0, 0, 0)  # reactivated, times cleared
    roles = _enrolled(ws, courseid, ("userfields", "roles"))[0]["roles"]
    assert [r["shortname"] for r in roles] == ["teacher", "student"]


def test_last_unenrolment_wipes_roles_and_groups(ws: Any) -> None:
    courseid = _course(ws, "C1")
    userid = ws("core_user_create_users", users=[_user("a")])[0]["id"]
    ws("enrol_manual_enrol_users", enrolments=[{"roleid": 5, "userid": userid, "courseid": courseid}])
    group = ws("core_group_create_groups", groups=[{"courseid": courseid, "name": "G", "description": ""}])[0]
    ws(
        "core_role_assign_roles",
        assignments=[{"roleid": 4, "userid": userid, "contextlevel": "course", "instanceid": courseid}],
    )
    ws("core_group_add_group_members", members=[{"groupid": group["id"], "userid": userid}])
    ws("enrol_manual_unenrol_users", enrolments=[{"userid": userid, "courseid": courseid}])
    assert ws("core_group_get_group_members", groupids=[group["id"]]) == [{"groupid": group["id"], "userids": []}]
    ws("enrol_manual_enrol_users", enrolments=[{"roleid": 5, "userid": userid, "courseid": courseid}])
    assert [r["roleid"] for r in _enrolled(ws, courseid, ("userfields", "roles"))[0]["roles"]] == [5]


def test_enrolled_users_options(ws: Any, site: MoodleSite) -> None:
    courseid = _course(ws, "C1")
    users = ws("core_user_create_users", users=[_user("zed"), _user("amy"), _user("bob")])
    ids = [u["id"] for u in users]
    future = site.now() + 86400
    ws(
        "enrol_manual_enrol_users",
        enrolments=[
            {"roleid": 5, "userid": ids[0], "courseid": courseid},
            {"roleid": 5, "userid": ids[1], "courseid": courseid, "timestart": future},
            {"roleid": 5, "userid": ids[2], "courseid": courseid, "suspend": 1},
        ],
    )
    assert [u["id"] for u in _enrolled(ws, courseid)] == ids
    assert [u["id"] for u in _enrolled(ws, courseid, ("onlyactive", "1"))] == [ids[0]]
    assert [u["id"] for u in _enrolled(ws, courseid, ("onlysuspended", "1"))] == ids[1:]
    by_last = _enrolled(ws, courseid, ("sortby", "lastname"), ("sortdirection", "desc"), ("limitnumber", "2"))
    assert [u["lastname"] for u in by_last] == ["ZED", "BOB"]
    bogus = ws(
        "core_enrol_get_enrolled_users", courseid=courseid, options=[{"name": "userfields", "value": "id,bogus"}]
    )
    assert bogus["errorcode"] == "invaliduserfield"


def test_suspended_enrolment_still_allows_group_membership(ws: Any) -> None:
    courseid = _course(ws, "C1")
    userid = ws("core_user_create_users", users=[_user("a")])[0]["id"]
    ws("enrol_manual_enrol_users", enrolments=[{"roleid": 5, "userid": userid, "courseid": courseid, "suspend": 1}])
    group = ws("core_group_create_groups", groups=[{"courseid": courseid, "name": "G", "description": ""}])[0]
    assert ws("core_group_add_group_members", members=[{"groupid": group["id"], "userid": userid}]) is None


# -- categories and courses ------------------------------------------------------------------


def test_categories_and_course_sortorder(ws: Any) -> None:
    root = ws("core_course_create_categories", categories=[{"name": "Root", "idnumber": "r"}])[0]["id"]
    child = ws("core_course_create_categories", categories=[{"name": "Child", "parent": root}])[0]["id"]
    first, second = _course(ws, "A", child), _course(ws, "B", child)
    tree = ws("core_course_get_categories", criteria=[{"key": "idnumber", "value": "r"}])
    assert [(c["id"], c["sortorder"], c["path"], c["coursecount"]) for c in tree] == [
        (root, 20000, f"/{root}", 0),
        (child, 30000, f"/{root}/{child}", 2),
    ]
    only = ws("core_course_get_categories", criteria=[{"key": "idnumber", "value": "r"}], addsubcategories=False)
    assert [c["id"] for c in only] == [root]
    courses = ws("core_course_get_courses_by_field", field="category", value=child)["courses"]
    assert [(c["id"], c["sortorder"]) for c in courses] == [(first, 30002), (second, 30001)]


def test_recursive_category_delete_takes_its_courses(ws: Any) -> None:
    root = ws("core_course_create_categories", categories=[{"name": "Root"}])[0]["id"]
    courseid = _course(ws, "A", root)
    assert ws("core_course_delete_categories", categories=[{"id": root, "recursive": 1}]) is None
    assert ws("core_course_get_courses_by_field", field="id", value=courseid)["courses"] == []


def test_get_courses_lists_in_storage_order(ws: Any) -> None:
    first, second = _course(ws, "A"), _course(ws, "B")
    ws("core_course_update_courses", courses=[{"id": first, "fullname": "A2"}])
    assert [c["id"] for c in ws("core_course_get_courses")] == [1, second, first]


def test_get_contents_lists_sections_once_in_the_service(ws: Any, site: MoodleSite) -> None:
    created = ws(
        "core_course_create_courses", courses=[{"fullname": "A", "shortname": "A", "categoryid": 1, "numsections": 2}]
    )
    courseid = created[0]["id"]
    assert ws("core_course_get_contents", courseid=courseid)["errorcode"] == "accessexception"
    site.config.service_functions.append("core_course_get_contents")
    sections = ws("core_course_get_contents", courseid=courseid)
    assert [(s["section"], s["name"], s["modules"]) for s in sections] == [
        (0, "General", []),
        (1, "Section 1", []),
        (2, "Section 2", []),
    ]
    assert ws("core_course_get_courses", options={"ids": [courseid]})[0]["numsections"] == 2
    by_section = ws("core_course_get_courses_by_field", field="sectionid", value=sections[1]["id"])
    assert [c["id"] for c in by_section["courses"]] == [courseid]


def test_the_database_refuses_too_long_values_and_duplicate_usernames(ws: Any, site: MoodleSite) -> None:
    answer = ws("core_user_create_users", users=[_user("a"), _user("b", firstname="B" * 101)])
    assert (answer["exception"], answer["errorcode"]) == ("dml_write_exception", "dmlwriteexception")
    assert len(site.users) == 2  # the batch rolled back
    second = ws("core_user_create_users", users=[_user("c"), _user("d")])[1]["id"]
    warnings = ws("core_user_update_users", users=[{"id": second, "username": "c"}])["warnings"]
    assert [(w["itemid"], w["warningcode"]) for w in warnings] == [(second, "dmlwriteexception")]


def test_a_course_moved_to_another_category_takes_its_place_there_and_both_close_their_gaps(ws: Any) -> None:
    # fix_course_sortorder (lib/datalib.php) after update_course's move: the moved course's
    # number modulo 10000 is its place in the new category, a tie goes to the higher id
    # first, and the category it left is renumbered.
    there = ws("core_course_create_categories", categories=[{"name": "There"}])[0]["id"]
    here = ws("core_course_create_categories", categories=[{"name": "Here"}])[0]["id"]
    resident = _course(ws, "R", there)
    older, moving = _course(ws, "O", here), _course(ws, "M", here)  # M is first in Here: x0001

    assert ws("core_course_update_courses", courses=[{"id": moving, "categoryid": there}])["warnings"] == []

    def numbers(category: int) -> list[tuple[int, int]]:
        listed = ws("core_course_get_courses_by_field", field="category", value=category)["courses"]
        return sorted((c["sortorder"], c["id"]) for c in listed)

    there_at, here_at = (
        {c["id"]: c["sortorder"] for c in ws("core_course_get_categories", criteria=[{"key": "id", "value": i}])}[i]
        for i in (there, here)
    )
    assert numbers(there) == [(there_at + 1, moving), (there_at + 2, resident)]  # the first slot, x0001
    assert numbers(here) == [(here_at + 1, older)]  # no gap left behind


def test_updating_an_unknown_category_answers_moodles_bare_error_string(ws: Any) -> None:
    # core_course_category::get() throws moodle_exception('unknowncategory'), a code with
    # no string in lang/en/error.php (only 'unknowcategory' has one): the message is the
    # bare "error/unknowncategory".
    answer = ws("core_course_update_categories", categories=[{"id": 99999, "name": "Nowhere"}])
    assert (answer["errorcode"], answer["message"]) == ("unknowncategory", "error/unknowncategory")
    assert answer["exception"].endswith("moodle_exception")
