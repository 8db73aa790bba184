"""Client pieces on their own: URL rules, the q= encoding, and quirk normalization."""

from __future__ import annotations

from datetime import date

import pytest

from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.powerschool import PowerSchoolEmulator
from reconciler.errors import SourceError
from reconciler.powerschool import quirks
from reconciler.powerschool.client import PowerSchoolClient, fiql, normalize_url
from reconciler.powerschool.records import role_name
from reconciler.retry import RetryPolicy

from .helpers import client_for


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("https://ps.example.org", "https://ps.example.org"),
        ("https://ps.example.org/", "https://ps.example.org"),
        ("  HTTPS://PS.Example.org///  ", "https://ps.example.org"),
        ("https://ps.example.org:8443/powerschool/", "https://ps.example.org:8443/powerschool"),
        ("http://127.0.0.1:8010/", "http://127.0.0.1:8010"),
        ("http://localhost:8010", "http://localhost:8010"),
        ("http://[::1]:8010", "http://[::1]:8010"),
    ],
)
def test_urls_are_normalized(url: str, normalized: str) -> None:
    assert normalize_url(url) == normalized


@pytest.mark.parametrize("url", ["http://ps.example.org", "http://10.0.0.5/", "http://ps.example.org:80/"])
def test_plain_http_is_refused_unless_loopback(url: str) -> None:
    with pytest.raises(SourceError, match=r"refusing plain-http PowerSchool URL .*use https://"):
        normalize_url(url)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://admin:hunter2@ps.example.org", "must not carry credentials"),
        ("https://ps.example.org/?x=1", "must not have a query"),
        ("ftp://ps.example.org", "must look like https://"),
        ("ps.example.org", "must look like https://"),
    ],
)
def test_bad_urls_are_explained_without_echoing_secrets(url: str, problem: str) -> None:
    with pytest.raises(SourceError, match=problem) as raised:
        normalize_url(url)
    assert "hunter2" not in str(raised.value)


def test_the_client_refuses_plain_http_before_sending_anything(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny)
    with pytest.raises(SourceError, match="refusing plain-http"):
        PowerSchoolClient("http://ps.example.org", "id", "secret", transport=emulator.transport())
    assert sum(emulator.stats.values()) == 0


def test_empty_credentials_are_refused() -> None:
    with pytest.raises(SourceError, match="must not be empty"):
        PowerSchoolClient("https://ps.example.org", "", "secret")


def test_q_filters_keep_their_structure_and_encode_only_values() -> None:
    assert fiql(("schoolid", "==", 100), ("termid", "=ge=", -3499)) == "schoolid==100;termid=ge=-3499"
    assert fiql(("school_enrollment.enroll_status", "==", ("A", "P"))) == "school_enrollment.enroll_status==(A,P)"
    assert fiql(("name.last_name", "==", "O'Brien;x&y")) == "name.last_name==O%27Brien%3Bx%26y"


def test_the_filter_reaches_the_emulator_intact(tiny: District) -> None:
    with client_for(PowerSchoolEmulator(tiny)) as client:
        body = client.get("/ws/schema/table/cc/count", [("q", fiql(("schoolid", "==", 100), ("termid", "=lt=", 0)))])
    dropped = sum(1 for e in tiny.enrolments if e.dropped and tiny.section_by_id[-e.section_id].school_number == 100)
    assert quirks.count(body) == dropped > 0


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(attempts=8, base_delay_s=0.5, max_delay_s=3)
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


# -- quirks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "listed"), [(None, []), ("", []), ({"a": 1}, [{"a": 1}]), ([1, 2], [1, 2]), ([], [])]
)
def test_one_item_and_empty_collections_read_as_lists(value: object, listed: list[object]) -> None:
    assert quirks.as_list(value) == listed


def test_empty_blocks_read_as_empty_objects() -> None:
    assert quirks.block("") == {} and quirks.block(None) == {} and quirks.block({"x": 1}) == {"x": 1}
    with pytest.raises(ValueError, match="expected an object"):
        quirks.block(["x"])


@pytest.mark.parametrize(
    ("value", "as_text"),
    [(114679, "114679"), ("TestID", "TestID"), ("02127", "02127"), (1.5, "1.5"), (None, ""), (True, "true")],
)
def test_numbers_and_strings_read_as_the_same_text(value: object, as_text: str) -> None:
    assert quirks.text(value) == as_text


def test_ids_read_from_numbers_or_strings() -> None:
    assert quirks.integer(5851) == quirks.integer("5851") == 5851
    assert quirks.integer("-1") == -1
    assert quirks.integer_or_none("") is None
    with pytest.raises(ValueError, match="expected a number"):
        quirks.integer(None)
    with pytest.raises(ValueError, match="expected a number"):
        quirks.integer(True)


def test_no_date_reads_as_none() -> None:
    assert quirks.day("2024-08-26") == date(2024, 8, 26)
    assert quirks.day("1900-01-01") is None and quirks.day("") is None and quirks.day(None) is None


@pytest.mark.parametrize(
    "body",
    [{"resource": {"count": 423}}, {"resource": {"count": "423"}}, {"count": 423}],
)
def test_counts_in_both_shapes(body: object) -> None:
    assert quirks.count(body) == 423


def test_a_body_without_a_count_is_an_error() -> None:
    with pytest.raises(ValueError, match="no count"):
        quirks.count({"students": {}})


@pytest.mark.parametrize(
    ("body", "n"),
    [
        ({"students": {"@expansions": "x", "@extensions": "y", "student": [{"id": 1}, {"id": 2}]}}, 2),
        ({"students": {"@expansions": "x", "student": {"id": 1}}}, 1),
        ({"students": {"@expansions": "x", "@extensions": "y"}}, 0),
        ({"students": ""}, 0),
        ({}, 0),
    ],
)
def test_v1_lists_in_every_shape(body: object, n: int) -> None:
    assert len(quirks.v1_records(body, "students")) == n


def test_table_records_grouped_and_flattened() -> None:
    grouped = {"name": "Students", "record": [{"id": 51, "name": "Students", "tables": {"STUDENTS": {"DCID": "51"}}}]}
    flattened = {"name": "x", "record": [{"dcid": "51", "grade_level": 7}]}
    assert quirks.table_records(grouped, "students") == [{"dcid": "51"}]
    assert quirks.table_records(flattened, "students") == [{"dcid": "51", "grade_level": "7"}]
    assert quirks.table_records({"name": "Students"}, "students") == []


def test_extension_fields_in_every_shape() -> None:
    record = {
        "_extension_data": {
            "_table_extension": [
                {
                    "recordFound": False,
                    "name": "U_Students_Extension",
                    "_field": {"name": "PreferredName", "value": "Guy"},
                },
                {"recordFound": False, "name": "u_studentsuserfields", "_field": [{"name": "zip", "value": 1858}]},
                {"recordFound": False, "name": "u_empty"},
            ]
        }
    }
    assert quirks.extension_fields(record) == {
        "u_students_extension.preferredname": "Guy",
        "u_studentsuserfields.zip": "1858",
    }
    assert quirks.extension_fields({"_extension_data": ""}) == {}


def test_error_bodies_read_as_one_line() -> None:
    body = {"message": "Validation Failed", "errors": [{"resource": "q", "field": "cc.dateleft", "code": "No access"}]}
    assert quirks.error_detail(body) == "Validation Failed; q.cc.dateleft: No access"
    assert quirks.error_detail({"error": "invalid_client"}) == "invalid_client"


@pytest.mark.parametrize(
    ("name", "key", "role"),
    [
        ("Lead Teacher", "com.pearson.powerschool.coteach.primary.teacher", "lead"),
        ("Primary", "com.pearson.powerschool.coteach.primary.teacher", "lead"),
        ("Co-Teacher", "", "co_teacher"),
        ("Teacher Aide", "com.pearson.powerschool.coteach.teacher.aide", "aide"),
        ("Class Observer", "", "observer"),
        ("Job Share Teacher", "com.pearson.powerschool.coteach.job.share.teacher", "job_share_teacher"),
        ("Special Ed Teacher", "", "special_ed_teacher"),
    ],
)
def test_roles_are_normalized_by_key_then_name(name: str, key: str, role: str) -> None:
    assert role_name(name, key) == role
