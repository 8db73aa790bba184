"""compute_plan: keyed, field-level, policy-driven, ordered, and quiet when nothing changed."""

from __future__ import annotations

from dataclasses import replace

from reconciler import keys
from reconciler.config.model import AdoptRule, EnrolmentRemoval, ProtectedRule, RemovalPolicy, UserRemoval
from reconciler.desired import build_desired
from reconciler.model import Category, Course, Enrolment, Key, Kind, Resource, State, User, enrolment
from reconciler.plan.diff import compute_plan
from reconciler.plan.model import Action, school_of
from tests.support.factories import config, roster


def desired_state() -> State:
    return build_desired(config(), {"north": roster()}).state


def as_live(state: State) -> State:
    """What Moodle would hold after applying ``state``: the same objects, with ids."""
    return State.of(replace(r, moodle_id=i + 10) for i, r in enumerate(state))


def only(state: State, key: Key, new: Resource | None) -> State:
    items = [r for r in state if r.key != key]
    return State.of([*items, new] if new is not None else items, foreign=state.foreign)


def test_empty_moodle_creates_everything_in_dependency_order() -> None:
    desired = desired_state()
    plan = compute_plan(desired, State())
    assert {c.action for c in plan.changes} == {Action.CREATE}
    assert len(plan.changes) == len(desired)
    kinds = [c.key.kind for c in plan.changes]
    assert kinds.index(Kind.CATEGORY) < kinds.index(Kind.COURSE) < kinds.index(Kind.ENROLMENT)
    cats = [c.key.id for c in plan.changes if c.key.kind is Kind.CATEGORY]
    assert cats.index(keys.category_key(("High Schools",)).id) < cats.index(
        keys.category_key(("High Schools", "Lincoln")).id
    )


def test_no_changes_when_live_matches_even_with_moodle_formatting() -> None:
    desired = desired_state()
    live = as_live(desired)
    course = next(r for r in live if isinstance(r, Course))
    ann = next(r for r in live if isinstance(r, User) and r.username == "ann")
    noisy_course = replace(course, fullname=course.fullname.replace(" ", "  ") + " ")
    noisy_ann = replace(ann, email=ann.email.upper(), auth="oauth2")  # auth is create-only
    live = only(only(live, course.key, noisy_course), ann.key, noisy_ann)
    assert compute_plan(desired, live).is_empty


def test_html_escaped_names_are_not_a_change() -> None:
    desired = State.of([replace(next(r for r in desired_state() if isinstance(r, Course)), fullname="R&D 1")])
    live = State.of([replace(desired.by_kind(Kind.COURSE)[0], fullname="R&amp;D 1", moodle_id=5)])
    assert compute_plan(desired, live, kinds=[Kind.COURSE]).is_empty


def test_field_level_update() -> None:
    desired = desired_state()
    live = as_live(desired)
    ann = next(r for r in live if isinstance(r, User) and r.username == "ann")
    live = only(live, ann.key, replace(ann, lastname="Old", profile=(("city", "X"),)))
    plan = compute_plan(desired, live)
    assert len(plan.changes) == 1
    change = plan.changes[0]
    assert change.action is Action.UPDATE and change.key == ann.key
    # city is not a field the config manages: not compared, not shown.
    assert [(f.field, f.before, f.after) for f in change.fields] == [("lastname", "Old", "Last1")]


def test_leaver_is_suspended_by_default_and_deleted_only_by_policy() -> None:
    desired = desired_state()
    leaver = User(
        keys.student_key("north", 99), username="zed", firstname="Z", lastname="Z", email="z@example.org", moodle_id=999
    )
    live = State.of([*as_live(desired), leaver])
    plan = compute_plan(desired, live)
    assert [(c.action, c.key) for c in plan.changes] == [(Action.SUSPEND, leaver.key)]
    assert plan.changes[0].after is not None and plan.changes[0].after.managed()["suspended"] is True
    deleted = compute_plan(desired, live, removal=RemovalPolicy(users=UserRemoval.DELETE))
    assert [(c.action, c.key) for c in deleted.changes] == [(Action.DELETE, leaver.key)]
    kept = compute_plan(desired, live, removal=RemovalPolicy(users=UserRemoval.KEEP))
    assert kept.is_empty
    already = State.of([*as_live(desired), replace(leaver, suspended=True)])
    assert compute_plan(desired, already).is_empty


def test_returning_user_is_unsuspended() -> None:
    desired = desired_state()
    live = as_live(desired)
    ann = next(r for r in live if isinstance(r, User) and r.username == "ann")
    plan = compute_plan(desired, only(live, ann.key, replace(ann, suspended=True)))
    assert [(c.action, c.key) for c in plan.changes] == [(Action.UNSUSPEND, ann.key)]


def test_dropped_enrolment_is_suspended_or_unenrolled_by_policy() -> None:
    desired = desired_state()
    eng = keys.section_course_key("north", 100, 201)
    bob = keys.student_key("north", 2)
    dropped = replace(enrolment(eng, bob, ["student"]), moodle_id=None)
    live = State.of([*as_live(desired), dropped])
    plan = compute_plan(desired, live)
    assert [(c.action, c.key) for c in plan.changes] == [(Action.SUSPEND, dropped.key)]
    unenrol = compute_plan(desired, live, removal=RemovalPolicy(enrolments=EnrolmentRemoval.UNENROL))
    assert [(c.action, c.key) for c in unenrol.changes] == [(Action.DELETE, dropped.key)]


def test_role_change_is_an_update() -> None:
    desired = desired_state()
    live = as_live(desired)
    e = next(r for r in live if isinstance(r, Enrolment) and r.roles == ("teacher",))
    plan = compute_plan(desired, only(live, e.key, replace(e, roles=("student", "teacher"))))
    assert [(c.action, [(f.field, f.before, f.after) for f in c.fields]) for c in plan.changes] == [
        (Action.UPDATE, [("roles", ["student", "teacher"], ["teacher"])])
    ]


def test_deselected_course_and_its_enrolments_are_left_and_reported() -> None:
    desired = desired_state()
    old_course = Course(
        keys.section_course_key("north", 100, 777),
        shortname="OLD",
        fullname="Old",
        category=keys.category_key(("Math",)),
        moodle_id=77,
    )
    old_enrol = enrolment(old_course.key, keys.student_key("north", 1), ["student"])
    plan = compute_plan(desired, State.of([*as_live(desired), old_course, old_enrol]))
    assert plan.is_empty
    assert [n.message for n in plan.notices] == ["1 course no longer selected by the config is left as it is: OLD"]


def test_unowned_username_blocks_create_unless_adopted() -> None:
    desired = desired_state()
    ann_key = keys.student_key("north", 1)
    live = only(as_live(desired), ann_key, None)
    foreign_ann = User(
        Key(Kind.USER, ""),
        username="ann",
        firstname="Ann",
        lastname="Manual",
        email="ann@students.example.org",
        moodle_id=55,
    )
    live = State.of(list(live), foreign={ann_key: foreign_ann})
    plan = compute_plan(desired, live)
    assert all(c.key != ann_key for c in plan.changes)
    assert any("'ann' already exists in Moodle and is not ours" in n.message for n in plan.notices)
    # Ann's enrolments wait for her account rather than failing at apply.
    assert all(not (isinstance(c.resource, Enrolment) and c.resource.user == ann_key) for c in plan.changes)
    adopted = compute_plan(desired, live, adopt=[AdoptRule("user", "a*")])
    change = next(c for c in adopted.changes if c.key == ann_key)
    assert change.action is Action.ADOPT and change.before is foreign_ann
    assert ("idnumber", "", ann_key.id) in [(f.field, f.before, f.after) for f in change.fields]
    assert ("lastname", "Manual", "Last1") in [(f.field, f.before, f.after) for f in change.fields]
    assert not [n for n in adopted.notices if "changes the existing account" in n.message]  # same e-mail


def test_an_adopt_rule_can_require_matching_attributes_and_an_email_change_is_warned() -> None:
    desired = desired_state()
    ann_key = keys.student_key("north", 1)
    stranger = User(
        Key(Kind.USER, ""), username="ann", firstname="Site", lastname="Admin", email="admin@example.org", moodle_id=55
    )
    live = State.of(list(only(as_live(desired), ann_key, None)), foreign={ann_key: stranger})
    refused = compute_plan(desired, live, adopt=[AdoptRule("user", "*", ("email", "lastname"))])
    assert all(c.key != ann_key for c in refused.changes)
    assert (
        f"{ann_key.id} is not adopted: adopt rule user:* requires email, lastname to match the existing user, "
        "and email, lastname do not" in [n.message for n in refused.notices]
    )
    assert not [n for n in refused.notices if "admin@example.org" in n.message or "'ann'" in n.message]
    taken = compute_plan(desired, live, adopt=[AdoptRule("user", "*")])
    assert [c.action for c in taken.changes if c.key == ann_key] == [Action.ADOPT]
    assert (
        f"adopting {ann_key.id} changes the existing account's email: check it is the same person before "
        "applying" in [n.message for n in taken.notices]
    )
    same_person = State.of(list(live), foreign={ann_key: replace(stranger, email="ANN@students.example.org")})
    kept_email = compute_plan(desired, same_person, adopt=[AdoptRule("user", "*", ("email",))])
    assert [c.action for c in kept_email.changes if c.key == ann_key] == [Action.ADOPT]
    profile = compute_plan(desired, same_person, adopt=[AdoptRule("user", "*", ("email", "profile.city"))])
    assert [c.action for c in profile.changes if c.key == ann_key] == [Action.ADOPT]  # both blank: equal


def test_protected_objects_are_never_touched() -> None:
    desired = desired_state()
    leaver = User(
        keys.student_key("north", 99),
        username="principal",
        firstname="P",
        lastname="P",
        email="p@example.org",
        moodle_id=9,
    )
    plan = compute_plan(desired, State.of([*as_live(desired), leaver]), protected=[ProtectedRule("user", "princ*")])
    assert plan.is_empty
    assert any("protected" in n.message for n in plan.notices)


def test_scope_users_leaves_courses_alone() -> None:
    plan = compute_plan(desired_state(), State(), kinds=[Kind.USER, Kind.COHORT, Kind.COHORT_MEMBER])
    assert {c.key.kind for c in plan.changes} == {Kind.USER, Kind.COHORT, Kind.COHORT_MEMBER}


def test_scope_courses_waits_for_missing_users() -> None:
    plan = compute_plan(
        desired_state(), State(), kinds=[Kind.CATEGORY, Kind.COURSE, Kind.ENROLMENT, Kind.GROUP, Kind.GROUP_MEMBER]
    )
    assert {c.key.kind for c in plan.changes} == {Kind.CATEGORY, Kind.COURSE, Kind.GROUP}
    assert any("plan with a scope that includes user" in n.message for n in plan.notices)


def test_move_rekeys_the_course_and_keeps_its_enrolments() -> None:
    desired = desired_state()
    new_key = keys.section_course_key("north", 100, 201)
    old_key = keys.section_course_key("north", 100, 888)
    live = as_live(desired)
    course = live.get(new_key)
    assert isinstance(course, Course)
    rekeyed = [replace(course, key=old_key, fullname="Old name")]
    for r in live:
        if isinstance(r, Enrolment) and r.course == new_key:
            rekeyed.append(enrolment(old_key, r.user, r.roles))
        elif r.key != new_key:
            rekeyed.append(r)
    plan = compute_plan(desired, State.of(rekeyed), moves={new_key: old_key})
    assert [(c.action, c.key) for c in plan.changes] == [(Action.MOVE, new_key)]
    move = plan.changes[0]
    assert move.before is not None and move.before.moodle_id == course.moodle_id
    assert [(f.field, f.after) for f in move.fields] == [("idnumber", new_key.id), ("fullname", course.fullname)]


def test_changes_carry_their_school_and_course() -> None:
    plan = compute_plan(desired_state(), State())
    enrol = next(c for c in plan.changes if c.key.kind is Kind.ENROLMENT)
    assert enrol.course is not None and school_of(enrol.course) == "100"
    member = next(c for c in plan.changes if c.key.kind is Kind.GROUP_MEMBER)
    assert member.group_course == member.course == keys.group_course_key("north", 100, "ALG1", 2024)
    # Users, categories and cohorts live in no course.
    assert {c.course for c in plan.changes if c.key.kind in (Kind.USER, Kind.CATEGORY, Kind.COHORT)} == {None}


def test_category_adopt_rule_matches_the_whole_path() -> None:
    desired = desired_state()
    lincoln = keys.category_key(("High Schools", "Lincoln"))
    live = only(as_live(desired), lincoln, None)
    foreign = Category(
        Key(Kind.CATEGORY, ""), name="Lincoln", parent=keys.category_key(("High Schools",)), moodle_id=42
    )
    live = State.of(list(live), foreign={lincoln: foreign})
    adopted = compute_plan(desired, live, adopt=[AdoptRule("category", "High Schools/*")])
    assert [(c.action, c.key) for c in adopted.changes] == [(Action.ADOPT, lincoln)]
    # Without a rule a same-named category is no blocker: a new one is created beside it.
    created = compute_plan(desired, live)
    assert [(c.action, c.key) for c in created.changes] == [(Action.CREATE, lincoln)]


def test_kept_objects_and_what_is_in_or_of_them_are_not_removed() -> None:
    """Left out for a value Moodle would refuse is not "gone": no suspension, no removal."""
    desired = desired_state()
    live = as_live(desired)
    ann = next(r for r in desired if isinstance(r, User) and r.username == "ann")
    without_ann = State.of(r for r in desired if r.key != ann.key and ann.key not in r.references())
    removed = compute_plan(without_ann, live)
    assert {c.action for c in removed.changes} == {Action.SUSPEND, Action.DELETE}  # what kept prevents
    assert ann.key in {c.key for c in removed.changes}
    assert compute_plan(without_ann, live, kept=[ann.key]).is_empty
    eng = next(r for r in desired if isinstance(r, Course) and "ENG1" in r.shortname)
    without_eng = State.of(r for r in desired if r.key != eng.key and eng.key not in r.references())
    assert compute_plan(without_eng, live, kept=[eng.key]).is_empty


def test_an_email_another_account_has_is_never_planned_unless_the_site_allows_it() -> None:
    desired = desired_state()
    live = as_live(desired)
    users = {u.username: u for u in desired if isinstance(u, User)}
    ann, bob = users["ann"], users["bob"]
    # A hand-made account has Ann's e-mail (the live read finds it); Bob is to take the
    # e-mail of an account the tool owns (a teacher's).
    teacher = next(u for u in live if isinstance(u, User) and u.username == "tlead")
    without_ann = State.of([r for r in live if r.key != ann.key], email_holders={ann.key: 77})
    want = State.of([replace(bob, email=teacher.email.upper()) if r.key == bob.key else r for r in desired])
    plan = compute_plan(want, without_ann)
    assert ann.key not in {c.key for c in plan.changes}
    assert all(ann.key not in c.resource.references() for c in plan.changes)  # her enrolments wait too
    assert bob.key not in {c.key for c in plan.changes}
    notices = " ".join(n.message for n in plan.notices)
    assert "1 account left out: another Moodle account already has its email, which Moodle refuses" in notices
    assert "1 account keeps its email: another Moodle account already has the new one" in notices
    assert teacher.email not in notices
    allowed = compute_plan(want, without_ann, unique_emails=False)
    assert {(c.action, c.key) for c in allowed.changes if c.key in (ann.key, bob.key)} == {
        (Action.CREATE, ann.key),
        (Action.UPDATE, bob.key),
    }


def test_two_new_accounts_with_one_email_create_only_one() -> None:
    desired = desired_state()
    users = sorted((u for u in desired if isinstance(u, User)), key=lambda u: u.key.id)
    first, second = users[0], users[1]
    twins = State.of([replace(second, email=first.email) if r.key == second.key else r for r in desired])
    plan = compute_plan(twins, State())
    created = {c.key for c in plan.changes if c.action is Action.CREATE and c.key.kind is Kind.USER}
    assert len(created & {first.key, second.key}) == 1
    assert len(created) == len([u for u in desired if isinstance(u, User)]) - 1
