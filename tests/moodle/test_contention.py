"""Concurrent writes against the emulated site's row-lock model: plan order deadlocks,
the writer's schedule does not; a refused batch is re-sent whole, split only when refused again."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ps2moodle_testkit.emulators.moodle.faults import CostModel
from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from reconciler.model import OWNED_PREFIX, Course, Key, Kind, User, enrolment
from reconciler.moodle import schedule
from reconciler.moodle import writer as writer_module
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.passwords import NewPassword
from reconciler.moodle.roles import RoleMap
from reconciler.moodle.writer import MoodleWriter
from reconciler.plan.model import Action, Change

TOKEN = "contention-token"
#: The site's own Category 1.
CATEGORY = Key(Kind.CATEGORY, "#1")


@pytest.fixture
def site() -> MoodleSite:
    return MoodleSite.fresh(TOKEN)


@pytest.fixture
def client(site: MoodleSite) -> Iterator[MoodleClient]:
    with MoodleClient("https://moodle.test", TOKEN, transport=site.transport(), backoff_s=0.0) as moodle:
        yield moodle


def _writer(client: MoodleClient) -> MoodleWriter:
    return MoodleWriter(client, roles=RoleMap(), passwords=lambda u: NewPassword(generate=True), concurrency=4)


def _creates(items: list[Any]) -> list[Change]:
    return [Change(Action.CREATE, r.key, None, r) for r in items]


def _school(site: MoodleSite, client: MoodleClient) -> tuple[list[Change], dict[Key, int]]:
    """300 students and 40 sections of 30 random students each; the sections' enrolments
    in plan order (by section, then by student)."""
    users = [
        User(Key(Kind.USER, f"{OWNED_PREFIX}d:student:{n:03d}"), f"s{n:03d}", "First", f"Last{n}", f"s{n}@example.org")
        for n in range(300)
    ]
    courses = [
        Course(Key(Kind.COURSE, f"{OWNED_PREFIX}d:1:section:{n:02d}"), f"SEC-{n}", f"Section {n}", CATEGORY)
        for n in range(40)
    ]
    ids: dict[Key, int] = {CATEGORY: 1}
    setup = _writer(client)
    assert all(o.ok for o in setup.execute(Kind.USER, Action.CREATE, _creates(users), ids))
    assert all(o.ok for o in setup.execute(Kind.COURSE, Action.CREATE, _creates(courses), ids))
    rng = random.Random(13)
    enrolments = [
        enrolment(course.key, user.key, ["student"])
        for course in courses
        for user in sorted(rng.sample(users, 30), key=lambda u: u.key)
    ]
    # Batches overlap in time only when calls take time: 1 ms a call, 0.5 ms an enrolment.
    site.cost = CostModel(per_call_ms=1.0, per_item_ms={"enrol_manual_enrol_users": 0.5}, max_concurrent=4)
    client.stats.reset()
    return _creates(enrolments), ids


def _enrolled(client: MoodleClient, ids: dict[Key, int]) -> int:
    courses = [moodle_id for key, moodle_id in ids.items() if key.kind is Kind.COURSE]
    answers = client.call_many([("core_enrol_get_enrolled_users", {"courseid": c}) for c in courses])
    return sum(len(answer) for answer in answers)


def test_plan_order_batches_deadlock_and_are_re_sent(
    site: MoodleSite, client: MoodleClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The writer before issue 13: batches cut from the plan's order, blind to the rows they lock.
    blind: Callable[[str], Callable[[Any], tuple[schedule.Row, ...]]] = lambda function: lambda item: ()  # noqa: E731
    monkeypatch.setattr(writer_module, "row_locks", blind)
    changes, ids = _school(site, client)
    writer = _writer(client)
    outcomes = writer.execute(Kind.ENROLMENT, Action.CREATE, changes, ids)
    assert site.row_locks.deadlocks > 0
    assert writer.counts.refused == site.row_locks.deadlocks
    # A batch refused again was split as if it held a bad item (42 refusals, 20 splits and
    # 74 calls for 12 batches' worth when this was written).
    assert writer.counts.split > 0
    assert client.stats.calls["enrol_manual_enrol_users"] > 12 + site.row_locks.deadlocks
    # Every refused batch was rolled back whole and re-sent (or split), so all landed.
    assert all(o.ok for o in outcomes)
    assert _enrolled(client, ids) == 1200


def test_the_writers_schedule_never_deadlocks(site: MoodleSite, client: MoodleClient) -> None:
    changes, ids = _school(site, client)
    writer = _writer(client)
    outcomes = writer.execute(Kind.ENROLMENT, Action.CREATE, changes, ids)
    assert all(o.ok for o in outcomes)
    assert site.row_locks.deadlocks == 0
    assert (writer.counts.refused, writer.counts.deadlocks, writer.counts.split) == (0, 0, 0)
    # 1,200 enrolments: 12 calls of 100 (3 rounds of 4 workers), nothing re-sent.
    assert client.stats.calls["enrol_manual_enrol_users"] == 12
    assert _enrolled(client, ids) == 1200


def test_a_deadlocked_batch_is_re_sent_whole(site: MoodleSite, client: MoodleClient) -> None:
    changes, ids = _school(site, client)
    site.cost = None
    writer = _writer(client)
    site.faults.deadlock_next(1)
    outcomes = writer.execute(Kind.ENROLMENT, Action.CREATE, changes[:100], ids)
    assert all(o.ok for o in outcomes)
    assert (writer.counts.refused, writer.counts.deadlocks, writer.counts.split) == (1, 1, 0)
    assert client.stats.calls["enrol_manual_enrol_users"] == 4 + 1
    assert _enrolled(client, ids) == 100


def test_a_batch_refused_twice_is_split_to_find_the_bad_item(site: MoodleSite, client: MoodleClient) -> None:
    users = [
        User(Key(Kind.USER, f"{OWNED_PREFIX}d:staff:{n}"), f"t{n}", "T", f"L{n}", f"t{n}@example.org") for n in range(4)
    ]
    # PostgreSQL refuses a city longer than its column: "Error writing to database", every time.
    users[2] = User(users[2].key, "t2", "T", "L2", "t2@example.org", profile=(("city", "x" * 121),))
    writer = MoodleWriter(client, roles=RoleMap(), passwords=lambda u: NewPassword(generate=True), concurrency=1)
    ids: dict[Key, int] = {}
    outcomes = writer.execute(Kind.USER, Action.CREATE, _creates(users), ids)
    assert [o.ok for o in outcomes] == [True, True, False, True]
    assert "Error writing to database" in str(outcomes[2].error)
    # [0..3] refused twice, split; [2, 3] refused twice, split; [2] refused twice.
    assert (writer.counts.refused, writer.counts.deadlocks, writer.counts.split) == (6, 0, 2)
    assert client.stats.calls["core_user_create_users"] == 2 + 1 + 2 + 2 + 1  # and [0, 1], [3] once each
