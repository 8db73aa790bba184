"""Notifications: genuine only with the key (in the body or as the Basic password); what
they name is picked out for the log, sanitized, and nothing else."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from reconciler.serve.webhook import describe, is_authentic, parse_body, summarize

KEY = "k-7c1e9a3b5d7f9e1c"


def _basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize(
    "payload",
    [
        {"key": KEY},
        {"key": KEY, "event_type": "UPDATE", "resource": "/ws/v1/student/*"},
        {"event_subscriptions": {"key": KEY, "event_subscription": []}},
        [{"key": KEY, "event_type": "INSERT"}],
        {"key": "someone-else", "wrapper": {"key": KEY}},
    ],
)
def test_the_key_in_the_body_is_accepted_in_every_likely_place(payload: Any) -> None:
    assert is_authentic(KEY, {}, payload)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"key": KEY[:-1]},
        {"key": KEY + "x"},
        {"key": KEY.upper()},
        {"key": [KEY]},
        {"a": {"b": {"key": KEY}}},  # deeper than one level is not looked at
        "k-7c1e9a3b5d7f9e1c",
        [[{"key": KEY}]],
    ],
)
def test_anything_else_in_the_body_is_refused(payload: Any) -> None:
    assert not is_authentic(KEY, {}, payload)


def test_http_basic_with_the_key_as_password_is_accepted_whatever_the_user() -> None:
    assert is_authentic(KEY, _basic("powerschool", KEY), None)
    assert is_authentic(KEY, _basic("", KEY), {"unrelated": True})
    assert not is_authentic(KEY, _basic(KEY, "wrong"), None)
    assert not is_authentic(KEY, {"authorization": f"Bearer {KEY}"}, None)
    assert not is_authentic(KEY, {"authorization": "Basic not-base64!"}, None)
    assert not is_authentic(KEY, {"authorization": "Basic " + base64.b64encode(KEY.encode()).decode()}, None)


def test_only_the_first_sixteen_key_candidates_are_compared() -> None:
    wrappers = {f"w{i}": {"key": f"wrong-{i}"} for i in range(100)}
    wrappers["w_last"] = {"key": KEY}

    assert not is_authentic(KEY, {}, wrappers)  # the sender shapes the body: the work is bounded


def test_a_body_that_is_not_json_is_none() -> None:
    assert parse_body(b"") is None
    assert parse_body(b"   ") is None
    assert parse_body(b"key=abc") is None
    assert parse_body(b"[" * 100_000) is None
    assert parse_body(b'{"key": "x"}') == {"key": "x"}


def test_event_types_and_resources_are_counted_from_any_shape() -> None:
    payload = {
        "key": KEY,
        "events": [
            {"event_type": "UPDATE", "resource": "/ws/v1/student/*", "first_name": "Ada"},
            {"event_type": "UPDATE", "resource": "/ws/v1/student/*"},
            {"eventType": "DELETE", "ref": "https://ps.example.org/ws/v1/section_enrollment/81"},
        ],
        "single": {"event_type": "SCHOOL_ENROLLMENT"},
    }

    events = summarize(payload)

    assert events == {
        "UPDATE /ws/v1/student/*": 2,
        "DELETE https://ps.example.org/ws/v1/section_enrollment/81": 1,
        "SCHOOL_ENROLLMENT ?": 1,
    }
    assert "Ada" not in describe(events)


def test_what_is_logged_is_sanitized_and_short() -> None:
    events = summarize({"event_type": "UPDATE\n2026-01-01 FAKE LOG LINE", "resource": "x" * 500})

    (label,) = events
    assert "\n" not in label and " FAKE" not in label
    assert len(label) <= 2 * 100 + 1


def test_the_description_names_the_commonest_and_counts_the_rest() -> None:
    assert describe(summarize({"x": 1})) == "no event type or resource recognized in the body"
    events = summarize([{"event_type": "UPDATE", "resource": f"/ws/v1/r{i}"} for i in range(8)])
    assert describe(events).endswith("and 3 more")
    assert describe(summarize([{"event_type": "INSERT"}] * 3)) == "INSERT ? x3"
