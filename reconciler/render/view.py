"""What the human renderings of one plan document share, worked out once (pure).

``plan`` writes three renderings of a plan that may hold half a million changes; grouping
them, bundling each course's changes, counting the summary and the brakes, and gathering
each person's changes is done once here and read by all three (:mod:`.text`, :mod:`.markdown`,
:mod:`.html`).
"""

from __future__ import annotations

from functools import cached_property

from reconciler.model import Key
from reconciler.plan.model import PlanDocument
from reconciler.render.layout import (
    BrakeRow,
    Bundle,
    CourseGroup,
    SchoolGroup,
    SummaryRow,
    Titles,
    brake_rows,
    bundles,
    group_changes,
    summary_rows,
)
from reconciler.render.people import Person, course_names, people


class Layout:
    """The arrangement of ``doc``'s changes: by school and course, in bundles, by person."""

    def __init__(self, doc: PlanDocument) -> None:
        self.doc = doc
        self.titles = Titles(doc)
        self._bundles: dict[str, list[Bundle]] = {}

    @cached_property
    def schools(self) -> list[SchoolGroup]:
        return group_changes(self.doc.changes)

    @cached_property
    def summary(self) -> list[SummaryRow]:
        return summary_rows(self.schools)

    @cached_property
    def brakes(self) -> list[BrakeRow]:
        # Each rendering shows them; counted once, ~0.5 s less at 500,000 changes.
        return brake_rows(self.doc)

    @cached_property
    def people(self) -> list[Person]:
        return people(self.doc.changes)

    @cached_property
    def courses(self) -> dict[Key, str]:
        return course_names(self.schools)

    def bundles(self, course: CourseGroup) -> list[Bundle]:
        """``course``'s changes in bundles (one course id per plan, so it keys the cache)."""
        found = self._bundles.get(course.course)
        if found is None:
            found = self._bundles[course.course] = bundles(course.changes, self.titles, in_course=bool(course.course))
        return found
