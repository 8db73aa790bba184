"""read_live against the emulated Moodle: what it returns, and how few calls it takes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import parse_qsl

import httpx
import pytest

from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from reconciler.model import OWNED_PREFIX, Category, Cohort, Course, Key, Kind, State, User
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.errors import AmbiguousOwnership
from reconciler.moodle.live import ENROLLED_USERFIELDS, live_ids, read_live
from reconciler.moodle.roles import SEEN, RoleMap
from reconciler.moodle.writer import MoodleWriter
from reconciler.plan.model import Action, Change

#: The create_all fixture: makes every object of a state, returns the Moodle ids.
Create = Callable[[State], dict[Key, int]]


def _students(n: int) -> State:
    return State.of(
        User(
            Key(Kind.USER, f"{OWNED_PREFIX}d:student:{i}"),
            username=f"s{i:05d}",
            firstname=f"First{i}",
            lastname="Last",
            email=f"s{i}@example.org",
            customfields=(("gradelevel", "10"),),
        )
        for i in range(n)
    )


def test_reads_back_exactly_what_was_written(district: State, create_all: Create, client: MoodleClient) -> None:
    ids = create_all(district)
    roles = RoleMap()
    live = read_live(client, district, roles=roles)
    assert set(live.resources) == set(district.resources)
    for want in district:
        have = live.get(want.key)
        assert have is not None and have.managed() == want.managed(), want.key
        assert have.moodle_id is not None
    assert live.foreign == {}
    assert live_ids(live) == ids
    assert roles.lookup("teacher") == (4, SEEN)


@pytest.mark.slow
def test_5000_users_read_in_a_handful_of_calls(client: MoodleClient, writer: MoodleWriter) -> None:
    desired = _students(5000)
    created = MoodleWriter(client, roles=RoleMap(), passwords=writer.passwords, batch_size=1000).execute(
        Kind.USER, Action.CREATE, [Change(Action.CREATE, u.key, None, u) for u in desired], {}
    )
    assert all(o.ok for o in created)
    client.stats.reset()
    live = read_live(client, desired, kinds={Kind.USER})
    # 5,000 idnumbers over the 4 workers: 4 calls of 1,250 values, well under max_input_vars.
    assert client.stats.calls == Counter({"core_user_get_users_by_field": 4})
    assert len(live) == 5000
    assert all(live.get(u.key) == u for u in desired)


def test_calls_per_kind_and_what_they_ask(site: MoodleSite, token: str, district: State, create_all: Create) -> None:
    create_all(district)
    sent: list[dict[str, str]] = []
    inner = site.transport()

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(dict(parse_qsl(request.content.decode(), keep_blank_values=True)))
        return inner.handle_request(request)

    with MoodleClient("https://moodle.test", token, transport=httpx.MockTransport(record)) as client:
        read_live(client, district)
        assert client.stats.calls == Counter(
            {
                "core_course_get_categories": 1,
                "core_course_get_courses_by_field": 1,
                "core_cohort_get_cohorts": 1,
                "core_user_get_users_by_field": 1,
                "core_enrol_get_enrolled_users": 4,  # per owned course: everyone, then the suspended
                "core_cohort_get_cohort_members": 1,
                "core_group_get_course_groups": 1,  # only the course with groups
            }
        )
    assert all(form["moodlewssettingraw"] == "1" for form in sent)
    enrolled = [form for form in sent if form["wsfunction"] == "core_enrol_get_enrolled_users"]
    assert sum(1 for f in enrolled if f.get("options[0][value]") == ENROLLED_USERFIELDS) == 2
    assert sum(1 for f in enrolled if f.get("options[0][name]") == "onlysuspended") == 2


def test_leavers_are_found_through_their_memberships(district: State, create_all: Create, client: MoodleClient) -> None:
    ids = create_all(district)
    leaver = Key(Kind.USER, f"{OWNED_PREFIX}d:student:2")
    still = State.of(r for r in district if leaver.id not in r.key.id)
    live = read_live(client, still)
    found = live.get(leaver)
    assert isinstance(found, User) and found.moodle_id == ids[leaver]
    assert {r.key.kind for r in live if leaver.id in r.key.id} == {Kind.USER, Kind.ENROLMENT, Kind.COHORT_MEMBER}


def test_only_owned_objects_come_back(district: State, create_all: Create, client: MoodleClient) -> None:
    ids = create_all(district)
    algebra = ids[Key(Kind.COURSE, f"{OWNED_PREFIX}d:300:section:1")]
    cohort = ids[Key(Kind.COHORT, f"{OWNED_PREFIX}d:cohort:grade_level:09")]
    helper = client.call(
        "core_user_create_users",
        {
            "users": [
                {
                    "idnumber": "HELPER-1",
                    "createpassword": 1,
                    "firstname": "Helper",
                    "lastname": "Person",
                    "email": "helper@example.org",
                    "username": "helper",
                }
            ]
        },
    )[0]["id"]
    client.call("enrol_manual_enrol_users", {"enrolments": [{"roleid": 4, "userid": helper, "courseid": algebra}]})
    client.call(
        "core_cohort_add_cohort_members",
        {"members": [{"cohorttype": {"type": "id", "value": cohort}, "usertype": {"type": "id", "value": helper}}]},
    )
    client.call(
        "core_course_create_courses",
        {"courses": [{"idnumber": "MANUAL-1", "fullname": "By hand", "categoryid": 1, "shortname": "HAND"}]},
    )
    live = read_live(client, district)
    assert set(live.resources) == set(district.resources)


def test_foreign_holders_of_desired_names_then_adoption(client: MoodleClient, writer: MoodleWriter) -> None:
    client.call(
        "core_user_create_users",
        {
            "users": [
                {
                    "idnumber": "S1001",
                    "createpassword": 1,
                    "firstname": "Jo",
                    "lastname": "Doe",
                    "email": "jdoe@example.org",
                    "username": "jdoe",
                }
            ]
        },
    )
    top = client.call("core_course_create_categories", {"categories": [{"name": "District"}]})[0]["id"]
    client.call("core_course_create_categories", {"categories": [{"parent": top, "name": "Lincoln"}]})
    client.call(
        "core_course_create_courses",
        {"courses": [{"idnumber": "ALG", "fullname": "Algebra", "categoryid": top, "shortname": "ALG-1"}]},
    )
    client.call(
        "core_cohort_create_cohorts",
        {"cohorts": [{"categorytype": {"type": "system", "value": ""}, "name": "Grade 09", "idnumber": ""}]},
    )
    root = Category(Key(Kind.CATEGORY, f"{OWNED_PREFIX}cat:District"), name="District")
    school = Category(Key(Kind.CATEGORY, f"{OWNED_PREFIX}cat:District/Lincoln"), name="Lincoln", parent=root.key)
    desired = State.of(
        [
            root,
            school,
            Course(
                Key(Kind.COURSE, f"{OWNED_PREFIX}d:300:section:1"),
                shortname="ALG-1",
                fullname="Algebra 1",
                category=school.key,
            ),
            User(
                Key(Kind.USER, f"{OWNED_PREFIX}d:student:1"),
                username="jdoe",
                firstname="Jo",
                lastname="Doe",
                email="jdoe@example.org",
            ),
            Cohort(Key(Kind.COHORT, f"{OWNED_PREFIX}d:cohort:grade:09"), name="Grade 09"),
        ]
    )
    live = read_live(client, desired)
    assert live.resources == {}
    assert set(live.foreign) == set(desired.resources)
    assert {k.kind: r.key.id for k, r in live.foreign.items()} == {
        Kind.USER: "S1001",
        Kind.CATEGORY: "",
        Kind.COURSE: "ALG",
        Kind.COHORT: "",
    }
    assert all(r.moodle_id for r in live.foreign.values())

    ids: dict[Key, int] = {}
    for kind in (Kind.CATEGORY, Kind.COURSE, Kind.USER, Kind.COHORT):
        changes = [Change(Action.ADOPT, key, before, desired.get(key)) for key, before in live.foreign.items()]
        outcomes = writer.execute(kind, Action.ADOPT, [c for c in changes if c.key.kind is kind], ids)
        assert [o.error for o in outcomes if not o.ok] == []
    adopted = read_live(client, desired)
    assert adopted.foreign == {}
    assert {r.key: r.managed() for r in adopted} == {r.key: r.managed() for r in desired}
    assert live_ids(adopted) == ids


def test_two_objects_with_one_owned_idnumber_are_refused(client: MoodleClient) -> None:
    owned = f"{OWNED_PREFIX}d:student:1"
    twin = {"idnumber": owned, "createpassword": 1, "firstname": "A", "lastname": "B"}
    client.call(
        "core_user_create_users",
        {
            "users": [
                {**twin, "email": "a@example.org", "username": "a1"},
                {**twin, "email": "b@example.org", "username": "a2"},
            ]
        },
    )
    desired = State.of([User(Key(Kind.USER, owned), username="a1", firstname="A", lastname="B", email="a@example.org")])
    with pytest.raises(AmbiguousOwnership, match="Moodle ids 3, 4"):
        read_live(client, desired)


def test_a_parent_the_tool_does_not_own_is_named_by_id(
    district: State, create_all: Create, client: MoodleClient
) -> None:
    ids = create_all(district)
    algebra = Key(Kind.COURSE, f"{OWNED_PREFIX}d:300:section:1")
    client.call("core_course_update_courses", {"courses": [{"categoryid": 1, "id": ids[algebra]}]})
    live = read_live(client, district, kinds={Kind.COURSE})
    course = live.get(algebra)
    assert isinstance(course, Course) and course.category == Key(Kind.CATEGORY, "#1")
    want = district.get(algebra)
    assert isinstance(want, Course) and replace(course, category=want.category) == want
