"""The REST protocol layer: PHP variable parsing, validation messages, envelopes, formats."""

from __future__ import annotations

from typing import Any

import pytest

from ps2moodle_testkit.emulators.moodle import MoodleSite
from ps2moodle_testkit.emulators.moodle.formdata import merge_get_post, parse_query_string, parse_urlencoded_body
from ps2moodle_testkit.emulators.moodle.params import (
    Multiple,
    Param,
    Plain,
    Single,
    Value,
    default,
    validate_parameters,
)
from ps2moodle_testkit.emulators.moodle.php import intval, loose_equal, strip_tags

# -- PHP request variables -------------------------------------------------------------------


def test_brackets_nest_and_keep_first_seen_order() -> None:
    parsed = parse_urlencoded_body(b"users[1][a]=x&users[0][a]=y&users[1][b]=z", 100)
    assert parsed == {"users": {"1": {"a": "x", "b": "z"}, "0": {"a": "y"}}}
    assert list(parsed["users"]) == ["1", "0"]  # type: ignore[arg-type]


def test_php_name_mangling() -> None:
    parsed = parse_urlencoded_body(b"a.b=1&c d=2&+lead=3&e[f=4&g[h]x=5&i[]=6&i[]=7&=8&[x]=9", 100)
    assert parsed == {"a_b": "1", "c_d": "2", "lead": "3", "e_f": "4", "g": {"h": "5"}, "i": {"0": "6", "1": "7"}}


def test_later_value_replaces_earlier_in_place() -> None:
    parsed = parse_urlencoded_body(b"a=1&b=2&a=3&c=1&c[x]=2", 100)
    assert list(parsed.items()) == [("a", "3"), ("b", "2"), ("c", {"x": "2"})]


def test_php_keeps_max_input_vars_plus_one() -> None:
    body = "&".join(f"v{i}=x" for i in range(10)).encode()
    assert len(parse_urlencoded_body(body, 5)) == 6
    assert len(parse_query_string(body.decode(), 5)) == 6
    # Empty pieces count in a body, not in a query string.
    assert parse_urlencoded_body(b"a=1&&&b=2&c=3", 2) == {"a": "1"}
    assert parse_query_string("a=1&&&b=2&c=3", 2) == {"a": "1", "b": "2", "c": "3"}


def test_post_replaces_get_by_top_level_name() -> None:
    merged = merge_get_post({"a": {"x": "1", "y": "2"}, "b": "g"}, {"a": {"z": "3"}})
    assert merged == {"a": {"z": "3"}, "b": "g"}


def test_php_scalar_rules() -> None:
    assert [intval(v) for v in ("12abc", "abc", "", " 7", "1e3", "-4", "99999999999999999999")] == [
        12,
        0,
        0,
        7,
        1000,
        -4,
        2**63 - 1,
    ]
    assert loose_equal("02", 2) and not loose_equal("abc", 0) and not loose_equal("PS", "ps")
    assert strip_tags("a <b>bold</b> < c <!-- x --> d") == "a bold < c  d"


# -- validate_parameters ---------------------------------------------------------------------

SIGNATURE = Single(
    {
        "users": Multiple(Single({"id": Value(Param.INT), "flag": default(Value(Param.BOOL), False)})),
        "name": default(Value(Param.USERNAME), "x"),
    }
)


@pytest.mark.parametrize(
    ("params", "debuginfo"),
    [
        ({}, "Missing required key in single structure: users"),
        ({"users": "x"}, "users => Invalid parameter value detected: Only arrays accepted. The bad value is: 'x'"),
        ({"users": {"0": {"id": "1"}}, "bogus": "1"}, "Unexpected keys (bogus) detected in parameter array."),
        (
            {"users": {"0": {"id": "1.0"}}},
            "users => Invalid parameter value detected: id => Invalid parameter value detected: "
            'Invalid external api parameter: the value is "1.0", the server was expecting "int" type',
        ),
        (
            {"users": {"0": {"id": "1", "flag": "true"}}},
            "users => Invalid parameter value detected: flag => Invalid parameter value detected: "
            'Invalid external api parameter: the value is "true", the server was expecting "bool" type',
        ),
        (
            {"users": {"0": {"id": {"x": "1"}}}},
            "users => Invalid parameter value detected: id => Invalid parameter value detected: "
            "Scalar type expected, array or object received.",
        ),
        (
            {"users": {}, "name": "JDoe"},
            'name => Invalid parameter value detected: Invalid external api parameter: the value is "JDoe", '
            'the server was expecting "username" type',
        ),
    ],
)
def test_validation_messages_name_the_path(params: dict[str, Any], debuginfo: str) -> None:
    from ps2moodle_testkit.emulators.moodle.errors import MoodleError

    with pytest.raises(MoodleError) as raised:
        validate_parameters(SIGNATURE, params, Plain())
    assert (raised.value.errorcode, raised.value.debuginfo) == ("invalidparameter", debuginfo)


def test_validation_types_values_and_fills_defaults() -> None:
    assert validate_parameters(SIGNATURE, {"users": {"0": {"id": "-3", "flag": "1"}}}, Plain()) == {
        "users": [{"id": -3, "flag": True}],
        "name": "x",
    }


# -- the server ------------------------------------------------------------------------------


def test_json_body_is_never_read(ws: Any) -> None:
    reply = ws.http.post(
        "/webservice/rest/server.php",
        params={"wstoken": ws.token, "wsfunction": "core_user_get_users", "moodlewsrestformat": "json"},
        json={"criteria": [{"key": "id", "value": "2"}]},
    )
    assert reply.json()["errorcode"] == "invalidparameter"


def test_format_other_than_lowercase_json_means_xml(ws: Any) -> None:
    reply = ws.raw("core_user_delete_users", [("userids[0]", "999")], fmt="JSON")
    assert reply.headers["content-type"] == "application/xml; charset=utf-8"
    assert reply.text.startswith(
        '<?xml version="1.0" encoding="UTF-8" ?>\n<EXCEPTION class="dml_missing_record_exception">'
    )


def test_xml_answer_of_a_function_without_return_value(ws: Any, site: MoodleSite) -> None:
    reply = ws.raw("core_group_delete_groups", [("groupids[0]", "5")], fmt=None)
    assert reply.text == '<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE>\n</RESPONSE>\n'
    assert ws("core_group_delete_groups", groupids=[5]) is None


def test_xml_lists_every_declared_key(ws: Any) -> None:
    reply = ws.raw("core_course_get_categories", [("criteria[0][key]", "id"), ("criteria[0][value]", "1")], fmt=None)
    assert '<KEY name="idnumber"><VALUE null="null"/>\n</KEY>' in reply.text
    assert "<MULTIPLE>\n<SINGLE>\n" in reply.text


def test_json_escapes_like_php(ws: Any) -> None:
    ws("core_course_create_categories", categories=[{"name": "Sciences/Math", "parent": 0, "description": "É"}])
    text = ws.raw("core_course_get_categories", []).text
    assert '"Sciences\\/Math"' in text and '"\\u00c9"' in text


def test_names_are_escaped_unless_raw(ws: Any) -> None:
    assert (
        ws("core_course_create_categories", categories=[{"name": "R&D <b>lab</b>"}])["errorcode"] == "invalidparameter"
    )
    created = ws("core_course_create_categories", categories=[{"name": "R&D"}])
    assert created == [{"id": 2, "name": "R&amp;D"}]  # the rejected call never reached the database
    assert ws("core_course_get_categories", criteria=[{"key": "id", "value": "2"}])[0]["name"] == "R&amp;D"
    raw = ws.raw("core_course_get_categories", [("moodlewssettingraw", "1")]).json()
    assert raw[-1]["name"] == "R&D"


def test_protocol_disabled_answers_403_empty(ws: Any, site: MoodleSite) -> None:
    site.config.rest_enabled = False
    reply = ws.raw("core_webservice_get_site_info", [])
    assert (reply.status_code, reply.content) == (403, b"")


def test_unknown_path_is_404(ws: Any) -> None:
    assert ws.http.get("/login/index.php").status_code == 404


def test_token_is_checked_before_the_function(ws: Any) -> None:
    ws.token = "nope"
    assert ws("core_no_such_function")["errorcode"] == "invalidtoken"


@pytest.mark.parametrize(
    ("function", "errorcode"),
    [
        ("core_no_such_function", "invalidrecord"),
        ("core_course_get_contents", "accessexception"),
        ("", "invalidparameter"),
    ],
)
def test_function_lookup(ws: Any, function: str, errorcode: str) -> None:
    assert ws(function)["errorcode"] == errorcode


def test_debuginfo_only_in_debug_mode(ws: Any, site: MoodleSite) -> None:
    assert "debuginfo" not in ws("core_user_get_users")
    site.config.debug = True
    assert ws("core_user_get_users")["debuginfo"] == "Missing required key in single structure: criteria"


def test_failing_return_value_is_invalidresponse_after_the_writes(ws: Any, site: MoodleSite) -> None:
    """A password-policy failure puts an HTML errorcode into a warning: the whole answer fails."""
    created = ws("core_user_create_users", users=[_user("a"), _user("b")])
    answer = ws(
        "core_user_update_users",
        users=[{"id": created[0]["id"], "firstname": "Changed"}, {"id": created[1]["id"], "password": "weak"}],
    )
    assert answer["errorcode"] == "invalidresponse"
    assert site.users.get(created[0]["id"]).firstname == "Changed"  # type: ignore[union-attr]


def _user(name: str) -> dict[str, Any]:
    return {
        "username": name,
        "firstname": "F",
        "lastname": "L",
        "email": f"{name}@example.org",
        "password": "Passw0rd!x",
    }
