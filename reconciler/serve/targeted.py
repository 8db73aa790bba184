"""From the records a notification names to a targeted run: what to read and what to plan (pure).

A notification names PowerSchool records (:class:`Named`: a student, staff member,
section, course or section enrolment, by DCID). A targeted run covers them and what
they imply, as :mod:`reconciler.targeting` defines it: a student's or teacher's account,
enrolments, group and cohort memberships (``person:KEY``); a section's course or group
and its memberships (``section:SCHOOL:DCID``); a section enrolment's student and section;
a course's sections.

Reads are narrowed twice:

- **PowerSchool**: only the schools the named records were in at the last read
  (:class:`SchoolIndex`). A record the index does not know, an insert, a delete or a
  school change reads every configured school, and so does a narrowed read that no
  longer finds a named record where it was (:func:`all_found`): a record missing from a
  partial read must never look like a leaver.
- **Moodle**: the listings (categories, courses, cohorts: one call each), the target's
  accounts, and the enrolments and groups of the *region* (:func:`region`): the target's
  courses and every course a targeted person is to be enrolled in. Enrolments a person
  has in Moodle outside the region are not read, so a targeted run never removes them;
  the scheduled full run does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from reconciler import keys
from reconciler.model import CohortMember, Enrolment, Group, GroupMember, Key, Kind, Resource, State, User
from reconciler.powerschool.roster import Roster
from reconciler.targeting import TargetSpec

#: PowerSchool resources a notification may name, by the v1 path segment.
RESOURCES = ("student", "staff", "section", "section_enrollment", "course")
#: Event types after which a record is where it was at the last read (its school is known).
_IN_PLACE = frozenset({"UPDATE"})


@dataclass(frozen=True, slots=True)
class Named:
    """One record a notification names: ``resource`` one of :data:`RESOURCES`."""

    resource: str
    event_type: str
    dcid: int


@dataclass
class SchoolIndex:
    """Which schools each record was in at the last PowerSchool read, per connection.
    Kept by the server between runs: it holds DCIDs and school numbers only."""

    schools: dict[tuple[str, str, int], frozenset[int]] = field(default_factory=dict)

    def learn(self, rosters: Mapping[str, Roster]) -> None:
        """Record where every record of ``rosters`` is (a partial read updates its schools)."""
        for conn, roster in rosters.items():
            put = self.schools.__setitem__
            for student in roster.students:
                put((conn, "student", student.dcid), frozenset({student.school_number}))
            for staff in roster.staff:
                put((conn, "staff", staff.users_dcid), frozenset(staff.schools))
            by_course: dict[str, set[int]] = {}
            for section in roster.sections:
                put((conn, "section", section.dcid), frozenset({section.school_number}))
                by_course.setdefault(section.course_number, set()).add(section.school_number)
            for course in roster.courses:
                put((conn, "course", course.dcid), frozenset(by_course.get(course.number, ())))
            section_school = roster.section_by_dcid
            for row in roster.enrolments:
                if row.section_dcid in section_school:
                    put(
                        (conn, "section_enrollment", row.dcid),
                        frozenset({section_school[row.section_dcid].school_number}),
                    )

    def schools_to_read(self, conn: str, named: Iterable[Named]) -> frozenset[int] | None:
        """The schools of ``conn`` that hold every named record, or None (read them all)."""
        found: set[int] = set()
        for record in named:
            schools = self.schools.get((conn, record.resource, record.dcid))
            if record.event_type not in _IN_PLACE or not schools:
                return None
            found |= schools
        return frozenset(found)


def all_found(roster: Roster, named: Iterable[Named]) -> bool:
    """Whether a (narrowed) read holds every named record."""
    held = {
        "student": {s.dcid for s in roster.students},
        "staff": {s.users_dcid for s in roster.staff},
        "section": {s.dcid for s in roster.sections},
        "course": {c.dcid for c in roster.courses},
        "section_enrollment": {row.dcid for row in roster.enrolments},
    }
    return all(record.dcid in held[record.resource] for record in named)


def target_specs(conn: str, roster: Roster, named: Sequence[Named]) -> list[TargetSpec]:
    """The targets the named records stand for; records PowerSchool no longer holds name
    their Moodle object by key where the key needs nothing else (people)."""
    specs: list[TargetSpec] = []
    sections = roster.section_by_dcid
    cc_rows = {row.dcid: row for row in roster.enrolments}

    def section(dcid: int) -> None:
        if dcid in sections:
            specs.append(TargetSpec("section", f"{sections[dcid].school_number}:{dcid}"))

    for record in named:
        if record.resource == "student":
            specs.append(TargetSpec("person", keys.student_key(conn, record.dcid).id))
        elif record.resource == "staff":
            specs.append(TargetSpec("person", keys.staff_key(conn, record.dcid).id))
        elif record.resource == "section":
            section(record.dcid)
        elif record.resource == "section_enrollment" and record.dcid in cc_rows:
            row = cc_rows[record.dcid]
            specs.append(TargetSpec("person", keys.student_key(conn, row.student_dcid).id))
            section(row.section_dcid)
        elif record.resource == "course":
            numbers = {c.number for c in roster.courses if c.dcid == record.dcid}
            for s in roster.sections:
                if s.course_number in numbers:
                    section(s.dcid)
    return list(dict.fromkeys(specs))


@dataclass(frozen=True)
class Region:
    """What a targeted run reads of Moodle and plans against: its ``courses`` (whose
    enrolments and groups are read), its ``accounts`` (read by idnumber), and the
    ``people`` the target names (whose cohort memberships count)."""

    courses: frozenset[Key]
    groups: frozenset[Key]
    accounts: frozenset[Key]
    people: frozenset[Key]

    def inside(self, res: Resource) -> bool:
        """Whether the region holds ``res``: categories, courses and cohorts always (Moodle
        lists them whole, and a course outside the region must not look like one to
        create); memberships only of its accounts in its courses."""
        if isinstance(res, User):
            return res.key in self.accounts
        if isinstance(res, Enrolment):
            return res.course in self.courses and res.user in self.accounts
        if isinstance(res, Group):
            return res.course in self.courses
        if isinstance(res, GroupMember):
            return res.group in self.groups and res.user in self.accounts
        if isinstance(res, CohortMember):
            return res.user in self.people
        return res.key.kind in (Kind.CATEGORY, Kind.COURSE, Kind.COHORT)

    def narrow(self, state: State) -> State:
        """``state`` with only what the region holds (desired and live alike, so neither
        side shows a change the other did not look at)."""
        return State({k: r for k, r in state.resources.items() if self.inside(r)}, state.foreign, state.email_holders)


def region(desired: State, users: Iterable[Key], courses: Iterable[Key], groups: Iterable[Key]) -> Region:
    """The region of a target (its ``users``, ``courses`` and ``groups``) in ``desired``.

    Its courses are the target's, the courses of its groups and every course a targeted
    person is to be enrolled in. Its accounts are the targeted people, everyone to be
    enrolled in a targeted course and everyone to be in a targeted group: the people the
    target's changes can concern. Other people enrolled in a person's courses are left
    out: nothing of theirs is in the target.
    """
    people, named_courses, named_groups = set(users), set(courses), set(groups)
    region_courses = set(named_courses)
    for res in desired:
        if (isinstance(res, Group) and res.key in named_groups) or (isinstance(res, Enrolment) and res.user in people):
            region_courses.add(res.course)
    accounts = set(people)
    for res in desired:
        if (isinstance(res, Enrolment) and res.course in named_courses) or (
            isinstance(res, GroupMember) and res.group in named_groups
        ):
            accounts.add(res.user)
    region_groups = {r.key for r in desired if isinstance(r, Group) and r.course in region_courses}
    return Region(frozenset(region_courses), frozenset(region_groups), frozenset(accounts), frozenset(people))
