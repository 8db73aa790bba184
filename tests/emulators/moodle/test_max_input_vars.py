"""Contract test (c): what happens past PHP's ``max_input_vars`` (``production/_max_input_vars.jsonl``).

These cases were recorded on the timing site (``timings.txt``) after 2000 users had
been created there (ta00000..ta00999, then tb00000..tb00999: ids 3..2002). The
recordings keep only a summary of large answers (list length, first and last item) and
describe each request (how many form fields, which keys first and last). The test builds
the same site state, rebuilds every request from its description, sends it over
loopback to a site with ``max_input_vars`` = 5000, and compares the summaries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

RECORDED_SITE_URL = "http://127.0.0.1:8080"
SEVEN = ("username", "firstname", "lastname", "email", "auth", "password", "idnumber")


def _users(prefix: str, indexes: range, fields: tuple[str, ...]) -> list[tuple[str, str]]:
    def value(name: str, i: int) -> str:
        return {
            "username": f"{prefix}{i:05d}",
            "firstname": f"F{i}",
            "lastname": f"L{i}",
            "email": f"{prefix}{i}@example.com",
            "auth": "manual",
            "password": "Passw0rd!x",
            "idnumber": f"{prefix.upper()}{i:05d}",
            "department": "Dept",
        }[name]

    return [(f"users[{n}][{name}]", value(name, i)) for n, i in enumerate(indexes) for name in fields]


def _enrolments(userids: range, courseid: int, fields: tuple[str, ...]) -> list[tuple[str, str]]:
    values = {"roleid": "5", "courseid": str(courseid), "suspend": "0"}
    return [
        (f"enrolments[{n}][{name}]", str(userid) if name == "userid" else values[name])
        for n, userid in enumerate(userids)
        for name in fields
    ]


def _summary(body: Any) -> Any:
    if isinstance(body, list) and body:
        return {"_list_len": len(body), "_first": body[0], "_last": body[-1]}
    return body


def test_requests_past_max_input_vars_are_cut_like_php(
    max_input_vars_cases: list[dict[str, Any]],
    make_replayer: Callable[..., Any],
    normalized: Callable[[Any, str], Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    replayer = make_replayer()
    assert replayer.site is not None and replayer.site.config.max_input_vars == 5000

    def call(function: str, params: list[tuple[str, str]]) -> Any:
        return replayer.send({"function": function, "params": dict(params)}).json()

    # The timing site's earlier users, in batches small enough to arrive whole.
    for prefix in ("ta", "tb"):
        for start in (0, 500):
            assert len(call("core_user_create_users", _users(prefix, range(start, start + 500), SEVEN))) == 500
    course = [("courses[0][fullname]", "Timing"), ("courses[0][shortname]", "TIMING"), ("courses[0][categoryid]", "1")]
    courseid = call("core_course_create_courses", course)[0]["id"]
    existing = (
        [f"ta{i:05d}" for i in range(1000)] + [f"tb{i:05d}" for i in range(1000)] + [f"tc{i:05d}" for i in range(427)]
    )

    requests = [
        ("core_user_create_users", _users("tc", range(1000), SEVEN)),
        ("core_user_create_users", _users("td", range(714), SEVEN)),
        ("core_user_create_users", _users("th", range(625), (*SEVEN[:6], "idnumber", "department"))),
        (
            "core_user_create_users",
            _users("tz", range(1000), ("username", "firstname", "lastname", "password", "email")),
        ),
        ("enrol_manual_enrol_users", _enrolments(range(3, 1669), courseid, ("roleid", "userid", "courseid"))),
        ("enrol_manual_enrol_users", _enrolments(range(1669, 3336), courseid, ("roleid", "userid", "courseid"))),
        (
            "enrol_manual_enrol_users",
            _enrolments(range(3, 1253), courseid, ("roleid", "userid", "courseid", "suspend")),
        ),
        (
            "core_user_get_users_by_field",
            [("field", "username")]
            + [(f"values[{i}]", f"nosuchuser{i:05d}") for i in range(3000)]
            + [(f"values[{3000 + i}]", name) for i, name in enumerate(existing)],
        ),
    ]
    assert len(requests) == len(max_input_vars_cases)
    failures = []
    for case, (function, params) in zip(max_input_vars_cases, requests, strict=True):
        assert function == case["function"]
        assert len(params) + 3 == case["form_vars_sent"], case["case"]
        assert case["params_note"].endswith(f"last key '{params[-1][0]}'"), case["case"]
        got = _summary(call(function, params))
        if normalized(got, replayer.url) != normalized(case["response"], RECORDED_SITE_URL):
            failures.append(f"{case['case']}:\n   got {got}\n  want {case['response']}")
    with capsys.disabled():
        print(f"\nmax_input_vars cases: {len(max_input_vars_cases) - len(failures)}/{len(max_input_vars_cases)} match")
    assert not failures, "\n".join(failures)
    # The cut enrolment call dropped the last enrolment only: 1666 + 1666 users enrolled.
    enrolled = call(
        "core_enrol_get_enrolled_users",
        [("courseid", str(courseid)), ("options[0][name]", "userfields"), ("options[0][value]", "id")],
    )
    assert len(enrolled) == 3332
