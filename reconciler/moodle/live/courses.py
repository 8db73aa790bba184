"""Reading categories and courses: every one Moodle lists, in one call each; the owned ones
kept, the unowned holders of names desired ones need found among the rest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.model import Category, Course, Key, Kind
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.live.found import Call, Found, owned, text, unowned_ref


class Categories:
    """Every category (``records``) and the owned ones' keys by Moodle id."""

    def __init__(self, found: Found) -> None:
        self.found = found
        self.records: list[dict[str, Any]] = []
        self.keys: dict[int, Key] = {}

    def listing(self) -> list[Call]:
        return [("core_course_get_categories", {}, self.on_categories)]

    def on_categories(self, answer: Any) -> None:
        self.records = MoodleClient.expect_list("core_course_get_categories", answer)
        # Every owned id first, so a parent listed after its child still resolves.
        for rec in self.records:
            if owned(rec.get("idnumber")):
                key = Key(Kind.CATEGORY, rec["idnumber"])
                self.keys[int(rec["id"])] = key
                self.found.claim(key, int(rec["id"]))
        for rec in self.records:
            if owned(rec.get("idnumber")):
                self.found.add(self.category(Key(Kind.CATEGORY, rec["idnumber"]), rec))

    def category(self, key: Key, rec: Mapping[str, Any]) -> Category:
        parent_id = int(rec.get("parent") or 0)
        parent = None if parent_id == 0 else self.ref(parent_id)
        return Category(key, name=text(rec.get("name")), parent=parent, moodle_id=int(rec["id"]))

    def ref(self, category_id: int) -> Key:
        """The key of the category with ``category_id``, owned or not."""
        return self.keys.get(category_id) or unowned_ref(Kind.CATEGORY, category_id)

    def find_foreign(self) -> None:
        """The unowned category holding each missing desired one's name under the same parent."""
        live_ids = {key: cid for cid, key in self.keys.items()}
        holders: dict[tuple[int, str], dict[str, Any]] = {}
        for record in self.records:
            if not owned(record.get("idnumber")):
                holders.setdefault((int(record.get("parent") or 0), text(record.get("name"))), record)
        # Parents before children, so a child can match under its parent's holder.
        wanted = sorted((r for r in self.found.missing(Kind.CATEGORY) if isinstance(r, Category)), key=self.depth)
        for cat in wanted:
            if cat.parent is None:
                parent_id: int | None = 0
            else:
                parent_id = live_ids.get(cat.parent)
            rec = holders.get((parent_id, cat.name)) if parent_id is not None else None
            if rec is not None:
                live_ids[cat.key] = int(rec["id"])
                self.found.foreign[cat.key] = self.category(Key(Kind.CATEGORY, text(rec.get("idnumber"))), rec)

    def depth(self, category: Category) -> int:
        """How deep a desired category sits among the desired ones."""
        depth = 0
        parent = category.parent
        while parent is not None:
            depth += 1
            above = self.found.desired.get(parent)
            parent = above.parent if isinstance(above, Category) else None
        return depth


#: Courses looked up one call each, at most, before listing every course is cheaper (a
#: listing returns every course's full record: seconds on a site with thousands).
LOOKUPS_AT_MOST = 40


class Courses:
    """Every course but the site's (``records``) and the keys of those whose memberships
    are read, by Moodle id: the owned ones, and unowned ones a plan may adopt.

    ``needed`` (applying a saved plan) names the only owned courses the reader needs
    besides the desired ones: when few, those are looked up by idnumber and the desired
    ones' shortnames (their holders) instead of listing every course."""

    def __init__(
        self, found: Found, categories: Categories, member_courses: set[Key] | None, needed: set[Key] | None = None
    ) -> None:
        self.found = found
        self.categories = categories
        self.member_courses = member_courses
        self.needed = needed
        self.records: list[dict[str, Any]] = []
        self.keys: dict[int, Key] = {}

    def listing(self) -> list[Call]:
        lookups = self.lookups()
        if lookups is not None:
            return lookups
        # Without a field: unlike core_course_get_courses it does not fail outright on one
        # course the account cannot enter.
        return [("core_course_get_courses_by_field", {}, self.on_courses)]

    def lookups(self) -> list[Call] | None:
        """One call per needed or desired course's idnumber and per desired shortname;
        None when that would be more than :data:`LOOKUPS_AT_MOST`."""
        if self.needed is None:
            return None
        desired = [r for r in self.found.desired.by_kind(Kind.COURSE) if isinstance(r, Course)]
        idnumbers = sorted({key.id for key in self.needed} | {r.key.id for r in desired})
        shortnames = sorted({r.shortname for r in desired})
        if len(idnumbers) + len(shortnames) > LOOKUPS_AT_MOST:
            return None
        return [
            ("core_course_get_courses_by_field", {"field": field, "value": value}, self.on_courses)
            for field, values in (("idnumber", idnumbers), ("shortname", shortnames))
            for value in values
        ]

    def per_course(self) -> list[tuple[int, Key]]:
        """The courses whose memberships and groups are read, by Moodle id."""
        return [
            (cid, key)
            for cid, key in sorted(self.keys.items())
            if self.member_courses is None or key in self.member_courses
        ]

    def on_courses(self, answer: Any) -> None:
        listed = answer.get("courses") if isinstance(answer, dict) else answer
        known = {int(rec["id"]) for rec in self.records}
        for rec in MoodleClient.expect_list("core_course_get_courses_by_field", listed):
            # The site course (format "site", category 0) is never a sync target; a course
            # found by both its idnumber and its shortname counts once.
            if rec.get("format") == "site" or int(rec["id"]) in known:
                continue
            known.add(int(rec["id"]))
            self.records.append(rec)
            if owned(rec.get("idnumber")):
                key = Key(Kind.COURSE, rec["idnumber"])
                self.keys[int(rec["id"])] = key
                self.found.claim(key, int(rec["id"]))
                self.found.add(self.course(key, rec))

    def course(self, key: Key, rec: Mapping[str, Any]) -> Course:
        return Course(
            key,
            shortname=text(rec.get("shortname")),
            fullname=text(rec.get("fullname")),
            category=self.categories.ref(int(rec.get("categoryid") or 0)),
            startdate=int(rec.get("startdate") or 0),
            enddate=int(rec.get("enddate") or 0),
            moodle_id=int(rec["id"]),
        )

    def renamed(self, wanted: Course) -> bool:
        """True when the owned course read for a desired one goes by another shortname."""
        live = self.found.out.get(wanted.key)
        return isinstance(live, Course) and live.shortname != wanted.shortname

    def find_foreign(self) -> None:
        """The unowned course holding each missing (or renamed) desired one's shortname."""
        holders = {text(c.get("shortname")): c for c in self.records if not owned(c.get("idnumber"))}
        for course in self.found.missing(Kind.COURSE):
            assert isinstance(course, Course)
            rec = holders.get(course.shortname)
            if rec is not None:
                self.found.foreign[course.key] = self.course(Key(Kind.COURSE, text(rec.get("idnumber"))), rec)
                # A candidate for adoption: what it holds of ours (enrolments of our accounts,
                # our groups) is read under the key it would take, so a plan that adopts it
                # knows what is already there (the planner touches none of it otherwise).
                self.keys[int(rec["id"])] = course.key
        if Kind.COURSE in self.found.kinds:
            for course in self.found.desired.by_kind(Kind.COURSE):
                if isinstance(course, Course) and self.renamed(course) and course.shortname in holders:
                    rec = holders[course.shortname]
                    self.found.foreign[course.key] = self.course(Key(Kind.COURSE, text(rec.get("idnumber"))), rec)
