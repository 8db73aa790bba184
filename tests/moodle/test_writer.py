"""MoodleWriter against the emulated Moodle: batching, isolation, truncation, lost answers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from reconciler.apply import apply_plan
from reconciler.config.model import PasswordMode, PeopleSettings, SecretRef
from reconciler.model import (
    OWNED_PREFIX,
    Course,
    Enrolment,
    Group,
    Key,
    Kind,
    Resource,
    State,
    User,
    cohort_member,
    enrolment,
    group_member,
)
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.live import live_ids, read_live
from reconciler.moodle.passwords import NewPassword, Passwords
from reconciler.moodle.roles import RoleMap
from reconciler.moodle.writer import MoodleWriter, spread_batch_size
from reconciler.plan.diff import compute_plan
from reconciler.plan.model import Action, Change

#: The create_all fixture: makes every object of a state, returns the Moodle ids.
Create = Callable[[State], dict[Key, int]]


def _user(n: int, **fields: Any) -> User:
    user = User(
        Key(Kind.USER, f"{OWNED_PREFIX}d:student:{n}"),
        username=f"u{n:05d}",
        firstname="First",
        lastname=f"Last{n}",
        email=f"u{n}@example.org",
    )
    return replace(user, **fields) if fields else user


def _creates(items: list[Resource]) -> list[Change]:
    return [Change(Action.CREATE, r.key, None, r) for r in items]


def _course() -> Course:
    return Course(
        Key(Kind.COURSE, f"{OWNED_PREFIX}d:1:section:1"),
        shortname="BIG-1",
        fullname="Big course",
        category=Key(Kind.CATEGORY, "#1"),
    )


@pytest.fixture
def roster(client: MoodleClient) -> tuple[list[User], dict[Key, int]]:
    """5,000 accounts and one course (in the site's own Category 1), created in big batches."""
    ids: dict[Key, int] = {Key(Kind.CATEGORY, "#1"): 1}
    bulk = MoodleWriter(client, roles=RoleMap(), passwords=lambda u: NewPassword(generate=True), batch_size=1000)
    users = [_user(n) for n in range(5000)]
    assert all(o.ok for o in bulk.execute(Kind.USER, Action.CREATE, _creates(list(users)), ids))
    assert all(o.ok for o in bulk.execute(Kind.COURSE, Action.CREATE, _creates([_course()]), ids))
    client.stats.reset()
    return users, ids


@pytest.mark.parametrize(("batch_size", "calls"), [(2000, 4), (100, 52)])
def test_5000_enrolments_in_a_handful_of_calls(
    client: MoodleClient, roster: tuple[list[User], dict[Key, int]], batch_size: int, calls: int
) -> None:
    users, ids = roster
    course = _course().key
    writer = MoodleWriter(client, roles=RoleMap(), passwords=lambda u: NewPassword(), batch_size=batch_size)
    changes = _creates([enrolment(course, u.key, ["student"]) for u in users])
    outcomes = writer.execute(Kind.ENROLMENT, Action.CREATE, changes, ids)
    assert all(o.ok for o in outcomes)
    # 3 form fields per enrolment: max_input_vars=5000 allows 1,665 per call, so a
    # preferred size of 2,000 gives 4 even calls of 1,250; the default 100 gives 52 of
    # 97 or 96: 13 full rounds of the client's 4 workers.
    assert client.stats.calls == Counter({"enrol_manual_enrol_users": calls})
    live = read_live(client, State.of([_course(), *users]), kinds={Kind.ENROLMENT})
    assert len(live) == 5000


def test_a_bad_item_is_isolated_and_the_rest_is_written(
    site: MoodleSite, client: MoodleClient, writer: MoodleWriter
) -> None:
    site.config.debug = True  # Moodle then says why (debugusers on a real site)
    users = [_user(n) for n in range(10)]
    users[3] = replace(users[3], email="not-an-email")
    users[7] = replace(users[7], username=users[2].username)
    ids: dict[Key, int] = {}
    outcomes = writer.execute(Kind.USER, Action.CREATE, _creates(list(users)), ids)
    failed = {o.change.key: o.error for o in outcomes if not o.ok}
    assert set(failed) == {users[3].key, users[7].key}
    assert "Email address is invalid: not-an-email" in str(failed[users[3].key])
    assert f"Username already exists: {users[2].username}" in str(failed[users[7].key])
    assert set(ids) == {u.key for u in users} - set(failed)
    live = read_live(client, State.of(users), kinds={Kind.USER})
    assert set(live.resources) == set(ids)


def test_a_request_cut_at_an_item_boundary_is_detected(site: MoodleSite, client: MoodleClient) -> None:
    # The site's PHP keeps max_input_vars + 1 = 1003 fields: 3 reserved + 250 groups of 4.
    site.config.max_input_vars = 1002
    ids: dict[Key, int] = {}
    writer = MoodleWriter(client, roles=RoleMap(), passwords=lambda u: NewPassword(), batch_size=300, concurrency=1)
    assert writer.execute(Kind.COURSE, Action.CREATE, _creates([_course()]), {**ids, Key(Kind.CATEGORY, "#1"): 1})
    ids[_course().key] = 2
    groups = [
        Group(Key(Kind.GROUP, f"{OWNED_PREFIX}d:1:section:{n}"), course=_course().key, name=f"Group {n}")
        for n in range(300)
    ]
    outcomes = writer.execute(Kind.GROUP, Action.CREATE, _creates(list(groups)), ids)
    assert [o.ok for o in outcomes] == [True] * 250 + [False] * 50
    assert "sent 300 items but Moodle answered for 250" in str(outcomes[-1].error)
    assert "max_input_vars" in str(outcomes[-1].error)
    assert len(ids) == 1 + 250


def test_a_request_cut_inside_an_item_fails_loudly_and_the_halves_land(site: MoodleSite, client: MoodleClient) -> None:
    # Each item sends its required username last: a cut inside an item drops it, Moodle
    # refuses the whole call, and the split halves fit the site's real limit.
    site.config.max_input_vars = 1000
    writer = MoodleWriter(
        client, roles=RoleMap(), passwords=lambda u: NewPassword(generate=True), batch_size=200, concurrency=1
    )
    users = [_user(n, lastname=f"L{n}") for n in range(200)]
    ids: dict[Key, int] = {}
    outcomes = writer.execute(Kind.USER, Action.CREATE, _creates(list(users)), ids)
    assert all(o.ok for o in outcomes) and len(ids) == 200
    assert client.stats.calls["core_user_create_users"] == 3
    live = read_live(client, State.of(users), kinds={Kind.USER})
    assert {r.key: r for r in live} == {u.key: replace(u, moodle_id=ids[u.key]) for u in users}


def test_partial_commit_warnings_name_the_failed_items(
    district: State, create_all: Create, client: MoodleClient, writer: MoodleWriter
) -> None:
    ids = create_all(district)
    live = read_live(client, district, kinds={Kind.USER})
    users = [r for r in live.by_kind(Kind.USER) if isinstance(r, User)]
    taken = users[1].email
    changes = [
        Change(Action.UPDATE, users[0].key, users[0], replace(users[0], firstname="Renamed")),
        Change(Action.UPDATE, users[2].key, users[2], replace(users[2], email=taken)),
        Change(Action.UPDATE, users[3].key, replace(users[3], moodle_id=999999), replace(users[3], lastname="X")),
    ]
    outcomes = writer.execute(Kind.USER, Action.UPDATE, changes, ids)
    assert [o.ok for o in outcomes] == [True, False, False]
    assert "Duplicate address [useremailduplicate]" in str(outcomes[1].error)
    assert "Invalid user ID [invaliduserid]" in str(outcomes[2].error)
    after = read_live(client, district, kinds={Kind.USER})
    assert isinstance(first := after.get(users[0].key), User) and first.firstname == "Renamed"


def test_enrolment_changes(district: State, create_all: Create, client: MoodleClient, writer: MoodleWriter) -> None:
    ids = create_all(district)
    live = read_live(client, district)
    enrolments = {r.key: r for r in live.by_kind(Kind.ENROLMENT) if isinstance(r, Enrolment)}
    by_user = {(e.course.id.rsplit(":", 1)[-1], e.user.id.rsplit(":", 1)[-1]): e for e in enrolments.values()}
    s1_algebra, s2_algebra, teacher = by_user[("1", "1")], by_user[("1", "2")], by_user[("1", "9")]
    s3_biology = by_user[("2025", "3")]

    def run(action: Action, before: Enrolment, after: Enrolment | None) -> None:
        outcomes = writer.execute(Kind.ENROLMENT, action, [Change(action, before.key, before, after)], ids)
        assert [o.error for o in outcomes] == [None]

    run(Action.SUSPEND, s1_algebra, replace(s1_algebra, suspended=True))
    run(Action.UNSUSPEND, s2_algebra, replace(s2_algebra, suspended=False))
    run(Action.UPDATE, teacher, replace(teacher, roles=("student", "teacher")))
    run(Action.DELETE, s3_biology, None)
    after = {r.key: r for r in read_live(client, district).by_kind(Kind.ENROLMENT)}
    assert after[s1_algebra.key] == replace(s1_algebra, suspended=True)
    assert after[s2_algebra.key] == replace(s2_algebra, suspended=False)
    assert after[teacher.key] == replace(teacher, roles=("student", "teacher"))
    assert s3_biology.key not in after
    # Unenrolling from the last enrolment also removed the group membership.
    assert not any(s3_biology.user.id in k.id for k in after if k.kind is Kind.GROUP_MEMBER)


def test_memberships_that_moodle_refuses_are_reported(
    district: State, create_all: Create, client: MoodleClient, writer: MoodleWriter
) -> None:
    ids = create_all(district)
    s2 = Key(Kind.USER, f"{OWNED_PREFIX}d:student:2")
    ghost = Key(Kind.USER, f"{OWNED_PREFIX}d:student:404")
    cohort = next(r.key for r in district.by_kind(Kind.COHORT))
    group = next(r.key for r in district.by_kind(Kind.GROUP))
    teacher = Key(Kind.USER, f"{OWNED_PREFIX}d:staff:9")
    ids[ghost] = 999999
    added = writer.execute(
        Kind.COHORT_MEMBER,
        Action.CREATE,
        _creates([cohort_member(cohort, ghost), cohort_member(cohort, teacher)]),
        ids,
    )
    assert [o.ok for o in added] == [False, True]
    assert "user id=999999 not exists" in str(added[0].error)
    grouped = writer.execute(
        Kind.GROUP_MEMBER, Action.CREATE, _creates([group_member(group, s2), group_member(group, teacher)]), ids
    )
    # Neither is enrolled in the group's course: Moodle refuses each, one at a time.
    assert [o.ok for o in grouped] == [False, False]
    assert all("Invalid parameter value detected" in str(o.error) for o in grouped)
    live = read_live(client, district)
    assert cohort_member(cohort, teacher).key in live


def test_a_create_whose_answer_is_lost_is_read_back_not_resent(
    site: MoodleSite, client: MoodleClient, writer: MoodleWriter
) -> None:
    users = [_user(n) for n in range(3)]
    ids: dict[Key, int] = {}
    site.faults.drop_next(after_processing=True)
    outcomes = writer.execute(Kind.USER, Action.CREATE, _creates(list(users)), ids)
    assert all(o.ok for o in outcomes) and len(ids) == 3
    # Sent once, answer lost, read back: never resent.
    assert client.stats.calls == Counter({"core_user_create_users": 1, "core_user_get_users_by_field": 1})
    more = [_user(n) for n in range(3, 5)]
    site.faults.drop_next(after_processing=False)
    outcomes = writer.execute(Kind.USER, Action.CREATE, _creates(list(more)), ids)
    assert not any(o.ok for o in outcomes)
    assert "next plan will propose it again" in str(outcomes[0].error)
    assert read_live(client, State.of(more), kinds={Kind.USER}).resources == {}


def test_idempotent_writes_are_repeated_after_a_lost_answer(
    site: MoodleSite,
    district: State,
    create_all: Create,
    client: MoodleClient,
    writer: MoodleWriter,
) -> None:
    ids = create_all(district)
    biology = Key(Kind.COURSE, f"{OWNED_PREFIX}d:300:course:BIO:2025")
    teacher = Key(Kind.USER, f"{OWNED_PREFIX}d:staff:9")
    client.stats.reset()
    site.faults.drop_next(after_processing=True)
    outcomes = writer.execute(Kind.ENROLMENT, Action.CREATE, _creates([enrolment(biology, teacher, ["teacher"])]), ids)
    assert [o.ok for o in outcomes] == [True]
    assert client.stats.calls == Counter({"enrol_manual_enrol_users": 2})  # an upsert: safe to send again
    assert enrolment(biology, teacher, ["teacher"]).key in read_live(client, district, kinds={Kind.ENROLMENT})


def test_first_passwords(site: MoodleSite, client: MoodleClient) -> None:
    initial = SecretRef(env="PS2M_TEST_INITIAL")
    people = {
        ("d", "student"): PeopleSettings(password=PasswordMode.INITIAL, initial_password=initial),
        ("d", "staff"): PeopleSettings(),
    }
    writer = MoodleWriter(client, roles=RoleMap(), passwords=Passwords(people))
    student = _user(1)
    staff = User(
        Key(Kind.USER, f"{OWNED_PREFIX}d:staff:1"), username="t1", firstname="T", lastname="One", email="t1@example.org"
    )
    sso = replace(_user(2), auth="oauth2")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PS2M_TEST_INITIAL", "Temp-Passw0rd!")
        outcomes = writer.execute(Kind.USER, Action.CREATE, _creates([student, staff, sso]), {})
    assert all(o.ok for o in outcomes)
    forced = {p.userid for p in site.preferences.by_id() if p.name == "auth_forcepasswordchange" and p.value == "1"}
    assert forced == {outcomes[0].moodle_id, outcomes[1].moodle_id}  # given, and generated


def test_a_change_the_writer_cannot_make_is_reported(writer: MoodleWriter) -> None:
    group = Group(Key(Kind.GROUP, f"{OWNED_PREFIX}d:1:section:1"), course=_course().key, name="A")
    change = Change(Action.UPDATE, group.key, group, replace(group, name="B"))
    [outcome] = writer.execute(Kind.GROUP, Action.UPDATE, [change], {})
    assert not outcome.ok and "no group update" in str(outcome.error)


def test_ids_seed_and_growth(district: State, create_all: Create, client: MoodleClient) -> None:
    ids = create_all(district)
    assert live_ids(read_live(client, district)) == ids
    assert all(not k.kind.value.endswith("member") and k.kind is not Kind.ENROLMENT for k in ids)


def test_planned_changes_converge(district: State, client: MoodleClient, writer: MoodleWriter) -> None:
    """Plan from nothing, apply, read again: the next plan is empty; then a change of
    every sort (rename, suspend, role swap, leaver, new member) converges the same way."""

    def sync(desired: State) -> None:
        live = read_live(client, desired)
        report = apply_plan(compute_plan(desired, live), writer, live_ids(live))
        assert [r.error for r in report.failures] == []
        assert compute_plan(desired, read_live(client, desired)).changes == ()

    sync(district)
    s1 = Key(Kind.USER, f"{OWNED_PREFIX}d:student:1")
    s2 = Key(Kind.USER, f"{OWNED_PREFIX}d:student:2")
    teacher = Key(Kind.USER, f"{OWNED_PREFIX}d:staff:9")
    algebra = Key(Kind.COURSE, f"{OWNED_PREFIX}d:300:section:1")
    changed: list[Resource] = []
    for res in district:
        if res.key.id.endswith(s2.id):
            continue  # s2 leaves: account suspended, enrolment suspended, cohort membership removed
        if isinstance(res, Course) and res.key == algebra:
            res = replace(res, fullname="Algebra I & More (renamed)")
        if isinstance(res, User) and res.key == s1:
            res = replace(res, email="new.s1@example.org", customfields=(("gradelevel", "10"),))
        if isinstance(res, Enrolment) and res.user == teacher:
            res = replace(res, roles=("teacher",))
        changed.append(res)
    changed.append(cohort_member(next(r.key for r in district.by_kind(Kind.COHORT)), teacher))
    sync(State.of(changed))
    live = read_live(client, State.of(changed))
    leaver = live.get(s2)
    assert isinstance(leaver, User) and leaver.suspended


@pytest.mark.parametrize(
    ("count", "batch_size", "workers", "size"),
    [
        (168, 100, 4, 42),  # one round of 4 calls, not 100 + 68 with two workers idle
        (1000, 100, 4, 84),  # 12 calls: 3 full rounds, not 10 with the third half idle
        (5, 100, 4, 2),
        (1, 100, 4, 1),
        (400, 100, 4, 100),  # already full rounds: the preferred size
        (168, 100, 1, 84),  # one worker: as few calls as the batch size allows, evened
    ],
)
def test_small_writes_spread_over_every_worker(count: int, batch_size: int, workers: int, size: int) -> None:
    assert spread_batch_size(count, batch_size, workers) == size


def test_168_accounts_go_as_one_round_of_calls(client: MoodleClient) -> None:
    spread = MoodleWriter(client, roles=RoleMap(), passwords=lambda u: NewPassword(generate=True), concurrency=4)
    ids: dict[Key, int] = {}
    outcomes = spread.execute(Kind.USER, Action.CREATE, _creates([_user(n) for n in range(168)]), ids)
    assert all(o.ok for o in outcomes) and len(ids) == 168
    assert client.stats.calls == Counter({"core_user_create_users": 4})
