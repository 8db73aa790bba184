"""The client against a failing emulator: it recovers from what is transient, and it
refuses what is incomplete. Waits are recorded by an injected sleep, never slept."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest

from ps2moodle_testkit.emulators.district import SECTION_FIELD, District
from ps2moodle_testkit.emulators.powerschool import Faults, Plugin, PowerSchoolEmulator, Quirks
from reconciler.errors import CountMismatchError, SourceError, TruncatedReadError
from reconciler.powerschool.client import PowerSchoolClient
from reconciler.powerschool.source import access_request, read_roster
from reconciler.retry import RetryPolicy

from .helpers import FAST, TODAY, URL, FakeClock, Sleeps, client_for, differences, read, truth


def test_server_errors_are_retried_with_exponential_backoff(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, faults=Faults(server_errors=3))
    sleeps = Sleeps()
    with client_for(emulator, concurrency=1, sleep=sleeps) as client:
        roster = read(client, tiny)
        assert client.stats["retry"] == 3
    assert differences(roster, truth(tiny)) == []
    assert sleeps.waits == [0.01, 0.02, 0.04]  # the token request failed three times in a row
    assert emulator.stats["status_500"] == 3


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_retried_too(tiny: District, status: int) -> None:
    emulator = PowerSchoolEmulator(
        tiny, faults=Faults(server_errors=1, server_error_status=status, match="/ws/schema/table/cc")
    )
    with client_for(emulator) as client:
        assert differences(read(client, tiny), truth(tiny)) == []
        assert client.stats["retry"] == 1


def test_retries_are_bounded(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, faults=Faults(server_errors=50, server_error_status=503))
    with client_for(emulator) as client, pytest.raises(SourceError, match=r"failed 5 times \(last: HTTP 503\)"):
        read(client, tiny)
    assert emulator.stats["status_503"] == 5


def test_throttling_honours_retry_after(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, faults=Faults(throttled=2, retry_after_s=7))
    sleeps = Sleeps()
    with client_for(emulator, concurrency=1, sleep=sleeps) as client:
        assert differences(read(client, tiny), truth(tiny)) == []
    assert sleeps.waits == [7.0, 7.0]


def test_a_retry_after_longer_than_the_cap_is_capped(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, faults=Faults(throttled=1, retry_after_s=3600))
    sleeps = Sleeps()
    with client_for(emulator, retry=RetryPolicy(max_delay_s=30), sleep=sleeps) as client:
        read(client, tiny)
    assert sleeps.waits == [30.0]


def test_the_plugin_request_interval_throttle_is_survived(tiny: District) -> None:
    # PowerSchool's "minimum time interval between API requests per plugin": requests
    # closer together than 250 ms get 429. Time only passes while the client waits.
    clock = FakeClock()
    emulator = PowerSchoolEmulator(tiny, plugin=Plugin(min_request_interval_ms=250), clock=clock)
    with client_for(emulator, concurrency=1, sleep=clock.sleep, clock=clock) as client:
        assert differences(read(client, tiny), truth(tiny)) == []
    assert emulator.stats["status_429"] > 10


def test_an_expired_token_mid_run_is_renewed_once(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, faults=Faults(expire_token_after=20))
    with client_for(emulator) as client:
        roster = read(client, tiny)
        assert client.stats["reauth"] >= 1
        assert client.stats["token"] == 2
    assert differences(roster, truth(tiny)) == []
    assert emulator.stats["token"] == 2 and emulator.stats["status_401"] >= 1


def test_a_token_is_reused_and_renewed_before_it_expires(tiny: District) -> None:
    clock = FakeClock()
    emulator = PowerSchoolEmulator(tiny, plugin=Plugin(token_lifetime_s=100), clock=clock)
    with client_for(emulator, clock=clock) as client:
        for _ in range(5):
            client.get("/ws/v1/district/school/count", kind="count")
        assert emulator.stats["token"] == 1
        clock.sleep(95)  # inside the renewal margin (a tenth of the lifetime)
        client.get("/ws/v1/district/school/count", kind="count")
    assert emulator.stats["token"] == 2 and emulator.stats["status_401"] == 0


def test_a_token_refused_twice_is_an_error(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, plugin=Plugin(token_lifetime_s=0))
    with client_for(emulator) as client, pytest.raises(SourceError, match=r"refused /ws/\S+ \(HTTP 401\)"):
        read(client, tiny)


def test_wrong_credentials_are_reported_without_the_secret(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny)
    secret = "not-" + emulator.client_secret
    client = PowerSchoolClient(URL, emulator.client_id, secret, transport=emulator.transport(), retry=FAST)
    with client, pytest.raises(SourceError) as raised:
        client.get("/ws/v1/district/school")
    message = str(raised.value)
    assert "refused the client id and secret (HTTP 401)" in message
    assert secret not in message and emulator.client_id not in message and secret not in repr(client)


def test_a_short_page_is_reported_as_truncated_not_accepted(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, faults=Faults(short_pages=1, match="/ws/schema/table/cc"))
    with (
        client_for(emulator) as client,
        pytest.raises(TruncatedReadError, match=r"^truncated read: .*enrolments of school"),
    ):
        read(client, tiny)


def test_a_short_last_page_is_caught_too(tiny: District) -> None:
    # 30 staff rows at school 100 with pages of 7: the fifth and last page holds 2, gets 1.
    emulator = PowerSchoolEmulator(tiny, plugin=Plugin(max_page_size=7), faults=Faults(short_pages=1, match="/staff"))
    with (
        client_for(emulator, concurrency=1) as client,
        pytest.raises(TruncatedReadError, match="truncated read: staff"),
    ):
        read(client, tiny)


def test_a_slow_server_is_survived(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, faults=Faults(latency_s=0.001))
    with client_for(emulator) as client:
        assert differences(read(client, tiny), truth(tiny)) == []


def test_timeouts_over_loopback_are_retried(tiny: District) -> None:
    # Two count requests stall longer than the client's timeout; the retries succeed.
    emulator = PowerSchoolEmulator(tiny, faults=Faults(latency_s=1.0, slow_requests=2, match="/count"))
    sleeps = Sleeps()
    with emulator.serve() as server:
        client = PowerSchoolClient(
            server.url, emulator.client_id, emulator.client_secret, timeout_s=0.25, retry=FAST, sleep=sleeps
        )
        with client:
            roster = read(client, tiny)
            assert client.stats["retry"] == 2
    assert differences(roster, truth(tiny)) == []


def test_a_server_that_never_answers_in_time_is_an_error(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, faults=Faults(latency_s=0.5, match="/ws/v1/metadata"))
    with emulator.serve() as server:
        client = PowerSchoolClient(
            server.url,
            emulator.client_id,
            emulator.client_secret,
            timeout_s=0.1,
            retry=RetryPolicy(2, 0.01),
            sleep=Sleeps(),
        )
        with client, pytest.raises(SourceError, match=r"failed 2 times \(last: ReadTimeout\)"):
            read(client, tiny)


def granted(access: str) -> frozenset[str]:
    """``table.field`` of every <field table=".." field=".."/> line."""
    return frozenset(f"{t.lower()}.{f.lower()}" for t, f in re.findall(r'table="(\w+)" field="(\w+)"', access))


def test_a_table_the_plugin_may_not_read_names_the_missing_fields(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, plugin=Plugin(access_request=granted(access_request()) - {"cc.dateleft"}))
    with client_for(emulator) as client, pytest.raises(SourceError) as raised:
        read_roster(client, tiny.school_numbers, today=TODAY)
    assert "HTTP 403" in str(raised.value) and "CC.dateleft: No access to the field" in str(raised.value)


def test_the_access_request_lists_every_field_the_client_reads(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, plugin=Plugin(access_request=granted(access_request(SECTION_FIELD))))
    with client_for(emulator) as client:
        roster = read_roster(client, tiny.school_numbers, section_field=SECTION_FIELD, today=TODAY)
    assert len(roster.enrolments) == len(truth(tiny).enrolments)


def test_no_v1_access_is_reported(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, plugin=Plugin(v1_access="NONE"))
    with client_for(emulator) as client, pytest.raises(SourceError, match=r"HTTP 403.*accessLevelV1Api"):
        read(client, tiny)


def test_secrets_and_tokens_stay_out_of_logs_and_errors(tiny: District, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    emulator = PowerSchoolEmulator(tiny, faults=Faults(server_errors=2, throttled=1, expire_token_after=3))
    with client_for(emulator) as client:
        read(client, tiny)
    emulator.faults.short_pages = 1
    with client_for(emulator) as client, pytest.raises(SourceError) as raised:
        read(client, tiny)
    assert len(emulator.issued_tokens) == 2  # the first and the one after expiry (reused by the 2nd client)
    for text in (caplog.text, str(raised.value)):
        assert emulator.client_secret not in text
        assert not any(token in text for token in emulator.issued_tokens)


# -- counts that disagree with the rows ---------------------------------------------------------

_CC_MISMATCH = (
    r"count mismatch: enrolments of school (\d+) \(/ws/schema/table/cc\): (\d+) records read, "
    r"PowerSchool counted (\d+); a read that disagrees with its count is not used"
)


def test_an_under_reporting_count_is_read_past_and_refused(tiny: District) -> None:
    # Before: the pages the count announced were read, the rest never; the roster came
    # back short and those students' enrolments were planned as "dropped in PowerSchool".
    emulator = PowerSchoolEmulator(tiny, faults=Faults(count_off_by=-23, match="/ws/schema/table/cc/count"))
    with client_for(emulator) as client, pytest.raises(CountMismatchError, match=_CC_MISMATCH) as raised:
        read(client, tiny)
    read_rows, counted = map(int, re.search(_CC_MISMATCH, str(raised.value)).groups()[1:])  # type: ignore[union-attr]
    assert read_rows - counted == 23


def test_a_count_of_zero_does_not_end_a_list_that_has_rows(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, faults=Faults(count_off_by=-1_000_000, match="/ws/schema/table/cc/count"))
    with client_for(emulator) as client, pytest.raises(CountMismatchError, match=r"PowerSchool counted 0;"):
        read(client, tiny)


def test_an_over_reporting_count_is_refused_as_truncated(tiny: District) -> None:
    emulator = PowerSchoolEmulator(tiny, faults=Faults(count_off_by=5, match="/ws/schema/table/cc/count"))
    with client_for(emulator) as client, pytest.raises(TruncatedReadError, match=r"enrolments of school \d+"):
        read(client, tiny)


def test_rows_inserted_while_paging_are_refused(tiny: District) -> None:
    # The count is taken, then a row appears: the first page of one school's enrolments
    # carries a record the count did not include.
    inner = PowerSchoolEmulator(tiny)
    inserted = []

    def insert_one(request: httpx.Request) -> httpx.Response:
        response = inner.transport().handle_request(request)
        if request.url.path == "/ws/schema/table/cc" and request.url.params["page"] == "1" and not inserted:
            body = json.loads(response.read())
            row = dict(body["record"][0]["tables"]["cc"])
            row["dcid"] = str(10_000_000)
            body["record"].append({"id": 10_000_000, "name": "CC", "tables": {"cc": row}})
            inserted.append(row)
            return httpx.Response(200, headers={"Content-Type": "application/json"}, json=body)
        return response

    client = PowerSchoolClient(
        URL, inner.client_id, inner.client_secret, transport=httpx.MockTransport(insert_one), retry=FAST
    )
    with client, pytest.raises(CountMismatchError, match=_CC_MISMATCH) as raised:
        read(client, tiny)
    read_rows, counted = map(int, re.search(_CC_MISMATCH, str(raised.value)).groups()[1:])  # type: ignore[union-attr]
    assert inserted and read_rows == counted + 1


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
def test_lists_that_fill_their_last_page_read_one_empty_page_more(tiny: District, size: int) -> None:
    # (The district school count's known gap, the Graduated Students school, switched off.)
    plugin = Plugin(max_page_size=size, table_max_page_size=size * 7)
    emulator = PowerSchoolEmulator(tiny, plugin=plugin, quirks=Quirks(graduated_school_uncounted=False))
    with client_for(emulator) as client:
        assert differences(read(client, tiny), truth(tiny)) == []
        full = sum(1 for item in client.lists if item.count % item.page_size == 0)
        assert client.stats["page"] == sum(item.pages for item in client.lists) + full
