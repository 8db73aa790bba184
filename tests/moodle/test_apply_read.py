"""What applying a saved plan reads of the courses: the few it needs looked up one by one,
every course listed once that would take more calls; the same facts either way."""

from __future__ import annotations

from collections.abc import Callable

from reconciler.model import Course, Key, Kind, State, enrolment
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.live.courses import LOOKUPS_AT_MOST
from reconciler.moodle.roles import RoleMap
from reconciler.pipeline import read_for_apply
from reconciler.plan.model import Action, Change, Plan
from reconciler.plan.stale import find_stale

Create = Callable[[State], dict[Key, int]]


def _new_course(n: int, category: Key) -> Course:
    return Course(
        Key(Kind.COURSE, f"ps2m:d:course:NEW{n}"), shortname=f"NEW-{n}", fullname=f"New {n}", category=category
    )


def test_a_small_plan_looks_its_courses_up_and_sees_a_name_taken_since(
    district: State, create_all: Create, client: MoodleClient
) -> None:
    create_all(district)
    courses = [c for c in district.by_kind(Kind.COURSE) if isinstance(c, Course)]
    category = courses[0].category
    new = _new_course(1, category)
    student = sorted(r.key for r in district.by_kind(Kind.USER))[-1]
    joins = enrolment(courses[1].key, student, ["student"])
    assert joins.key not in district
    plan = Plan(changes=(Change(Action.CREATE, new.key, None, new), Change(Action.CREATE, joins.key, None, joins)))

    client.stats.reset()
    live = read_for_apply(client, plan, RoleMap())
    # One lookup per course the plan needs by idnumber (the new one, the enrolment's) and
    # one for the new one's shortname: no listing of every course.
    assert client.stats.calls["core_course_get_courses_by_field"] == 3
    held = live.get(courses[1].key)
    assert isinstance(held, Course) and held.moodle_id
    assert find_stale(plan, live) == []

    # Someone creates a course with the new one's shortname by hand: the plan is stale.
    client.call(
        "core_course_create_courses",
        {"courses": [{"fullname": "By hand", "shortname": new.shortname, "categoryid": 1}]},
    )
    stale = find_stale(plan, read_for_apply(client, plan, RoleMap()))
    assert stale == [
        f"{new.key} (NEW-1): the plan would create it, but an object the tool does not own now holds its name"
    ]


def test_a_plan_needing_many_courses_lists_them_once(district: State, create_all: Create, client: MoodleClient) -> None:
    create_all(district)
    category = next(c for c in district.by_kind(Kind.COURSE) if isinstance(c, Course)).category
    new = [_new_course(n, category) for n in range(LOOKUPS_AT_MOST)]
    plan = Plan(changes=tuple(Change(Action.CREATE, c.key, None, c) for c in new))

    client.stats.reset()
    live = read_for_apply(client, plan, RoleMap())
    assert client.stats.calls["core_course_get_courses_by_field"] == 1
    assert find_stale(plan, live) == []
