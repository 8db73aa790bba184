"""The client's reliability rules against the emulated Moodle and its fault switches."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from reconciler.model import OWNED_PREFIX, Key, Kind, State, User
from reconciler.moodle.client import MoodleClient, form_body
from reconciler.moodle.errors import InvalidParameter, MoodleTransportError, OutcomeUnknown
from reconciler.moodle.live import read_live

_NEW_USER = {
    "users": [
        {"createpassword": 1, "firstname": "A", "lastname": "B", "email": "ab@example.org", "username": "ab"},
    ]
}


def test_reads_are_retried_after_server_errors(site: MoodleSite, client: MoodleClient) -> None:
    site.faults.fail_next(2, status=503)
    assert client.call("core_webservice_get_site_info")["userid"] == 2
    assert client.stats.calls == Counter({"core_webservice_get_site_info": 3})


def test_a_create_whose_answer_is_lost_is_not_resent(site: MoodleSite, client: MoodleClient) -> None:
    site.faults.drop_next(after_processing=True)
    with pytest.raises(OutcomeUnknown, match="may or may not have happened"):
        client.call("core_user_create_users", _NEW_USER)
    assert client.stats.calls == Counter({"core_user_create_users": 1})
    assert len(client.call("core_user_get_users_by_field", {"values": ["ab"], "field": "username"})) == 1


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        (lambda site: site.faults.fail_next(1, status=503, after_processing=True), "HTTP 503"),
        (lambda site: site.faults.truncate_next(1), "cut short after"),
    ],
    ids=["503 after processing", "answer cut short"],
)
def test_a_create_answered_by_a_5xx_or_a_cut_body_is_unknown_and_not_resent(
    site: MoodleSite, client: MoodleClient, fault: Callable[[MoodleSite], None], said: str
) -> None:
    fault(site)
    with pytest.raises(OutcomeUnknown, match=said):
        client.call("core_user_create_users", _NEW_USER)
    assert client.stats.calls == Counter({"core_user_create_users": 1})
    assert len(client.call("core_user_get_users_by_field", {"values": ["ab"], "field": "username"})) == 1


def test_a_write_answered_by_a_php_error_page_is_unknown(site: MoodleSite, token: str) -> None:
    inner = site.transport()

    def fatal(request: httpx.Request) -> httpx.Response:
        inner.handle_request(request)  # Moodle ran it, then PHP printed an error instead of the answer
        return httpx.Response(200, text="<br />\n<b>Fatal error</b>: Allowed memory size exhausted")

    with MoodleClient("https://moodle.test", token, transport=httpx.MockTransport(fatal), backoff_s=0.0) as client:
        with pytest.raises(OutcomeUnknown, match="Fatal error"):
            client.call("core_user_create_users", _NEW_USER)
        with pytest.raises(MoodleTransportError, match=r"check that moodle\.url is the site root"):
            client.call("core_webservice_get_site_info")
        assert client.stats.calls == Counter({"core_user_create_users": 1, "core_webservice_get_site_info": 1})


def test_a_write_that_never_left_is_sent_again(site: MoodleSite, token: str) -> None:
    inner = site.transport()
    attempts: list[str] = []

    def refuse_once(request: httpx.Request) -> httpx.Response:
        attempts.append(request.url.path)
        if len(attempts) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return inner.handle_request(request)

    with MoodleClient("https://moodle.test", token, transport=httpx.MockTransport(refuse_once), backoff_s=0) as client:
        assert client.call("core_user_create_users", _NEW_USER)[0]["username"] == "ab"
    assert len(attempts) == 2


def test_timeouts_retry_reads_and_leave_writes_unknown(site: MoodleSite, token: str) -> None:
    server = site.serve()
    try:
        with MoodleClient(server.url, token, timeout_s=0.3, backoff_s=0) as client:
            site.faults.slow_next(1, seconds=1.0)
            assert client.call("core_webservice_get_site_info")["userid"] == 2
            site.faults.slow_next(1, seconds=1.0)
            with pytest.raises(OutcomeUnknown, match="ReadTimeout"):
                client.call("core_user_create_users", _NEW_USER)
    finally:
        server.close()


def test_web_services_switched_off(site: MoodleSite, client: MoodleClient) -> None:
    site.config.rest_enabled = False
    with pytest.raises(MoodleTransportError, match=r"HTTP 403.*disabled"):
        client.call("core_webservice_get_site_info")


def test_a_lookup_cut_by_max_input_vars_fails_instead_of_coming_back_short(
    site: MoodleSite, client: MoodleClient
) -> None:
    # The client believes the site takes 5,000 fields; it takes 1,000. Each lookup sends
    # its "field" parameter after the values, so the cut removes it and Moodle refuses.
    site.config.max_input_vars = 1000
    desired = State.of(
        User(
            Key(Kind.USER, f"{OWNED_PREFIX}d:student:{n}"),
            username=f"s{n}",
            firstname="F",
            lastname="L",
            email=f"s{n}@example.org",
        )
        for n in range(5000)
    )
    with pytest.raises(InvalidParameter, match="the request had 1255 form fields"):
        read_live(client, desired, kinds={Kind.USER})


def test_the_token_is_never_logged(
    site: MoodleSite, client: MoodleClient, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    site.faults.fail_next(1, status=502)
    client.call("core_webservice_get_site_info")
    with pytest.raises(InvalidParameter) as caught:
        client.call("core_user_create_users", {"users": [{"firstname": "x"}]})
    assert caplog.records, "the client logs its calls"
    assert token not in caplog.text
    assert token not in str(caught.value)
    assert token not in repr(client)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(), st.text()), max_size=8))
def test_the_form_body_is_what_urlencode_writes(fields: list[tuple[str, str]]) -> None:
    assert form_body(fields) == urlencode(fields)


def test_the_form_body_quotes_what_needs_it() -> None:
    fields = [("users[0][email]", "o'brien+1@example.org"), ("users[0][firstname]", "José María"), ("id", "42")]
    assert form_body(fields) == (
        "users%5B0%5D%5Bemail%5D=o%27brien%2B1%40example.org&users%5B0%5D%5Bfirstname%5D=Jos%C3%A9+Mar%C3%ADa&id=42"
    )
