"""What Moodle 4.5 refuses, per value class (reconciler.moodle.values): each column's
length at the boundary, PARAM_USERNAME's characters, validate_email, tags in names."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler import keys
from reconciler.model import Category, Cohort, Course, Group, Resource, User
from reconciler.moodle.values import Refusal, refusals, valid_email

USER = User(
    keys.student_key("north", 1), username="ann.lee-2@x_y", firstname="Ann", lastname="O'Lee & Co", email="a@b.org"
)
COURSE = Course(
    keys.section_course_key("north", 100, 5501),
    shortname="100-ENG1-1",
    fullname="English 1 < 2",
    category=keys.category_key(("Lincoln",)),
)
CATEGORY = Category(keys.category_key(("Lincoln",)), name="Lincoln")
COHORT = Cohort(keys.cohort_key("north", "grade_level", "9"), name="Grade 9")
GROUP = Group(keys.group_key("north", 100, 8801), course=COURSE.key, name="Algebra 1")


def _fields(resource: Resource) -> list[str]:
    return [str(r) for r in refusals(resource)]


@pytest.mark.parametrize("resource", [USER, COURSE, CATEGORY, COHORT, GROUP], ids=lambda r: r.key.kind.value)
def test_ordinary_values_pass(resource: Resource) -> None:
    assert refusals(resource) == []


@pytest.mark.parametrize(
    ("resource", "field", "limit"),
    [
        (USER, "username", 100),
        (USER, "firstname", 100),
        (USER, "lastname", 100),
        (COURSE, "shortname", 255),
        (COURSE, "fullname", 254),
        (CATEGORY, "name", 255),
        (COHORT, "name", 254),
        (GROUP, "name", 254),
    ],
)
def test_each_column_takes_its_length_and_not_one_more(resource: Resource, field: str, limit: int) -> None:
    assert refusals(replace(resource, **{field: "a" * limit})) == []  # type: ignore[arg-type]
    too_long = replace(resource, **{field: "a" * (limit + 1)})  # type: ignore[arg-type]
    assert refusals(too_long) == [Refusal(field, f"longer than {limit} characters")]


def test_lengths_count_characters_not_bytes() -> None:
    assert refusals(replace(USER, lastname="é" * 100)) == []


def test_email_length_and_profile_field_lengths() -> None:
    address = "a" * 64 + "@" + "b" * 31 + ".org"  # 100 characters
    assert refusals(replace(USER, email=address)) == []
    longer = address.replace("@", "@b")
    assert _fields(replace(USER, email=longer)) == ["the email (longer than 100 characters)"]
    assert _fields(replace(USER, profile=(("city", "c" * 121), ("phone1", "1" * 20)))) == [
        "the city (longer than 120 characters)"
    ]
    assert refusals(replace(USER, profile=(("description", "<p>" + "d" * 5000 + "</p>"),))) == []  # PARAM_RAW, text


@pytest.mark.parametrize("name", ["Ann Lee", "ann@school", "J.-P._x"])
def test_username_characters(name: str) -> None:
    refused = refusals(replace(USER, username=name))
    ok = name == name.lower() and " " not in name
    assert (refused == []) is ok
    if not ok:
        assert refused == [Refusal("username", "characters Moodle refuses in a username: only a-z 0-9 - . _ @")]


@pytest.mark.parametrize("name", ["ps2m:taken", "josé", "a+b", "a/b", "tab\there"])
def test_usernames_outside_param_username_are_refused(name: str) -> None:
    assert [r.field for r in refusals(replace(USER, username=name))] == ["username"]


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("ann@school.example.org", True),
        ("first.last+tag@sub-domain.example.org", True),
        ("o'neil@example.org", True),
        ("root@localhost", False),  # FILTER_VALIDATE_EMAIL wants a dot in the domain
        ("no-at-sign.example.org", False),
        ("two@@example.org", False),
        ("a..b@example.org", False),
        (".a@example.org", False),
        ("a@-example.org", False),
        ("<a@example.org>", False),
        ("a b@example.org", False),
        ("", False),
    ],
)
def test_validate_email(address: str, ok: bool) -> None:
    assert valid_email(address) is ok
    assert ([r.field for r in refusals(replace(USER, email=address))] == []) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("<b>Bold</b>", False),
        ("Bold<br>", False),
        ("x <script", False),
        ("a<", False),
        ("a < b", True),
        ("a > b", True),
    ],
)
def test_tags_are_refused_in_names(text: str, ok: bool) -> None:
    for resource, field in [(USER, "lastname"), (COURSE, "fullname"), (CATEGORY, "name"), (GROUP, "name")]:
        refused = refusals(replace(resource, **{field: text}))  # type: ignore[arg-type]
        assert refused == ([] if ok else [Refusal(field, "HTML tags")])


def test_blank_names_are_refused() -> None:
    assert _fields(replace(USER, firstname=" ")) == ["the firstname (blank)"]
    assert _fields(replace(USER, lastname="")) == ["the lastname (blank)"]


@pytest.mark.parametrize(
    ("zone", "ok"),
    [
        ("America/Chicago", True),
        ("99", True),
        ("-5", True),
        ("5.5", True),
        ("Mars/Olympus Mons", False),
        ("+25", False),
    ],
)
def test_time_zones_follow_param_timezone(zone: str, ok: bool) -> None:
    refused = refusals(replace(USER, profile=(("timezone", zone),)))
    assert (refused == []) is ok
