"""Moodle's ``sortorder`` of categories and courses (``fix_course_sortorder`` in ``lib/datalib.php``).

Categories, in tree order, are numbered 10000, 20000...; a new category goes last
among its siblings. A category's courses follow its number: +1, +2... A new course is
put first and the category renumbered, closing any gap; a deleted course leaves a gap
until the next renumbering. A move ends in ``fix_course_sortorder``: the moved course's
number, out of its new category's range, is taken modulo 10000 onto it (the position it
had), the courses are renumbered by (number, id descending), and every category's gaps
close (the one it left included). A course whose category no longer exists keeps the
number it had (its row's ``sortorder``).

Each category's course order is one :class:`~.model.CourseOrder` row, so a new course
costs one write instead of renumbering every course row, and a rollback restores it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from ps2moodle_testkit.emulators.moodle.model import Course, CourseOrder
from ps2moodle_testkit.emulators.moodle.site import MoodleSite

MAX_COURSES_IN_CATEGORY = 10000
#: Where a new or moved category waits before renumbering: after every other one.
UNSORTED = MAX_COURSES_IN_CATEGORY * 10000


def renumber_categories(site: MoodleSite) -> None:
    """Number categories in tree order; a renumbered category's courses close their gaps."""
    counter = 0

    def walk(parent: int) -> None:
        nonlocal counter
        for category in sorted(site.categories.find("parent", parent), key=lambda c: (c.sortorder, c.id)):
            counter += MAX_COURSES_IN_CATEGORY
            if category.sortorder != counter:
                site.categories.put(replace(category, sortorder=counter))
                _compact(site, category.id)
            walk(category.id)

    walk(0)


def _order(site: MoodleSite, categoryid: int) -> tuple[int | None, ...]:
    row = site.course_orders.get(categoryid)
    return row.courses if row is not None else ()


def _compact(site: MoodleSite, categoryid: int, courses: Iterable[int | None] | None = None) -> None:
    order = tuple(c for c in (_order(site, categoryid) if courses is None else courses) if c is not None)
    site.course_orders.put(CourseOrder(categoryid, order))


def place_new_course(site: MoodleSite, course: Course) -> None:
    """A new course goes first in its category, which is renumbered."""
    _compact(site, course.category, (course.id, *_order(site, course.category)))


def remove_course(site: MoodleSite, course: Course) -> None:
    """A course leaves its category, leaving a gap in the numbering."""
    order = _order(site, course.category)
    if course.id in order:
        site.course_orders.put(CourseOrder(course.category, tuple(None if c == course.id else c for c in order)))


def move_courses(site: MoodleSite, moved: Iterable[Course]) -> None:
    """Courses moved into their ``category`` with the number each row holds, then
    ``fix_course_sortorder``: a number modulo 10000 is the course's place among its
    category's courses (a tie goes to the higher id first), and every category's gaps close."""
    arriving: dict[int, list[tuple[int, int]]] = {}
    for course in moved:
        if site.categories.get(course.category) is not None:
            arriving.setdefault(course.category, []).append((course.sortorder % MAX_COURSES_IN_CATEGORY, course.id))
    for categoryid, places in arriving.items():
        placed = [(i, c) for i, c in enumerate(_order(site, categoryid), start=1) if c is not None] + places
        _compact(site, categoryid, [c for _, c in sorted(placed, key=lambda p: (p[0], -p[1]))])
    for row in site.course_orders.by_id():
        if None in row.courses:
            _compact(site, row.id)


def course_sortorders(site: MoodleSite, courses: Iterable[Course]) -> dict[int, int]:
    """The sortorder of each course, by course id."""
    numbers: dict[int, int] = {}
    positions: dict[int, dict[int, int]] = {}
    for course in courses:
        category = site.categories.get(course.category)
        if category is None:
            numbers[course.id] = course.sortorder
            continue
        if course.category not in positions:
            order = _order(site, course.category)
            positions[course.category] = {c: i for i, c in enumerate(order, start=1) if c is not None}
        numbers[course.id] = category.sortorder + positions[course.category].get(course.id, 0)
    return numbers


def course_sortorder(site: MoodleSite, course: Course) -> int:
    """The sortorder of one course."""
    return course_sortorders(site, [course])[course.id]
