"""From the config and PowerSchool rosters to the Moodle state they imply (pure).

``build_desired`` never talks to a server. It decides which accounts, categories,
courses, groups, cohorts and memberships should exist, keyed by PowerSchool identities
(see :mod:`reconciler.keys`), and collects notices for everything a reviewer should know
that is not a change: people skipped and why, names that would collide in Moodle,
section migrations waiting for review.

An object left out because Moodle would refuse one of its values (or because a value it
needs is blank) is *kept*: the planner leaves what Moodle already holds of it, and every
membership in or of it, exactly as it is. Dropping it from the desired state alone would
read as "gone from PowerSchool", suspending the person and removing their memberships.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from reconciler import keys
from reconciler.config.model import (
    CohortRule,
    Config,
    Connection,
    CourseMode,
    CourseRule,
    PeopleSettings,
    SectionMove,
)
from reconciler.config.templates import render
from reconciler.coverage import Unmatched, unmatched_settings
from reconciler.model import (
    Category,
    Cohort,
    Course,
    Enrolment,
    Group,
    Key,
    Kind,
    Resource,
    State,
    User,
    cohort_member,
    enrolment,
    group_member,
    pairs,
)
from reconciler.moodle.values import Refusal, refusals
from reconciler.plan.model import Notice, NoticeLevel, grouped_notice
from reconciler.powerschool.roster import Roster, Section, SectionEnrolment, Staff, Student, Term
from reconciler.speed import gc_paused

#: How a notice names objects of a kind left out, and what happens to what Moodle holds of them.
_LEFT_OUT = {
    Kind.USER: (
        "[account|accounts] left out",
        "an existing account keeps its enrolments, groups and cohorts as they are",
    ),
    Kind.COURSE: ("[course|courses] left out", "an existing course keeps its enrolments and groups as they are"),
    Kind.CATEGORY: ("[category|categories] left out", "an existing category is left as it is; its courses wait for it"),
    Kind.COHORT: ("[cohort|cohorts] left out", "an existing cohort keeps its members as they are"),
    Kind.GROUP: ("[group|groups] left out", "an existing group keeps its members as they are"),
}
#: Standard profile fields that live on User itself, not in ``profile``.
_NAMED_FIELDS = ("firstname", "lastname", "email")
#: The role a student's section enrolment maps through.
STUDENT_ROLE = "student"

_Lookup = Callable[[str], str]


@dataclass(frozen=True)
class Desired:
    """The desired state plus what the planner needs beside it.

    ``moves`` maps a desired course key to the owned key its Moodle course has now (a
    reviewed section migration). ``known_users`` are keys of people PowerSchool still
    lists but who should not be active (inactive students): the live reader looks them
    up too, so leavers are found and suspended. ``school_students`` counts the active
    students each configured school returned, for the empty-school guard. ``kept`` are
    keys of objects left out because Moodle would refuse a value of theirs: what Moodle
    holds of them, and every membership in or of them, stays as it is. ``unmatched``
    lists settings that select nothing (``plan --strict`` fails on them).
    """

    state: State
    notices: tuple[Notice, ...] = ()
    moves: Mapping[Key, Key] = field(default_factory=dict)
    known_users: frozenset[Key] = frozenset()
    school_students: Mapping[tuple[str, int], int] = field(default_factory=dict)
    kept: frozenset[Key] = frozenset()
    #: Configured terms and courses PowerSchool has nothing for (also among the notices).
    unmatched: tuple[Unmatched, ...] = ()


@gc_paused
def build_desired(config: Config, rosters: Mapping[str, Roster]) -> Desired:
    """The Moodle state implied by ``config`` and one roster per connection name."""
    builder = _Builder()
    for connection in config.connections:
        _ConnectionBuilder(builder, connection, rosters[connection.name]).build()
    if not config.moodle.allow_accounts_same_email:
        builder.check_unique_emails()
    unmatched = tuple(unmatched_settings(config, rosters))
    return Desired(
        state=State(dict(builder.resources)),  # keyed already: State.of's duplicate check has nothing to find
        notices=(
            *builder.grouped_notices(),
            *builder.notices,
            *(Notice(NoticeLevel.WARNING, u.message) for u in unmatched),
        ),
        unmatched=unmatched,
        moves=dict(builder.moves),
        known_users=frozenset(builder.known_users),
        school_students=dict(builder.school_students),
        kept=frozenset(builder.kept),
    )


class _Builder:
    """Accumulates resources from every connection; the first claim on a key wins."""

    def __init__(self) -> None:
        self.resources: dict[Key, Resource] = {}
        self.notices: list[Notice] = []
        self.moves: dict[Key, Key] = {}
        self.known_users: set[Key] = set()
        self.school_students: dict[tuple[str, int], int] = {}
        self.kept: set[Key] = set()
        self._usernames: dict[str, Key] = {}
        self._shortnames: dict[str, Key] = {}
        self._skipped: dict[tuple[NoticeLevel, str], list[str]] = defaultdict(list)

    def add(self, resource: Resource) -> None:
        existing = self.resources.get(resource.key)
        if existing is None:
            self.resources[resource.key] = resource
        elif existing != resource:
            self.merge(existing, resource)

    def merge(self, existing: Resource, new: Resource) -> None:
        # Only enrolments legitimately arrive twice (a teacher of two sections of one
        # group-mode course): their roles add up.
        if isinstance(existing, Enrolment) and isinstance(new, Enrolment):
            self.resources[existing.key] = enrolment(
                existing.course, existing.user, existing.roles + new.roles, suspended=existing.suspended
            )

    def skip(self, level: NoticeLevel, reason: str, key: Key) -> None:
        """Record a person or object left out for ``reason``; reported once per reason."""
        self._skipped[(level, reason)].append(key.id)

    def keep(self, reason: str, key: Key) -> None:
        """Leave out an object whose data Moodle would refuse, keeping what Moodle holds of it."""
        self.kept.add(key)
        self.skip(NoticeLevel.WARNING, reason, key)

    def accepts(self, resource: Resource) -> bool:
        """True when Moodle would accept every value of ``resource``; otherwise it is kept
        (reported once, by field, naming only its key)."""
        if resource.key in self.kept:
            return False
        refused = refusals(resource)
        for refusal in refused:
            self.keep(_left_out(resource.key.kind, refusal), resource.key)
        return not refused

    def grouped_notices(self) -> list[Notice]:
        return [grouped_notice(level, reason, keys) for (level, reason), keys in self._skipped.items()]

    def warn(self, message: str, key: Key | None = None) -> None:
        self.notices.append(Notice(NoticeLevel.WARNING, message, key.id if key else ""))

    def info(self, message: str, key: Key | None = None) -> None:
        self.notices.append(Notice(NoticeLevel.INFO, message, key.id if key else ""))

    def claim_username(self, username: str, key: Key) -> bool:
        holder = self._usernames.setdefault(username, key)
        if holder != key:
            self.kept.add(key)
            self.warn(f"username {username!r} of {key.id} is already used by {holder.id}; account skipped", key)
            return False
        return True

    def claim_shortname(self, shortname: str, key: Key) -> bool:
        holder = self._shortnames.setdefault(shortname.casefold(), key)
        if holder != key:
            self.warn(
                f"course shortname {shortname!r} of {key.id} is already used by {holder.id}; "
                "make the shortname template unique (add {school_number} or {section_number})",
                key,
            )
            return False
        return True

    def check_unique_emails(self) -> None:
        by_email: dict[str, list[str]] = defaultdict(list)
        for res in self.resources.values():
            if isinstance(res, User) and res.email:
                by_email[res.email].append(res.key.id)
        for holders in by_email.values():
            if len(holders) > 1:
                # Keys, not usernames or the address: a redacted plan shows notices as they are.
                self.warn(
                    f"{len(holders)} accounts share one email ({', '.join(sorted(holders))}); Moodle refuses "
                    "duplicate emails unless allowaccountssameemail is on, so the plan creates or changes only one of "
                    "them (set moodle.allow_accounts_same_email if the site allows it)"
                )


def _left_out(kind: Kind, refusal: Refusal) -> str:
    what, kept = _LEFT_OUT[kind]
    return f"{what}, Moodle would refuse {refusal}; {kept}"


def _epoch(day: date) -> int:
    return int(datetime.combine(day, time(0), tzinfo=UTC).timestamp())


class _ConnectionBuilder:
    """Builds the part of the desired state that one connection contributes."""

    def __init__(self, out: _Builder, connection: Connection, roster: Roster) -> None:
        self.out = out
        self.conn = connection
        self.roster = roster
        self.roles = connection.role_map
        self.students: dict[int, Key] = {}
        self.staff: dict[int, Key] = {}
        self._unmapped_roles: set[str] = set()
        #: The cohort of each rule and value, made once: tens of thousands of students share a few dozen.
        self._cohorts: dict[tuple[CohortRule, str], Key | None] = {}
        self.course_of_section = self.section_course_index()
        self.enrolments_by_course: dict[Key, list[SectionEnrolment]] = defaultdict(list)
        for e in roster.enrolments:
            course = self.course_of_section.get(e.section_dcid)
            if course is not None:
                self.enrolments_by_course[course].append(e)

    def build(self) -> None:
        self.build_students()
        self.build_staff()
        self.build_courses()

    # People -------------------------------------------------------------------

    def build_students(self) -> None:
        settings = self.conn.students
        counts: dict[int, int] = dict.fromkeys(self.conn.schools, 0)
        for student in sorted(self.roster.students, key=lambda s: s.dcid):
            key = keys.student_key(self.conn.name, student.dcid)
            if student.school_number not in counts:
                continue
            if student.enroll_status not in settings.enroll_statuses:
                self.out.known_users.add(key)
                continue
            counts[student.school_number] += 1
            values = self.student_values(student)
            user = self.make_user(key, settings, values, custom=student.custom_value)
            if user is None:
                continue
            self.students[student.dcid] = key
            self.out.add(user)
            self.add_cohorts(key, values, user)
        for school, n in counts.items():
            self.out.school_students[(self.conn.name, school)] = n

    def build_staff(self) -> None:
        for person in sorted(self.roster.staff, key=lambda s: s.users_dcid):
            key = keys.staff_key(self.conn.name, person.users_dcid)
            if not person.active:
                self.out.known_users.add(key)
                continue
            user = self.make_user(key, self.conn.staff, self.staff_values(person), custom=person.custom_value)
            if user is not None:
                self.staff[person.users_dcid] = key
                self.out.add(user)

    def student_values(self, s: Student) -> dict[str, object]:
        school = self.roster.school_by_number.get(s.school_number)
        return {
            "username": s.username,
            "student_number": s.student_number,
            "first_name": s.first_name,
            "middle_name": s.middle_name,
            "last_name": s.last_name,
            "email": s.email,
            "grade_level": s.grade_level,
            "school_number": s.school_number,
            "school_name": school.name if school else "",
            "dcid": s.dcid,
        }

    def staff_values(self, s: Staff) -> dict[str, object]:
        return {
            "username": s.username,
            "teacher_number": s.teacher_number,
            "first_name": s.first_name,
            "middle_name": s.middle_name,
            "last_name": s.last_name,
            "email": s.email,
            "dcid": s.users_dcid,
        }

    def make_user(
        self, key: Key, settings: PeopleSettings, values: Mapping[str, object], *, custom: _Lookup
    ) -> User | None:
        raw_name = render(settings.username, values).strip()
        if not raw_name:
            self.out.skip(
                NoticeLevel.INFO,
                "[person has|people have] no PowerSchool login, so no Moodle account (seed behaviour)",
                key,
            )
            return None
        username = (self.conn.username_prefix + raw_name).lower()
        rendered = {name: " ".join(render(tpl, values).split()) for name, tpl in settings.fields}
        email = rendered.get("email", "").lower()
        if not email and settings.email_fallback:
            email = render(settings.email_fallback, values).strip().lower()
        if not email:
            self.out.keep(
                "[person has|people have] no email and no email_fallback is configured; [account|accounts] skipped", key
            )
            return None
        firstname, lastname = rendered.get("firstname", ""), rendered.get("lastname", "")
        if not firstname or not lastname:
            self.out.keep("[person has|people have] a blank first or last name; [account|accounts] skipped", key)
            return None
        user = User(
            key,
            username=username,
            firstname=firstname,
            lastname=lastname,
            email=email,
            auth=settings.auth,
            profile=pairs({k: v for k, v in rendered.items() if k not in _NAMED_FIELDS}),
            customfields=pairs({cf.moodle: custom(cf.source).strip() for cf in settings.custom_fields}),
        )
        if not self.out.accepts(user) or not self.out.claim_username(username, key):
            return None
        return user

    def add_cohorts(self, user_key: Key, values: Mapping[str, object], user: User) -> None:
        customs = dict(user.customfields)
        for rule in self.conn.students.cohorts:
            value = str(customs[rule.field] if rule.field in customs else values.get(rule.field, "")).strip()
            if not value:
                continue
            if (rule, value) not in self._cohorts:
                self._cohorts[rule, value] = self.add_cohort(rule, value)
            key = self._cohorts[rule, value]
            if key is not None:
                self.out.add(cohort_member(key, user_key))

    def add_cohort(self, rule: CohortRule, value: str) -> Key | None:
        """The key of the cohort of ``rule`` and ``value``, or None when Moodle would refuse it."""
        cohort = Cohort(
            keys.cohort_key(self.conn.name, rule.field, value),
            name=render(rule.name, {"field": rule.field, "value": value}),
        )
        if not self.out.accepts(cohort):
            return None
        self.out.add(cohort)
        return cohort.key

    # Courses ------------------------------------------------------------------

    def build_courses(self) -> None:
        moves = self.reviewed_moves()
        group_courses: dict[Key, list[tuple[Section, Term]]] = defaultdict(list)
        for section in sorted(self.roster.sections, key=lambda s: s.dcid):
            selected = self.select(section)
            if selected is None:
                continue
            rule, term = selected
            if rule.mode is CourseMode.GROUP:
                key = keys.group_course_key(
                    self.conn.name, section.school_number, section.course_number, term.start_year
                )
                group_courses[key].append((section, term))
                continue
            if self.migrated_away(section, moves):
                continue
            self.add_section_course(section, term, rule)
        for key, members in group_courses.items():
            self.add_group_course(key, members)

    def select(self, section: Section) -> tuple[CourseRule, Term] | None:
        if section.school_number not in self.conn.schools:
            return None
        settings = self.conn.settings_for(section.school_number)
        rule = settings.rule_for(section.course_number)
        term = self.roster.term_by_dcid.get(section.term_dcid)
        if rule is None or term is None or term.abbreviation not in settings.terms:
            return None
        return rule, term

    def course_values(self, section: Section | None, course_number: str, term: Term) -> dict[str, object]:
        course = self.roster.course_by_number.get(course_number)
        school = self.roster.school_by_number.get(term.school_number)
        teachers = []
        if section is not None:
            teachers = [
                self.roster.staff_by_dcid[t.users_dcid].last_name
                for t in section.teachers
                if t.role == "lead" and t.users_dcid in self.roster.staff_by_dcid
            ]
        return {
            "course_name": course.name if course else course_number,
            "course_number": course_number,
            "course_number_prefix": self.conn.course_number_prefix,
            "section_number": section.section_number if section else "",
            "term_name": term.name,
            "term_abbreviation": term.abbreviation,
            "year": term.start_year,
            "year_name": f"{term.start_year}-{term.start_year + 1}",
            "school_number": term.school_number,
            "school_name": school.name if school else "",
            "teachers": ", ".join(teachers),
            "expression": section.expression if section else "",
        }

    def category_for(self, school_number: int, rule: CourseRule) -> Key:
        settings = self.conn.settings_for(school_number)
        school = self.roster.school_by_number.get(school_number)
        path_text = rule.category or settings.category or (school.name if school else f"School {school_number}")
        path = tuple(part.strip() for part in path_text.split("/") if part.strip())
        parent: Key | None = None
        for depth in range(1, len(path) + 1):
            category = Category(keys.category_key(path[:depth]), name=path[depth - 1], parent=parent)
            if self.out.accepts(category):
                self.out.add(category)
            parent = category.key
        assert parent is not None
        return parent

    def add_course(self, key: Key, shortname: str, fullname: str, category: Key, start: date, end: date) -> bool:
        course = Course(
            key, shortname=shortname, fullname=fullname, category=category, startdate=_epoch(start), enddate=_epoch(end)
        )
        if not self.out.accepts(course) or not self.out.claim_shortname(shortname, key):
            return False
        self.out.add(course)
        return True

    def add_section_course(self, section: Section, term: Term, rule: CourseRule) -> None:
        key = keys.section_course_key(self.conn.name, section.school_number, section.dcid)
        values = self.course_values(section, section.course_number, term)
        shortname = render(self.conn.course_shortname_template, values)
        fullname = render(self.conn.course_name_template, values)
        category = self.category_for(section.school_number, rule)
        if self.add_course(key, shortname, fullname, category, term.first_day, term.last_day):
            self.add_members(key, None, [section])

    def add_group_course(self, key: Key, members: list[tuple[Section, Term]]) -> None:
        first_section, _ = members[0]
        year_terms = [t for t in self.roster.terms if t.school_number == first_section.school_number and t.is_year]
        terms = [t for _, t in members]
        year = next((t for t in year_terms if t.year_id == terms[0].year_id), terms[0])
        values = self.course_values(None, first_section.course_number, year)
        rule = self.conn.settings_for(first_section.school_number).rule_for(first_section.course_number)
        assert rule is not None
        category = self.category_for(first_section.school_number, rule)
        start = min(t.first_day for t in terms)
        end = max(t.last_day for t in terms)
        shortname = render(self.conn.group_course_shortname_template, values)
        fullname = render(self.conn.group_course_name_template, values)
        if not self.add_course(key, shortname, fullname, category, start, end):
            return
        groups: dict[int, Key] = {}
        for section, term in members:
            group_values = self.course_values(section, section.course_number, term)
            group = Group(
                keys.group_key(self.conn.name, section.school_number, section.dcid),
                course=key,
                name=render(self.conn.course_name_template, group_values),
            )
            if self.out.accepts(group):
                self.out.add(group)
                groups[section.dcid] = group.key
        self.add_members(key, groups, [s for s, _ in members])

    def add_members(self, course: Key, groups: Mapping[int, Key] | None, sections: Iterable[Section]) -> None:
        """Enrol each section's teachers and students in ``course`` (and its groups)."""
        by_section = {s.dcid: s for s in sections}
        for section in by_section.values():
            group = groups.get(section.dcid) if groups is not None else None
            for teacher in section.teachers:
                user = self.staff.get(teacher.users_dcid)
                role = self.moodle_role(teacher.role)
                if user is None or role is None:
                    continue
                self.out.add(enrolment(course, user, [role]))
                if group is not None:
                    self.out.add(group_member(group, user))
        student_role = self.moodle_role(STUDENT_ROLE)
        if student_role is None:
            return
        for enrol in self.enrolments_by_course.get(course, ()):
            if enrol.section_dcid not in by_section or enrol.dropped:
                continue
            user = self.students.get(enrol.student_dcid)
            if user is None:
                continue
            self.out.add(enrolment(course, user, [student_role]))
            group = groups.get(enrol.section_dcid) if groups is not None else None
            if group is not None:
                self.out.add(group_member(group, user))

    def section_course_index(self) -> dict[int, Key]:
        out: dict[int, Key] = {}
        for section in self.roster.sections:
            selected = self.select(section)
            if selected is None:
                continue
            rule, term = selected
            if rule.mode is CourseMode.GROUP:
                out[section.dcid] = keys.group_course_key(
                    self.conn.name, section.school_number, section.course_number, term.start_year
                )
            else:
                out[section.dcid] = keys.section_course_key(self.conn.name, section.school_number, section.dcid)
        return out

    def moodle_role(self, ps_role: str) -> str | None:
        role = self.roles.get(ps_role)
        if role is None and ps_role not in self._unmapped_roles:
            self._unmapped_roles.add(ps_role)
            self.out.info(
                f"PowerSchool role {ps_role!r} has no entry in roles of connection {self.conn.name}; not enrolled"
            )
        return role

    # Section migration ----------------------------------------------------------

    def reviewed_moves(self) -> dict[tuple[int, str, str], SectionMove]:
        migration = self.conn.section_migration
        if migration is None:
            return {}
        return {(m.school, m.from_course, m.from_section): m for m in migration.moves}

    def migrated_away(self, section: Section, moves: Mapping[tuple[int, str, str], SectionMove]) -> bool:
        """True when this section's Moodle course has moved on to another section.

        The extension field proposes ``new_course_id`` or ``new_course_id.new_section_number``;
        only a move also listed in the config (reviewed) is planned.
        """
        migration = self.conn.section_migration
        if migration is None:
            return False
        proposal = section.extension_value(migration.field).strip()
        if not proposal:
            return False
        to_course, _, to_section = proposal.partition(".")
        to_section = to_section or section.section_number
        old_key = keys.section_course_key(self.conn.name, section.school_number, section.dcid)
        move = moves.get((section.school_number, section.course_number, section.section_number))
        if move is None or (move.to_course, move.to_section) != (to_course, to_section):
            self.out.warn(
                f"section {section.course_number}.{section.section_number} at school {section.school_number} asks to "
                f"migrate to {to_course}.{to_section} ({migration.field}); list it under section_migration.moves "
                "to plan it",
                old_key,
            )
            return False
        target = next(
            (
                s
                for s in self.roster.sections
                if s.school_number == section.school_number
                and s.term_dcid == section.term_dcid
                and s.course_number == to_course
                and s.section_number == to_section
            ),
            None,
        )
        if target is None:
            self.out.warn(
                f"reviewed move of {old_key.id} names {to_course}.{to_section}, which PowerSchool does not have"
            )
            return False
        self.out.moves[keys.section_course_key(self.conn.name, target.school_number, target.dcid)] = old_key
        return True
