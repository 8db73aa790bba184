"""Fault switches and the cost model, in process and over loopback."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ps2moodle_testkit.emulators.moodle import CostModel, MoodleSite, serve_moodle
from ps2moodle_testkit.emulators.moodle.functions.enrol import enrolled_user_ids

FORM = {"wstoken": "t", "wsfunction": "core_webservice_get_site_info", "moodlewsrestformat": "json"}
PATH = "/webservice/rest/server.php"


@pytest.fixture
def fresh() -> MoodleSite:
    return MoodleSite.fresh("t")


@pytest.fixture(params=["in-process", "loopback"])
def http(request: pytest.FixtureRequest, fresh: MoodleSite) -> Iterator[httpx.Client]:
    """A client reaching the site both ways; the faults must behave the same."""
    if request.param == "in-process":
        with httpx.Client(transport=fresh.transport(), base_url="https://moodle.test") as client:
            yield client
        return
    server = serve_moodle(fresh)
    try:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            yield client
    finally:
        server.close()


def test_fail_next_answers_5xx_without_running_the_call(http: httpx.Client, fresh: MoodleSite) -> None:
    fresh.faults.fail_next(2, status=502)
    create = dict(FORM, wsfunction="core_course_create_categories", **{"categories[0][name]": "X"})
    assert [http.post(PATH, data=create).status_code for _ in range(3)] == [502, 502, 200]
    assert len(fresh.categories) == 2  # only the third call reached Moodle


def test_fail_after_processing_runs_the_call_then_answers_5xx(http: httpx.Client, fresh: MoodleSite) -> None:
    fresh.faults.fail_next(1, status=503, after_processing=True)
    create = dict(FORM, wsfunction="core_course_create_categories", **{"categories[0][name]": "X"})
    reply = http.post(PATH, data=create)
    assert reply.status_code == 503 and "503 Service Unavailable" in reply.text
    assert len(fresh.categories) == 2  # written, though the client was told otherwise


def test_truncated_answer_after_processing(http: httpx.Client, fresh: MoodleSite) -> None:
    fresh.faults.truncate_next(1)
    create = dict(FORM, wsfunction="core_course_create_categories", **{"categories[0][name]": "X"})
    cut = http.post(PATH, data=create)
    whole = http.post(PATH, data=create)
    assert cut.status_code == whole.status_code == 200
    assert whole.json()[0]["name"] == "X"
    assert cut.content.startswith(b'[{"id":') and 0 < len(cut.content) < len(whole.content)
    with pytest.raises(ValueError):
        cut.json()
    assert len(fresh.categories) == 3  # both calls ran


def test_dropped_connection_before_or_after_processing(http: httpx.Client, fresh: MoodleSite) -> None:
    create = dict(FORM, wsfunction="core_course_create_categories", **{"categories[0][name]": "X"})
    fresh.faults.drop_next(1)
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(PATH, data=create)
    assert len(fresh.categories) == 1
    fresh.faults.drop_next(1, after_processing=True)
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(PATH, data=create)
    assert len(fresh.categories) == 2  # written, but the client never heard
    assert http.post(PATH, data=FORM).status_code == 200


def test_latency_and_slow_calls(http: httpx.Client, fresh: MoodleSite) -> None:
    fresh.faults.latency_s = 0.05
    fresh.faults.slow_next(1, seconds=0.2)
    started = time.monotonic()
    http.post(PATH, data=FORM)
    slow = time.monotonic() - started
    started = time.monotonic()
    http.post(PATH, data=FORM)
    normal = time.monotonic() - started
    assert slow >= 0.25 and 0.05 <= normal < 0.25


def test_a_slow_call_times_a_client_out(fresh: MoodleSite) -> None:
    server = serve_moodle(fresh)
    try:
        fresh.faults.slow_next(1, seconds=0.5)
        with httpx.Client(base_url=server.url) as client, pytest.raises(httpx.ReadTimeout):
            client.post(PATH, data=FORM, timeout=0.1)
    finally:
        server.close()


def test_cost_model_per_call_and_per_item() -> None:
    cost = CostModel()
    assert cost.seconds("core_webservice_get_site_info", 0) == pytest.approx(0.020)
    # With 4 calls in flight on the recording site: 3.8 ms of wall time an enrolment (issue 13).
    assert cost.seconds("enrol_manual_enrol_users", 100) == pytest.approx(0.020 + 100 * 4 * 0.0038)
    assert cost.seconds("core_user_create_users", 100) == pytest.approx(0.020 + 4.15)
    assert cost.seconds("core_enrol_get_enrolled_users", 1000) == pytest.approx(0.020 + 0.4)


def test_cost_model_matches_the_raw_client_on_a_real_site() -> None:
    # Issue 13's workload, written by a raw client (batches of 100, 4 in flight, sorted by
    # user): 1,049 users, 4,810 enrolments, 1,751 group and 1,922 cohort members, and a
    # call each for categories, courses, groups and cohorts. Measured: 32.7-33.3 s.
    cost = CostModel()
    calls = {
        "core_user_create_users": 1049,
        "enrol_manual_enrol_users": 4810,
        "core_group_add_group_members": 1751,
        "core_cohort_add_cohort_members": 1922,
        "core_course_create_categories": 8,
        "core_course_create_courses": 139,
        "core_group_create_groups": 84,
        "core_cohort_create_cohorts": 15,
    }
    seconds = sum(
        cost.seconds(function, min(100, items - start))
        for function, items in calls.items()
        for start in range(0, items, 100)
    )
    assert 0.85 * 33.0 <= seconds / cost.max_concurrent <= 1.1 * 33.0


def test_cost_model_caps_concurrent_calls(fresh: MoodleSite) -> None:
    fresh.cost = CostModel(per_call_ms=100, per_item_ms={}, max_concurrent=2)
    server = serve_moodle(fresh)
    durations: list[float] = []

    def one() -> None:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            started = time.monotonic()
            client.post(PATH, data=FORM)
            durations.append(time.monotonic() - started)

    try:
        threads = [threading.Thread(target=one) for _ in range(4)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total = time.monotonic() - started
    finally:
        server.close()
    assert min(durations) >= 0.1
    assert total >= 0.2  # four calls, two at a time, 100 ms each


def _deadlock_round(site: MoodleSite, order: str) -> list[tuple[int, bytes, str, int]]:
    """The recorded experiment (golden ``deadlock/NOTES.md``): 4 threads at once, each
    enrolling users 3-302 into its own course in 3 batches of 100; ``order`` as recorded:
    ``same``, ``shuffle`` or ``shuffle_sorted``. Returns (course, body, content type,
    enrolled afterwards) per failed batch."""
    site.cost = CostModel(per_call_ms=1.0, per_item_ms={"enrol_manual_enrol_users": 0.5}, max_concurrent=4)
    transport = site.transport()
    failed: list[tuple[int, bytes, str]] = []
    lock = threading.Lock()

    def thread(course: int, seed: int) -> None:
        users = list(range(3, 303))
        if order != "same":
            random.Random(seed).shuffle(users)
        with httpx.Client(transport=transport, base_url="http://moodle.test") as client:
            for start in range(0, 300, 100):
                batch = users[start : start + 100]
                if order == "shuffle_sorted":
                    batch.sort()
                form = dict(FORM, wsfunction="enrol_manual_enrol_users")
                for n, user in enumerate(batch):
                    form |= {f"enrolments[{n}][roleid]": "5", f"enrolments[{n}][userid]": str(user)}
                    form[f"enrolments[{n}][courseid]"] = str(course)
                reply = client.post(PATH, data=form)
                if reply.content != b"null":
                    with lock:
                        failed.append((course, reply.content, reply.headers["content-type"]))

    threads = [threading.Thread(target=thread, args=(course, course)) for course in (2, 3, 4, 5)]
    for worker in threads:
        worker.start()
    for worker in threads:
        worker.join()
    site.cost = None
    with site.lock:
        enrolled = {course: len(enrolled_user_ids(site, course)) for course in (2, 3, 4, 5)}
    return [(course, body, kind, enrolled[course]) for course, body, kind in failed]


@pytest.fixture
def eight_courses() -> MoodleSite:
    site = MoodleSite.fresh("t")
    transport = site.transport()
    with httpx.Client(transport=transport, base_url="http://moodle.test") as client:
        courses = dict(FORM, wsfunction="core_course_create_courses")
        for n in range(8):
            courses |= {f"courses[{n}][fullname]": f"C{n}", f"courses[{n}][shortname]": f"C{n}"}
            courses[f"courses[{n}][categoryid]"] = "1"
        assert client.post(PATH, data=courses).status_code == 200
        users = dict(FORM, wsfunction="core_user_create_users")
        for n in range(300):
            users |= {f"users[{n}][username]": f"u{n}", f"users[{n}][firstname]": "F", f"users[{n}][lastname]": "L"}
            users |= {f"users[{n}][email]": f"u{n}@example.org", f"users[{n}][createpassword]": "1"}
        assert len(client.post(PATH, data=users).json()) == 300
    return site


def test_concurrent_batches_deadlock_as_on_the_recording_site(eight_courses: MoodleSite, golden_dir: Path) -> None:
    recorded = json.loads((golden_dir / "deadlock" / "run_shuffle.json").read_text(encoding="utf-8"))
    victim = next(r for r in recorded["results"] if r["failed"])
    failed = _deadlock_round(eight_courses, "shuffle")
    assert failed, "shuffled batches sharing users should deadlock"
    for course, body, kind, enrolled in failed:
        assert (body.decode(), kind) == (victim["body"], "application/json")
        # The victim's batch is rolled back whole: the course holds only its other batches.
        assert enrolled == 100 * (3 - sum(1 for c, *_ in failed if c == course))
    assert eight_courses.row_locks.deadlocks == len(failed)


@pytest.mark.parametrize("order", ["same", "shuffle_sorted"])
def test_batches_locking_users_in_one_order_only_wait(eight_courses: MoodleSite, order: str) -> None:
    assert _deadlock_round(eight_courses, order) == []
    assert eight_courses.row_locks.deadlocks == 0
