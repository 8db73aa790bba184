"""check_safety: brakes by count and percent, the empty-school guard, audited override."""

from __future__ import annotations

from reconciler import keys
from reconciler.config.model import SafetyPolicy, Threshold
from reconciler.model import Course, State, User, enrolment
from reconciler.plan.model import Action, Change, Plan
from reconciler.plan.safety import check_safety


def suspensions(n: int, owned: int) -> Plan:
    changes = []
    for i in range(n):
        user = User(keys.student_key("north", i), username=f"u{i}", firstname="A", lastname="B", email=f"u{i}@x.org")
        changes.append(Change(Action.SUSPEND, user.key, user, user))
    return Plan(changes=tuple(changes), owned_counts={"user": owned})


POLICY = SafetyPolicy(
    thresholds=(("suspend", Threshold(count=10, percent=5.0)), ("delete", Threshold(count=0))), min_existing=50
)


def test_within_limits_passes() -> None:
    assert check_safety(suspensions(4, 100), State(), POLICY).ok


def test_count_brake_trips() -> None:
    verdict = check_safety(suspensions(11, 10_000), State(), POLICY)
    assert not verdict.ok
    assert verdict.violations == ("11 user suspends: more than the limit of 10 (suspend:user)",)


def test_percent_brake_trips_only_above_min_existing() -> None:
    verdict = check_safety(suspensions(6, 100), State(), POLICY)
    assert verdict.violations == ("6 user suspends: 6.0% of the 100 owned, more than the limit of 5% (suspend:user)",)
    assert check_safety(suspensions(6, 40), State(), POLICY).ok


def test_per_kind_threshold_wins() -> None:
    policy = SafetyPolicy(thresholds=(("suspend", Threshold(count=1)), ("suspend:user", Threshold(count=100))))
    assert check_safety(suspensions(50, 10_000), State(), policy).ok


def test_all_violations_are_listed() -> None:
    base = suspensions(11, 10_000)
    gone = base.changes[0].before
    assert gone is not None
    plan = Plan(changes=(*base.changes, Change(Action.DELETE, gone.key, gone, None)), owned_counts=base.owned_counts)
    verdict = check_safety(plan, State(), POLICY)
    assert verdict.violations == (
        "1 user delete: more than the limit of 0 (delete:user)",
        "11 user suspends: more than the limit of 10 (suspend:user)",
    )


def test_empty_school_guard() -> None:
    course = Course(
        keys.section_course_key("north", 100, 1), shortname="s", fullname="f", category=keys.category_key(("A",))
    )
    seat = enrolment(course.key, keys.student_key("north", 7), ["student"])
    suspend = Change(Action.SUSPEND, seat.key, seat, seat)  # its course is the enrolment's
    live = State.of([course, seat])
    plan = Plan(changes=(suspend,), owned_counts={"enrolment": 1})
    verdict = check_safety(plan, live, POLICY, school_students={("north", 100): 0, ("north", 200): 0})
    assert not verdict.ok
    assert verdict.violations == (
        "school 100 of connection north returned no active students from PowerSchool, but Moodle holds 1 of its "
        "courses: a PowerSchool outage or a wrong school number?",
    )
    assert check_safety(plan, live, POLICY, school_students={("north", 100): 3}).ok
    # Nothing removed there (a closed school already emptied under a reviewed override): no trip.
    assert check_safety(Plan(), live, POLICY, school_students={("north", 100): 0}).ok


def test_override_needs_a_written_reason() -> None:
    plan = suspensions(11, 10_000)
    assert not check_safety(plan, State(), POLICY, override_reason="   ").ok
    verdict = check_safety(plan, State(), POLICY, override_reason="end of year: seniors graduate")
    assert verdict.ok and verdict.overridden
    assert verdict.override_reason == "end of year: seniors graduate"


def test_adoptions_are_braked_and_users_default_to_none_without_a_yes() -> None:
    user = User(keys.student_key("north", 1), username="u1", firstname="A", lastname="B", email="u1@x.org")
    course = Course(
        keys.section_course_key("north", 100, 1), shortname="C", fullname="C", category=keys.category_key(("X",))
    )
    adopt_user = Plan(changes=(Change(Action.ADOPT, user.key, user, user),), owned_counts={"user": 1000})
    verdict = check_safety(adopt_user, State(), SafetyPolicy())
    assert not verdict.ok
    assert verdict.violations == ("1 user adopt: more than the limit of 0 (adopt:user)",)
    assert check_safety(adopt_user, State(), SafetyPolicy(), override_reason="same people, checked by HR").ok
    allowed = SafetyPolicy(thresholds=(*SafetyPolicy().thresholds, ("adopt:user", Threshold(count=5))))
    assert check_safety(adopt_user, State(), allowed).ok
    adopt_course = Plan(changes=(Change(Action.ADOPT, course.key, course, course),))
    assert check_safety(adopt_course, State(), SafetyPolicy()).ok  # courses: no default brake
