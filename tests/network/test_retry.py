"""One retry policy for both clients: backoff with jitter, Retry-After honoured, only what
is safe to repeat repeated. Waits are recorded by an injected sleep, never slept."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from ps2moodle_testkit.emulators.powerschool import Faults, PowerSchoolEmulator
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.errors import MoodleTransportError
from reconciler.powerschool.client import PowerSchoolClient
from reconciler.retry import Retry, RetryPolicy, run

from ..powerschool.helpers import URL

_NEW_USER = {
    "users": [{"createpassword": 1, "firstname": "A", "lastname": "B", "email": "a@example.org", "username": "ab"}]
}


def _answering(site: MoodleSite, *replies: httpx.Response) -> httpx.MockTransport:
    """The site behind a proxy that first answers ``replies``, one per request."""
    inner, queue = site.transport(), list(replies)

    def handle(request: httpx.Request) -> httpx.Response:
        return queue.pop(0) if queue else inner.handle_request(request)

    return httpx.MockTransport(handle)


def test_backoff_doubles_and_jitter_only_stretches_it() -> None:
    policy = RetryPolicy(attempts=6, base_delay_s=0.5, max_delay_s=3, jitter=0.5)
    assert [policy.wait(n, None, rng=lambda: 0.0) for n in range(1, 5)] == [0.5, 1.0, 2.0, 3.0]
    assert [policy.wait(n, None, rng=lambda: 1.0) for n in range(1, 4)] == [0.75, 1.5, 3.0]


def test_retry_after_is_waited_as_asked_within_the_cap() -> None:
    policy = RetryPolicy(max_delay_s=30)
    assert policy.wait(1, 3.0, rng=lambda: 1.0) == 3.0
    assert policy.wait(1, 3600.0) == 30.0


def test_run_stops_at_the_first_error_that_is_not_a_retry() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def attempt(number: int) -> str:
        calls.append(number)
        if number == 1:
            raise Retry(ValueError("busy"), after=2.0)
        raise KeyError("lasting")

    with pytest.raises(KeyError, match="lasting"):
        run(attempt, RetryPolicy(attempts=5), sleep=sleeps.append)
    assert calls == [1, 2] and sleeps == [2.0]


def test_run_gives_up_with_the_last_error_after_the_attempts() -> None:
    sleeps: list[float] = []

    def attempt(number: int) -> str:
        raise Retry(RuntimeError(f"try {number}"))

    with pytest.raises(RuntimeError, match="try 3"):
        run(attempt, RetryPolicy(attempts=3, base_delay_s=1, jitter=0), sleep=sleeps.append)
    assert sleeps == [1.0, 2.0]


def test_moodle_honours_retry_after(site: MoodleSite, token: str) -> None:
    # Before: a 429 with Retry-After: 3 was retried after 0.5-0.75 s.
    throttled = httpx.Response(429, headers={"Retry-After": "3"}, text="Too many requests")
    sleeps: list[float] = []
    transport = _answering(site, throttled)
    with MoodleClient("https://moodle.test", token, transport=transport, sleep=sleeps.append) as client:
        assert client.call("core_webservice_get_site_info")["userid"] == 2
    assert sleeps == [3.0]


def test_moodle_throttling_before_a_create_is_retried_the_create_happens_once(site: MoodleSite, token: str) -> None:
    # 429 means "not processed": even a create may be sent again.
    throttled = httpx.Response(429, headers={"Retry-After": "1"}, text="Too many requests")
    sleeps: list[float] = []
    transport = _answering(site, throttled)
    with MoodleClient("https://moodle.test", token, transport=transport, sleep=sleeps.append) as client:
        client.call("core_user_create_users", _NEW_USER)
        assert len(client.call("core_user_get_users_by_field", {"field": "username", "values": ["ab"]})) == 1
        assert client.stats.calls == Counter({"core_user_create_users": 2, "core_user_get_users_by_field": 1})
    assert sleeps == [1.0]


def test_moodle_gives_up_after_its_retries_with_jittered_waits(site: MoodleSite, token: str) -> None:
    sleeps: list[float] = []
    busy = [httpx.Response(503, text="<html>busy</html>") for _ in range(4)]
    transport = _answering(site, *busy)
    client = MoodleClient("https://moodle.test", token, transport=transport, retries=3, sleep=sleeps.append)
    with client, pytest.raises(MoodleTransportError, match=r"HTTP 503"):
        client.call("core_webservice_get_site_info")
    assert len(sleeps) == 3
    for n, wait in enumerate(sleeps, start=1):
        assert 0.5 * 2 ** (n - 1) <= wait <= 0.75 * 2 ** (n - 1)


def test_both_clients_wait_the_same_for_the_same_retry_after(tiny: District, site: MoodleSite, token: str) -> None:
    emulator = PowerSchoolEmulator(tiny, faults=Faults(throttled=1, retry_after_s=3))
    ps_sleeps: list[float] = []
    with PowerSchoolClient(
        URL, emulator.client_id, emulator.client_secret, transport=emulator.transport(), sleep=ps_sleeps.append
    ) as ps:
        ps.get("/ws/v1/district/school/count", kind="count")
    moodle_sleeps: list[float] = []
    throttled = httpx.Response(429, headers={"Retry-After": "3"}, text="Too many requests")
    with MoodleClient(
        "https://moodle.test", token, transport=_answering(site, throttled), sleep=moodle_sleeps.append
    ) as client:
        client.call("core_webservice_get_site_info")
    assert ps_sleeps == moodle_sleeps == [3.0]
