"""Fixtures for the Moodle client tests: the golden recordings of a real Moodle 4.5."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from reconciler.model import (
    KIND_ORDER,
    OWNED_PREFIX,
    Category,
    Cohort,
    Course,
    Group,
    Key,
    Kind,
    State,
    User,
    cohort_member,
    enrolment,
    group_member,
)
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.passwords import NewPassword
from reconciler.moodle.roles import RoleMap
from reconciler.moodle.writer import MoodleWriter
from reconciler.plan.model import Action, Change
from tests.support.golden import read_jsonl


def _load(directory: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.jsonl")):
        if path.name.startswith("_") and path.name != "_protocol.jsonl":
            continue  # _sequence repeats the per-function files; _max_input_vars is summarized
        for record in read_jsonl(path):
            record["_source"] = f"{directory.name}/{path.name}"
            records.append(record)
    return records


@pytest.fixture(scope="session")
def golden_records(golden_dir: Path) -> list[dict[str, Any]]:
    """Every recorded web-service call, production and debug."""
    return _load(golden_dir / "production") + _load(golden_dir / "debug")


# The emulated site -------------------------------------------------------------------


@pytest.fixture
def token() -> str:
    """The emulated admin's web-service token."""
    return "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


@pytest.fixture
def site(token: str) -> MoodleSite:
    """A fresh emulated Moodle 4.5, as the golden recordings started from."""
    return MoodleSite.fresh(token)


@pytest.fixture
def client(site: MoodleSite, token: str) -> Iterator[MoodleClient]:
    """A client talking to ``site`` in process."""
    with MoodleClient("https://moodle.test", token, transport=site.transport(), backoff_s=0.0) as moodle:
        yield moodle


@pytest.fixture
def roles() -> RoleMap:
    return RoleMap()


@pytest.fixture
def writer(client: MoodleClient, roles: RoleMap) -> MoodleWriter:
    # One worker: a handful of changes go as one call, as the tests below describe
    # (spreading small batches over workers has its own tests).
    return MoodleWriter(client, roles=roles, passwords=lambda user: NewPassword(generate=True), concurrency=1)


def _key(kind: Kind, body: str) -> Key:
    return Key(kind, OWNED_PREFIX + body)


@pytest.fixture
def district() -> State:
    """A small desired state touching every kind: nested categories, a section-mode and a
    group-mode course, students (one suspended, one with a custom field), a teacher with
    two roles, a suspended enrolment, a cohort and a group with members."""
    root = Category(_key(Kind.CATEGORY, "cat:District"), name="District")
    school = Category(_key(Kind.CATEGORY, "cat:District/Lincoln & Co"), name="Lincoln & Co", parent=root.key)
    algebra = Course(
        _key(Kind.COURSE, "d:300:section:1"),
        shortname="ALG-1-S1-2025",
        fullname="Algebra I & More 1 (S1)",
        category=school.key,
        startdate=1756684800,
        enddate=1782864000,
    )
    biology = Course(
        _key(Kind.COURSE, "d:300:course:BIO:2025"),
        shortname="BIO-2025",
        fullname="Biology 2025-2026",
        category=root.key,
        startdate=1756684800,
        enddate=1782864000,
    )
    period = Group(_key(Kind.GROUP, "d:300:section:7"), course=biology.key, name="Biology 7 (Y1)")

    def person(kind: str, n: int, *, suspended: bool = False) -> User:
        return User(
            _key(Kind.USER, f"d:{kind}:{n}"),
            username=f"{kind[:2]}{n}",
            firstname=f"First{n}",
            lastname=f"O'Last {n}",
            email=f"{kind}{n}@example.org",
            profile=(("city", "Springfield"),),
            customfields=(("gradelevel", "09" if kind == "student" else ""),),
            suspended=suspended,
        )

    s1, s2, s3 = person("student", 1), person("student", 2), person("student", 3, suspended=True)
    teacher = person("staff", 9)
    grade9 = Cohort(_key(Kind.COHORT, "d:cohort:grade_level:09"), name="Grade 09")
    return State.of(
        [
            root,
            school,
            algebra,
            biology,
            period,
            s1,
            s2,
            s3,
            teacher,
            grade9,
            enrolment(algebra.key, s1.key, ["student"]),
            enrolment(algebra.key, s2.key, ["student"], suspended=True),
            enrolment(algebra.key, teacher.key, ["editingteacher", "teacher"]),
            enrolment(biology.key, s1.key, ["student"]),
            enrolment(biology.key, s3.key, ["student"]),
            group_member(period.key, s1.key),
            group_member(period.key, s3.key),
            cohort_member(grade9.key, s1.key),
            cohort_member(grade9.key, s2.key),
        ]
    )


@pytest.fixture
def create_all(writer: MoodleWriter) -> Callable[[State], dict[Key, int]]:
    """Creates every object of a state through the writer, kind by kind; returns the ids."""

    def create(state: State) -> dict[Key, int]:
        ids: dict[Key, int] = {}
        for kind in KIND_ORDER:
            changes = [Change(Action.CREATE, r.key, None, r) for r in state.by_kind(kind)]
            outcomes = writer.execute(kind, Action.CREATE, changes, ids)
            assert [o.error for o in outcomes if not o.ok] == []
        return ids

    return create
