"""Reads whether people have graded work in courses: ``gradereport_user_get_grade_items``.

One call per course answers for every user with an active enrolment there (``userid=0``);
a user whose enrolment is already suspended is not in that answer (Moodle's report shows
only active enrolments), so they are asked about alone (``userid=N``), and so is the only
user probed in a course (the course-wide report costs Moodle every enrolled user's grades:
seconds for a large course, when a targeted run asks about one student). Graded means an
item other than a course or category total whose ``graderaw`` is not null: a grade of 0
is graded work (``shared/golden/moodle/grades/NOTES.md``).

A call Moodle refuses (the function is not in the token's service, a capability is
missing, the course has gone) leaves its pairs unchecked with the reason; the plan says
so, and the safety gate decides what that means.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.gradework import GradeAnswers, Probe
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.errors import MoodleResponseError, MoodleTransportError

FUNCTION = "gradereport_user_get_grade_items"
#: Course and category totals aggregate other items: not graded work of their own.
_TOTALS = frozenset({"course", "category"})


def graded_items(answer: Any) -> dict[int, int]:
    """Graded items per user id in one answer of :data:`FUNCTION`."""
    if not isinstance(answer, Mapping) or not isinstance(answer.get("usergrades"), list):
        raise MoodleTransportError(f"{FUNCTION}: expected an object with usergrades, got {type(answer).__name__}")
    reports = answer["usergrades"]
    return {int(report["userid"]): sum(map(_is_graded, report.get("gradeitems") or ())) for report in reports}


def _is_graded(item: Mapping[str, Any]) -> bool:
    return item.get("itemtype") not in _TOTALS and item.get("graderaw") is not None


def read_graded_items(client: MoodleClient, probes: Sequence[Probe]) -> GradeAnswers:
    """Graded items for each probed (course id, user id) pair: one call per course with a
    listed pair, one per pair that is not listed."""
    by_course: dict[int, list[Probe]] = defaultdict(list)
    for probe in probes:
        by_course[probe.course_id].append(probe)
    calls: list[tuple[int, int, list[Probe]]] = []
    for course_id, course_probes in sorted(by_course.items()):
        listed = [p for p in course_probes if p.listed]
        alone = course_probes if len(course_probes) == 1 else [p for p in course_probes if not p.listed]
        if listed and len(course_probes) > 1:
            calls.append((course_id, 0, listed))
        calls += [(course_id, p.user_id, [p]) for p in alone]
    graded: dict[tuple[int, int], int] = {}
    failures: dict[tuple[int, int], str] = {}
    for asked, outcome in zip(calls, client.map(lambda call: _ask(client, call[0], call[1]), calls), strict=True):
        course_id, _, asked_probes = asked
        pairs = [(course_id, p.user_id) for p in asked_probes]
        if isinstance(outcome, str):
            failures.update(dict.fromkeys(pairs, outcome))
        else:
            graded.update({pair: outcome.get(pair[1], 0) for pair in pairs})
    return GradeAnswers(graded, failures)


def _ask(client: MoodleClient, course_id: int, user_id: int) -> dict[int, int] | str:
    """Graded items by user id in one course, or why Moodle would not say."""
    try:
        return graded_items(client.call(FUNCTION, {"courseid": course_id, "userid": user_id}))
    except MoodleResponseError as exc:
        return str(exc)
