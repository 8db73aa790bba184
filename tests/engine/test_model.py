"""The resource codec: attributes to plain JSON values and back, chosen by their types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import pytest

from reconciler.model import Category, Course, Key, Kind, Pairs, Resource, User, enrolment, resource_from_dict


@dataclass(frozen=True, slots=True)
class _Spelled(Resource):
    """Reference attributes spelled every way an annotation may spell them."""

    KIND: ClassVar[Kind] = Kind.GROUP
    course: Optional[Key] = None  # noqa: UP045 - the old spelling is the point
    parent: Key | None = None
    fields: Pairs = ()
    tags: tuple[str, ...] = ()
    name: str = ""


def test_every_spelling_of_a_key_is_a_reference() -> None:
    course, parent = Key(Kind.COURSE, "ps2m:n:100:section:1"), Key(Kind.CATEGORY, "ps2m:cat:A")
    item = _Spelled(Key(Kind.GROUP, "ps2m:n:100:group:1"), course=course, parent=parent, fields=(("a", "1"),))
    assert item.references() == [course, parent]
    assert item.to_dict() == {
        "key": "ps2m:n:100:group:1",
        "course": course.id,
        "parent": parent.id,
        "fields": {"a": "1"},
        "tags": [],
        "name": "",
    }
    assert _Spelled(item.key).references() == []  # None is no reference, and stays None
    assert _Spelled(item.key).to_dict()["course"] is None


@pytest.mark.parametrize(
    "resource",
    [
        User(Key(Kind.USER, "ps2m:n:student:1"), "jo", "Jo", "M", profile=(("city", "C"),), moodle_id=3),
        Course(Key(Kind.COURSE, "ps2m:n:100:section:1"), "S", "F", Key(Kind.CATEGORY, "ps2m:cat:A")),
        Category(Key(Kind.CATEGORY, "ps2m:cat:A/B"), name="B", parent=Key(Kind.CATEGORY, "ps2m:cat:A")),
        enrolment(Key(Kind.COURSE, "ps2m:n:100:section:1"), Key(Kind.USER, "ps2m:n:student:1"), ["student", "a"]),
    ],
    ids=lambda r: r.key.kind.value,
)
def test_resources_come_back_from_their_plain_form(resource: Resource) -> None:
    back = resource_from_dict(resource.key.kind, resource.to_dict(), moodle_id=resource.moodle_id)
    assert back == resource and back.moodle_id == resource.moodle_id
