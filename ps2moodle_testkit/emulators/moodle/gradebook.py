"""A course gradebook as Moodle 4.5 keeps it, for the grade-report web services (``grades/``).

Only what "does this user have graded work here?" needs: a flat gradebook of manual
items under the course's top category, natural aggregation (the course total sums the
graded items; a user's weights count only the items graded for them, "exclude empty
grades"), and the recorded life cycle: the course category and course total are made on
first use; unenrolling a user from their last enrolment in a course takes their grades
out of the gradebook (to grade history; ``recovergradesdefault`` is off, so re-enrolling
brings nothing back); deleting a user does the same everywhere.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ps2moodle_testkit.emulators.moodle.model import Grade, GradeCategory, GradeItem

if TYPE_CHECKING:
    from ps2moodle_testkit.emulators.moodle.site import MoodleSite

#: ``$CFG->gradebookroles``: whose grades the reports list (the student role).
GRADEBOOK_ROLES = frozenset({5})
#: Out-of-band steps of ``grades/_sequence.jsonl`` (:func:`setup`).
SETUP_STEPS = frozenset({"add_service_function", "add_graded_item", "set_grade"})


def setup(site: MoodleSite, name: str, *args: str | int) -> None:
    """Apply one gradebook setup step (arguments as the recording gives them: strings)."""
    if name == "add_service_function":
        site.add_function(str(args[0]))
        return
    courseid, itemname = int(args[0]), str(args[1])
    if name == "add_graded_item":
        add_item(site, courseid, itemname, float(args[2]) if len(args) > 2 else 100.0)
        return
    item = next((i for i in site.grade_items.find("course", courseid) if i.itemname == itemname), None)
    if item is None:
        raise KeyError(f"course {courseid} has no grade item {itemname!r}")
    value = args[3]
    set_grade(site, item, int(args[2]), None if value in (None, "null") else float(value))


def course_category(site: MoodleSite, courseid: int) -> GradeCategory:
    """``grade_category::fetch_course_category``: made with the course total on first use."""
    category = site.grade_categories.first("course", courseid)
    if category is None:
        category = GradeCategory(site.grade_categories.next_id(), courseid)
        site.grade_categories.put(category)
        total = GradeItem(site.grade_items.next_id(), courseid, "course", None, category.id, None, grademax=0.0)
        site.grade_items.put(total)
    return category


def add_item(site: MoodleSite, courseid: int, itemname: str, grademax: float = 100.0) -> GradeItem:
    """A manual grade item (value type, ``0..grademax``); idempotent by name."""
    category = course_category(site, courseid)
    for item in site.grade_items.find("course", courseid):
        if item.itemname == itemname:
            return item
    item = GradeItem(site.grade_items.next_id(), courseid, "manual", itemname, None, category.id, 0, 0.0, grademax)
    site.grade_items.put(item)
    return item


def set_grade(site: MoodleSite, item: GradeItem, userid: int, finalgrade: float | None) -> None:
    """A user's final grade on ``item`` (None clears it)."""
    existing = site.grades.first("item_user", (item.id, userid))
    if existing is None:
        site.grades.put(Grade(site.grades.next_id(), item.id, userid, finalgrade, site.now()))
    else:
        site.grades.put(replace(existing, finalgrade=finalgrade, timemodified=site.now()))


def remove_user_grades(site: MoodleSite, userid: int, courseid: int | None = None) -> None:
    """Take a user's grades out of one course's gradebook (or every one, for ``None``)."""
    items = None if courseid is None else {item.id for item in site.grade_items.find("course", courseid)}
    for grade in site.grades.find("user", userid):
        if items is None or grade.itemid in items:
            site.grades.delete(grade.id)


def items_of(site: MoodleSite, courseid: int) -> tuple[list[GradeItem], GradeItem]:
    """A course's graded items in order and its course total (made on first use)."""
    course_category(site, courseid)
    found = sorted(site.grade_items.find("course", courseid), key=lambda i: i.id)
    total = next(i for i in found if i.itemtype == "course")
    return [i for i in found if i.itemtype != "course"], total


def user_report(site: MoodleSite, courseid: int, userid: int) -> list[dict[str, Any]]:
    """The ``gradeitems`` of one user's report: every item, then the course total."""
    items, total = items_of(site, courseid)
    grades = {item.id: site.grades.first("item_user", (item.id, userid)) for item in items}
    graded = {i: g for i, g in grades.items() if g is not None and g.finalgrade is not None}
    graded_max = sum(item.grademax for item in items if item.id in graded)
    rows = []
    for item in items:
        grade = graded.get(item.id)
        row = _row(item, grade.finalgrade if grade else None, grade.timemodified if grade else None, item.grademax)
        if grade is not None and graded_max:
            weight = item.grademax / graded_max
            row["weightraw"] = _number(weight)
            row["weightformatted"] = f"{weight * 100:.2f} %"
        rows.append(row)
    course_max = sum(item.grademax for item in items)
    raw = sum(g.finalgrade for g in graded.values() if g.finalgrade is not None) if graded else None
    when = max((g.timemodified for g in graded.values()), default=None)
    row = _row(total, raw, when, course_max)
    row["feedbackformat"] = 2 if graded else 0  # the course total's grade row is plain text
    rows.append(row)
    return rows


def _row(item: GradeItem, raw: float | None, when: int | None, grademax: float) -> dict[str, Any]:
    span = grademax - item.grademin
    return {
        "id": item.id,
        "itemname": item.itemname,
        "itemtype": item.itemtype,
        "itemmodule": None,
        "iteminstance": item.iteminstance,
        "itemnumber": item.itemnumber,
        "idnumber": None,
        "categoryid": item.categoryid,
        "outcomeid": None,
        "scaleid": None,
        "locked": False,
        "graderaw": None if raw is None else _number(raw),
        "gradedatesubmitted": None,
        "gradedategraded": when,
        "gradehiddenbydate": False,
        "gradeneedsupdate": False,
        "gradeishidden": False,
        "gradeislocked": False,
        "gradeisoverridden": False,
        "gradeformatted": "-" if raw is None else f"{raw:.2f}",
        "grademin": _number(item.grademin),
        "grademax": _number(grademax),
        "rangeformatted": f"{_number(item.grademin)}&ndash;{_number(grademax)}",
        "percentageformatted": "-" if raw is None or not span else f"{(raw - item.grademin) / span * 100:.2f} %",
        "feedback": "",
        "feedbackformat": 0,
    }


def _number(value: float) -> float | int:
    """A whole number as an integer, as the recorded answers show them (``85``, ``0``)."""
    return int(value) if float(value).is_integer() else value
