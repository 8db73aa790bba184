"""Two connections with prefixes into one Moodle never collide.

``examples/multi-connection.yaml`` as shipped, against two generated districts (seeds 1 and
2: many of their logins, grade levels and school numbers are the same), and one district
served on two connections with different prefixes: every account, course, group and
cohort exists once per connection, under that connection's prefix and idnumber namespace.

The generated districts use one e-mail domain, which two real districts would not: their
shared addresses are an input problem Moodle refuses (and the plan reports), not an
identity the tool confuses, so these sites allow accounts to share an e-mail address.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

import pytest

from ps2moodle_testkit.demo.sandbox import Sandbox
from reconciler.pipeline import run_apply, run_plan

from .harness import MakeStack, config_text, connection, staff_username, staff_with_accounts, students_with_accounts
from .site_view import SiteView, owned

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multi-connection.yaml"
PREFIXES = {"north": ("n.", "N-"), "south": ("s.", "S-")}


def namespace(idnumber: str) -> str:
    """The connection an owned idnumber belongs to ('' for shared categories)."""
    body = idnumber.removeprefix("ps2m:")
    return "" if body.startswith("cat:") else body.split(":", 1)[0]


def test_the_multi_connection_example_on_two_districts(monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox = Sandbox.create(EXAMPLE, scale="small", seed=1)
    for name, value in sandbox.environment.items():
        monkeypatch.setenv(name, value)
    sandbox.moodle.config.allowaccountssameemail = True
    north, south = sandbox.districts["north"], sandbox.districts["south"]
    # The two districts do share logins: without prefixes, accounts would collide.
    shared_logins = {s.web_id for s in north.students if s.web_id} & {s.web_id for s in south.students if s.web_id}
    assert len(shared_logins) > 50

    with sandbox.moodle_client() as moodle:
        read = sandbox.roster_reader()
        first = run_plan(sandbox.config, moodle, read)
        assert first.verdict.ok
        report = run_apply(sandbox.config, moodle, first.plan, first.live)
        assert report.failures == []
        assert run_plan(sandbox.config, moodle, read).plan.changes == ()

    view = SiteView(sandbox.moodle)
    accounts = view.owned_accounts()
    for name, schools in (("north", [100, 300]), ("south", [100, 200])):
        prefix, course_prefix = PREFIXES[name]
        district = sandbox.districts[name]
        mine = {a.username for a in accounts.values() if namespace(a.idnumber) == name}
        students = students_with_accounts(district, schools, email_fallback=True)
        expected = {prefix + s.web_id.lower() for s in students}  # type: ignore[union-attr]
        expected |= {prefix + staff_username(u) for u in staff_with_accounts(district, schools)}
        assert mine == expected
        courses = [c for c in view.owned_courses().values() if namespace(c.idnumber) == name]
        assert courses and all(c.shortname.startswith(course_prefix) for c in courses)
    # Every account and course is under exactly one connection, and its names say which.
    assert Counter(namespace(a.idnumber) for a in accounts.values()).keys() == {"north", "south"}
    for account in accounts.values():
        assert account.username.startswith(PREFIXES[namespace(account.idnumber)][0])

    # Cohorts: one per connection and grade, named by each connection's own template.
    cohorts = [c for c in view.cohorts().values() if owned(c.idnumber)]
    north_grades = {c.idnumber.rsplit(":", 1)[1] for c in cohorts if namespace(c.idnumber) == "north"}
    south_grades = {c.idnumber.rsplit(":", 1)[1] for c in cohorts if namespace(c.idnumber) == "south"}
    assert north_grades & south_grades  # the same grade in both districts: two cohorts
    for cohort in cohorts:
        side = namespace(cohort.idnumber)
        grade = cohort.idnumber.rsplit(":", 1)[1]
        assert cohort.name == (f"North grade {grade}" if side == "north" else f"Grade {grade}")
        assert {m[:2] for m in cohort.members} == {PREFIXES[side][0]}

    # Nobody is enrolled across connections.
    for course in view.owned_courses().values():
        prefix = PREFIXES[namespace(course.idnumber)][0]
        seats = view.seats(course.id)
        assert seats and all(username.startswith(prefix) for username in seats)


def test_one_district_on_two_connections_makes_disjoint_objects(make_stack: MakeStack) -> None:
    settings = """
        schools: [100, 200]
        students:
          cohorts:
            - field: grade_level
        school_settings:
          100:
            terms: ["24-25", Q1, Q2, Q3, Q4]
            courses: { LIBK5: { mode: group } }
          200:
            terms: ["24-25", S1]
            courses: { CALC: , CHIN2: }
        """
    east = connection("east", "username_prefix: e.\ncourse_number_prefix: E-\n" + textwrap.dedent(settings))
    west = connection("west", "username_prefix: w.\ncourse_number_prefix: W-\n" + textwrap.dedent(settings))
    # The same people in both: one e-mail, two accounts (the site allows it, and says so).
    text = config_text(east, west).replace("connections:\n", "  allow_accounts_same_email: true\nconnections:\n", 1)
    stack = make_stack(text)
    # West's PowerSchool serves east's district: the same people, courses and DCIDs.
    stack.sandbox.change("west", lambda _: stack.district("east"))
    stack.site.config.allowaccountssameemail = True
    stack.sync(stack.write(text))

    view = stack.view

    def by_side(names: dict[str, str], prefixes: dict[str, str]) -> dict[str, set[str]]:
        """Names, their connection's prefix taken off, by the connection their idnumber names."""
        out: dict[str, set[str]] = {"east": set(), "west": set()}
        for name, idnumber in names.items():
            side = namespace(idnumber)
            assert name.startswith(prefixes[side])
            out[side].add(name.removeprefix(prefixes[side]))
        return out

    accounts = by_side({a.username: a.idnumber for a in view.owned_accounts().values()}, {"east": "e.", "west": "w."})
    courses = by_side({c.shortname: c.idnumber for c in view.owned_courses().values()}, {"east": "E-", "west": "W-"})
    # The same people and courses on both sides, as separate objects.
    assert accounts["east"] == accounts["west"] and len(accounts["east"]) > 40
    assert courses["east"] == courses["west"] == {"200-CALC-1-24-25-2024", "200-CHIN2-1-S1-2024", "100-LIBK5-2024"}
    idnumbers = [a.idnumber for a in view.owned_accounts().values()] + [
        c.idnumber for c in view.owned_courses().values()
    ]
    groups = [g for c in view.owned_courses().values() for g in view.groups(c.id).values()]
    cohorts = [c for c in view.cohorts().values() if owned(c.idnumber)]
    idnumbers += [g.idnumber for g in groups] + [c.idnumber for c in cohorts]
    assert len(idnumbers) == len(set(idnumbers))
    assert Counter(namespace(i) for i in idnumbers)["east"] == Counter(namespace(i) for i in idnumbers)["west"]
    # Each course holds only its own connection's people; each group and cohort too.
    for course in view.owned_courses().values():
        prefix = {"east": "e.", "west": "w."}[namespace(course.idnumber)]
        assert all(u.startswith(prefix) for u in view.seats(course.id))
        for group in view.groups(course.id).values():
            assert namespace(group.idnumber) == namespace(course.idnumber)
            assert group.members and all(u.startswith(prefix) for u in group.members)
    for cohort in cohorts:
        prefix = {"east": "e.", "west": "w."}[namespace(cohort.idnumber)]
        assert cohort.members and all(u.startswith(prefix) for u in cohort.members)
    # Categories are the one thing shared: by path, whichever connection names it.
    shared = {c.category for c in view.owned_courses().values()}
    for path in shared:
        sides = {namespace(c.idnumber) for c in view.owned_courses().values() if c.category == path}
        assert sides == {"east", "west"}
