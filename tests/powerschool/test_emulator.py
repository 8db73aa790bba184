"""The emulator itself, spoken to with plain httpx: the API of the reference, quirks and all."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.powerschool import Plugin, PowerSchoolEmulator, Quirks

Client = httpx.Client


def token_for(emulator: PowerSchoolEmulator, client: Client, path: str = "/oauth/access_token") -> httpx.Response:
    return client.post(
        path,
        auth=(emulator.client_id, emulator.client_secret),
        data={"grant_type": "client_credentials"},
        headers={"Accept": "application/json"},
    )


@pytest.fixture
def emulator(tiny: District) -> PowerSchoolEmulator:
    return PowerSchoolEmulator(tiny)


@pytest.fixture
def api(emulator: PowerSchoolEmulator) -> Iterator[Client]:
    """An httpx client holding a valid token, asking for JSON."""
    with Client(transport=emulator.transport(), base_url="https://ps.example.test") as client:
        token = token_for(emulator, client).json()["access_token"]
        client.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        yield client


def school_id(district: District, number: int) -> int:
    return district.school_by_number[number].dcid


# -- OAuth ---------------------------------------------------------------------------------------


def test_token_response_has_the_real_shape(emulator: PowerSchoolEmulator) -> None:
    with Client(transport=emulator.transport(), base_url="https://ps.example.test") as client:
        first = token_for(emulator, client).json()
        again = token_for(emulator, client, "/oauth/access_token/").json()
    assert first["token_type"] == "Bearer"
    assert isinstance(first["expires_in"], str) and int(first["expires_in"]) == 30 * 86400
    assert again["access_token"] == first["access_token"]  # the same token while it is valid


def test_grant_type_in_the_query_string_is_accepted(emulator: PowerSchoolEmulator) -> None:
    with Client(transport=emulator.transport(), base_url="https://ps.example.test") as client:
        reply = client.post(
            "/oauth/access_token?grant_type=client_credentials", auth=(emulator.client_id, emulator.client_secret)
        )
    assert reply.status_code == 200


@pytest.mark.parametrize(
    ("auth", "data", "status"),
    [
        (("wrong", "creds"), {"grant_type": "client_credentials"}, 401),
        (None, {"grant_type": "client_credentials"}, 401),
        ("ok", {"grant_type": "password"}, 400),
    ],
)
def test_bad_token_requests_are_refused(
    emulator: PowerSchoolEmulator, auth: Any, data: dict[str, str], status: int
) -> None:
    if auth == "ok":
        auth = (emulator.client_id, emulator.client_secret)
    with Client(transport=emulator.transport(), base_url="https://ps.example.test") as client:
        assert client.post("/oauth/access_token", auth=auth, data=data).status_code == status


def test_a_missing_or_stale_token_gets_401_with_the_header(emulator: PowerSchoolEmulator) -> None:
    with Client(transport=emulator.transport(), base_url="https://ps.example.test") as client:
        reply = client.get("/ws/v1/district/school", headers={"Authorization": "Bearer nope"})
    assert reply.status_code == 401
    assert 'error="invalid_token"' in reply.headers["www-authenticate"]


def test_time_needs_no_token_and_metadata_without_one_omits_plugin_data(emulator: PowerSchoolEmulator) -> None:
    with Client(transport=emulator.transport(), base_url="https://ps.example.test") as client:
        assert client.get("/ws/v1/time", headers={"Accept": "application/json"}).status_code == 200
        metadata = client.get("/ws/v1/metadata", headers={"Accept": "application/json"}).json()["metadata"]
    assert "powerschool_version" in metadata and "student_max_page_size" not in metadata


def test_basic_auth_is_plain_rfc7617(emulator: PowerSchoolEmulator) -> None:
    raw = base64.b64encode(f"{emulator.client_id}:{emulator.client_secret}".encode()).decode()
    with Client(transport=emulator.transport(), base_url="https://ps.example.test") as client:
        reply = client.post(
            "/oauth/access_token",
            headers={
                "Authorization": f"Basic {raw}",
                "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
            },
            content=b"grant_type=client_credentials",
        )
    assert reply.status_code == 200


# -- v1 envelopes and quirks -------------------------------------------------------------------


def test_counts_are_wrapped_in_resource(api: Client, tiny: District) -> None:
    body = api.get(f"/ws/v1/school/{school_id(tiny, 100)}/staff/count").json()
    assert set(body) == {"resource"} and body["resource"]["count"] > 0


def test_the_school_count_leaves_out_graduated_students_it_lists(api: Client) -> None:
    schools = api.get("/ws/v1/district/school").json()["schools"]["school"]
    assert [s["school_number"] for s in schools if s["name"] == "Graduated Students"] == [999999]
    assert api.get("/ws/v1/district/school/count").json() == {"resource": {"count": len(schools) - 1}}


def test_a_one_record_list_is_an_object_and_an_empty_one_has_no_key(api: Client, tiny: District) -> None:
    current = [s for s in tiny.sections if s.term_id // 100 == tiny.year_id]
    one = next(s for s in current if s.course_number == "IND1")
    empty = next(s for s in current if s.course_number == "TA1")
    single = api.get(f"/ws/v1/section/{one.dcid}/section_enrollment").json()["section_enrollments"]
    assert isinstance(single["section_enrollment"], dict)
    assert api.get(f"/ws/v1/section/{empty.dcid}/section_enrollment").json() == {"section_enrollments": ""}


def test_numeric_looking_strings_become_numbers_unless_that_changes_them(api: Client, tiny: District) -> None:
    students = api.get(
        f"/ws/v1/school/{school_id(tiny, 100)}/student",
        params={"extensions": "u_studentsuserfields", "expansions": "alerts,school_enrollment"},
    ).json()["students"]["student"]
    assert all(isinstance(s["local_id"], int) for s in students)
    zips = [s["_extension_data"]["_table_extension"].get("_field") for s in students]
    values = {f["value"] for f in zips if f}
    assert "01854" in values  # a leading zero keeps it a string
    assert all(isinstance(v, int) or v.startswith("0") for v in values)
    assert all(s["alerts"] == "" for s in students)  # an empty block is ""
    assert any("middle_name" not in s["name"] for s in students)  # nulls are left out
    assert all(isinstance(s["school_enrollment"]["school_number"], int) for s in students)


def test_the_quirks_can_be_switched_off(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, quirks=Quirks.none())
    with Client(transport=emulator.transport(), base_url="https://ps.example.test") as client:
        token = token_for(emulator, client).json()
        assert isinstance(token["expires_in"], int)
        client.headers.update({"Authorization": f"Bearer {token['access_token']}"})
        one = next(s for s in tiny.sections if s.course_number == "IND1" and s.term_id // 100 == tiny.year_id)
        body = client.get(f"/ws/v1/section/{one.dcid}/section_enrollment").json()
        students = client.get(f"/ws/v1/school/{school_id(tiny, 100)}/student", params={"expansions": "alerts"}).json()
    assert body == {
        "section_enrollments": {"section_enrollment": [body["section_enrollments"]["section_enrollment"][0]]}
    }
    student = students["students"]["student"][0]
    assert isinstance(student["local_id"], str) and student["alerts"] == {} and "@expansions" not in student


def test_a_school_student_list_defaults_to_active_students(api: Client, tiny: District) -> None:
    path = f"/ws/v1/school/{school_id(tiny, 100)}/student/count"
    active = api.get(path).json()["resource"]["count"]
    everyone = api.get(path + "?q=school_enrollment.enroll_status==(A,P,I,T,G,H)").json()["resource"]["count"]
    at_school = [s for s in tiny.students if s.school_number == 100]
    assert active == sum(1 for s in at_school if s.enroll_status == 0) < everyone == len(at_school)


def test_without_accept_json_v1_answers_xml(emulator: PowerSchoolEmulator, api: Client) -> None:
    reply = api.get("/ws/v1/district/school", headers={"Accept": "*/*"})
    assert reply.headers["content-type"].startswith("application/xml")
    assert reply.text.startswith("<?xml") and "<school_number>" in reply.text


def test_paging_clamps_to_the_maximum_and_past_the_end_is_empty(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, plugin=Plugin(max_page_size=5))
    with Client(transport=emulator.transport(), base_url="https://ps.example.test") as client:
        token = token_for(emulator, client).json()["access_token"]
        client.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        path = f"/ws/v1/school/{school_id(tiny, 100)}/course"
        assert len(client.get(path, params={"pagesize": 50}).json()["courses"]["course"]) == 5
        assert client.get(path, params={"page": 999}).json() == {"courses": {"@extensions": ""}}
        assert client.get(path, params={"page": 0}).status_code == 400


def test_fixed_sort_orders(api: Client, tiny: District) -> None:
    sid = school_id(tiny, 200)
    terms = api.get(f"/ws/v1/school/{sid}/term").json()["terms"]["term"]
    assert [(t["portion"], t["start_date"]) for t in terms] == sorted((t["portion"], t["start_date"]) for t in terms)
    courses = api.get(f"/ws/v1/school/{sid}/course").json()["courses"]["course"]
    assert [str(c["course_number"]) for c in courses] == sorted(str(c["course_number"]) for c in courses)
    schools = api.get("/ws/v1/district/school").json()["schools"]["school"]
    assert [s["name"] for s in schools] == sorted(s["name"] for s in schools)


def test_single_resources_are_wrapped(api: Client, tiny: District) -> None:
    student = tiny.students[0]
    body = api.get(f"/ws/v1/student/{student.dcid}", params={"expansions": "school_enrollment"}).json()
    assert body["student"]["id"] == student.dcid
    assert api.get("/ws/v1/student/1").status_code == 404
    section = next(s for s in tiny.sections if s.term_id // 100 == tiny.year_id)
    expanded = api.get(f"/ws/v1/section/{section.dcid}", params={"expansions": "term"}).json()["section"]
    assert expanded["term"]["id"] == expanded["term_id"]


# -- q= -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("school_enrollment.enroll_status==A", lambda s: s.enroll_status == 0),
        ("school_enrollment.enroll_status==(p,i)", lambda s: s.enroll_status in (-1, 1, -2)),
        ("school_enrollment.grade_level=ge=3;school_enrollment.grade_level=lt=5", lambda s: 3 <= s.grade_level < 5),
        ("name.last_name==O*", lambda s: s.last_name.lower().startswith("o")),
        ("school_enrollment.enroll_status_code!=0", lambda s: s.enroll_status != 0),
    ],
)
def test_q_filters(api: Client, tiny: District, q: str, expected: Any) -> None:
    body = api.get(f"/ws/v1/school/{school_id(tiny, 100)}/student/count?q={q}").json()
    assert body["resource"]["count"] == sum(1 for s in tiny.students if s.school_number == 100 and expected(s))


def test_an_encoded_filter_structure_breaks_like_the_real_one(api: Client) -> None:
    whole = "schoolid%3D%3D100%3Btermid%3Dge%3D3400"
    assert api.get(f"/ws/schema/table/cc/count?q={whole}").status_code == 400
    # An encoded ';' makes the rest part of the value: a 400 on a number column, and on a
    # text column a filter that silently matches nothing.
    assert api.get("/ws/schema/table/cc/count?q=schoolid==100%3Btermid=ge=3400").status_code == 400
    assert api.get("/ws/schema/table/cc/count?q=course_number==HR1%3Bschoolid==100").json() == {"count": 0}
    assert api.get("/ws/schema/table/cc/count?q=course_number==HR1;schoolid==100").json()["count"] > 0


def test_unknown_filter_fields_are_a_bad_request(api: Client) -> None:
    reply = api.get("/ws/schema/table/cc/count?q=nosuch==1")
    assert reply.status_code == 400 and "unknown field" in reply.json()["message"]


# -- table queries ------------------------------------------------------------------------------


def test_table_rows_are_strings_under_lowercase_keys(api: Client) -> None:
    body = api.get(
        "/ws/schema/table/STUDENTS?projection=DCID,ID,Grade_Level&q=schoolid==100&pagesize=2&sort=dcid"
    ).json()
    assert body["name"] == "Students"
    record = body["record"][0]
    assert isinstance(record["id"], int)
    assert set(record["tables"]["students"]) == {"dcid", "id", "grade_level"}
    assert all(isinstance(v, str) for v in record["tables"]["students"].values())
    assert record["tables"]["students"]["dcid"] != record["tables"]["students"]["id"]


def test_a_table_query_needs_a_projection(api: Client) -> None:
    assert api.get("/ws/schema/table/students").status_code == 400


def test_an_unset_date_reads_as_1900_01_01(api: Client, tiny: District) -> None:
    unset = [e for e in tiny.enrolments if e.date_left is None]
    body = api.get(f"/ws/schema/table/cc?projection=dcid,dateleft&q=dcid=={unset[0].dcid}").json()
    assert body["record"][0]["tables"]["cc"]["dateleft"] == "1900-01-01"


def test_table_sort_count_metadata_and_single_rows(api: Client, tiny: District) -> None:
    ids = [
        int(r["tables"]["terms"]["id"])
        for r in api.get("/ws/schema/table/terms?projection=id&sort=id&sortdescending=true&q=schoolid==100").json()[
            "record"
        ]
    ]
    assert ids == sorted(ids, reverse=True)
    assert api.get("/ws/schema/table/terms/count?q=schoolid==100").json() == {"count": len(ids)}
    columns = {c["name"] for c in api.get("/ws/schema/table/cc/metadata").json()["columns"]}
    assert {"dcid", "studentid", "sectionid", "dateleft"} <= columns
    term = tiny.terms[0]
    row = api.get(f"/ws/schema/table/terms/{term.dcid}?projection=*").json()
    assert row["tables"]["terms"]["abbreviation"] == term.abbreviation
    assert api.get("/ws/schema/table/nosuchtable?projection=*").status_code == 404


def test_table_access_follows_the_plugins_access_request(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, plugin=Plugin(access_request=frozenset({"students.dcid"})))
    with Client(transport=emulator.transport(), base_url="https://ps.example.test") as client:
        token = token_for(emulator, client).json()["access_token"]
        client.headers.update({"Authorization": f"Bearer {token}"})
        denied = client.get("/ws/schema/table/students?projection=dcid,id")
        star = client.get("/ws/schema/table/students?projection=*&pagesize=1").json()
    assert denied.status_code == 403
    assert denied.json()["errors"] == [{"resource": "Students", "field": "id", "code": "No access to the field"}]
    assert set(star["record"][0]["tables"]["students"]) == {"dcid"}


def test_no_v1_access_level_means_403(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, plugin=Plugin(v1_access="NONE"))
    with Client(transport=emulator.transport(), base_url="https://ps.example.test") as client:
        token = token_for(emulator, client).json()["access_token"]
        reply = client.get("/ws/v1/district/school", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 403


# -- PowerQueries -------------------------------------------------------------------------------

ROSTER_QUERY = "/ws/schema/query/com.pearson.core.teachers.sectionEnrollments"
MAP_QUERY = "/ws/schema/query/com.pearson.core.student.student_dcid_id_map"


def test_a_powerquery_pages_by_100_by_default_and_0_streams_all(api: Client, tiny: District) -> None:
    first = api.post(MAP_QUERY, json={}).json()
    everything = api.post(MAP_QUERY + "?pagesize=0", json={}).json()
    assert len(first["record"]) == 61 == len(tiny.students)  # fewer than 100
    assert len(everything["record"]) == len(tiny.students)
    assert api.post(MAP_QUERY + "?pagesize=10&page=2&count=true", json={}).json()["count"] == len(tiny.students)
    assert api.post(MAP_QUERY + "/count", json={}).json() == {"count": len(tiny.students)}
    assert "record" not in api.post(MAP_QUERY + "?pagesize=10&page=99", json={}).json()


def test_grouped_and_flattened_powerqueries(api: Client, tiny: District) -> None:
    grouped = api.post(MAP_QUERY + "?pagesize=1", json={}).json()["record"][0]
    assert set(grouped["tables"]["students"]) == {"dcid", "id"}
    section = next(s for s in tiny.sections if s.course_number == "HR1" and s.term_id // 100 == tiny.year_id)
    flat = api.post(ROSTER_QUERY, json={"section_dcid": [str(section.dcid)]}).json()["record"]
    assert flat and {"dcid", "student_number", "lastfirst"} <= set(flat[0])
    assert all(isinstance(v, str) for row in flat for v in row.values())


def test_a_powerquery_needs_a_json_object_body(api: Client) -> None:
    assert api.post(MAP_QUERY, content=b"", headers={"Content-Type": "application/json"}).status_code == 400
    assert api.post(MAP_QUERY, content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    assert api.post(ROSTER_QUERY, json={"section_dcid": "12"}).status_code == 400
    assert api.post("/ws/schema/query/com.example.nothing", json={}).status_code == 404


def test_a_powerquery_outside_the_access_request_is_a_validation_failure(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, plugin=Plugin(access_request=frozenset({"students.dcid"})))
    with Client(transport=emulator.transport(), base_url="https://ps.example.test") as client:
        token = token_for(emulator, client).json()["access_token"]
        reply = client.post(MAP_QUERY, json={}, headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 403
    assert reply.json()["message"] == "Validation Failed"
    assert reply.json()["errors"][0]["field"] == "students.id"


# -- both ways in -------------------------------------------------------------------------------


def test_loopback_http_serves_the_same_answers(emulator: PowerSchoolEmulator, api: Client, tiny: District) -> None:
    path = (
        f"/ws/v1/school/{school_id(tiny, 200)}/student?expansions=school_enrollment&q=school_enrollment.grade_level==9"
    )
    in_process = api.get(path).json()
    with emulator.serve() as server, Client(base_url=server.url, headers=dict(api.headers)) as http:
        over_http = http.get(path).json()
    assert over_http == in_process and in_process["students"]["student"]
    assert server.url.startswith("http://127.0.0.1:")


def test_the_stats_count_requests_by_kind(emulator: PowerSchoolEmulator, api: Client) -> None:
    api.get("/ws/v1/district/school/count")
    api.get("/ws/schema/table/cc/count")
    api.get("/ws/nowhere")
    assert emulator.stats["token"] == 1 and emulator.stats["v1_count"] == 1 and emulator.stats["table_count"] == 1
    assert emulator.stats["status_404"] == 1
