"""What "Moodle equals the desired state" means, judged from the site's own tables.

:func:`site_state` reads every owned object straight from the emulated site (not through
the tool's live reader) in the shape of the managed attributes of
:class:`reconciler.model.Resource`; :func:`mismatches` lists every way it differs from a
desired :class:`~reconciler.model.State`, allowing only what the removal policy leaves
behind on purpose (suspended leavers and enrolments, objects no longer selected).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields as dataclass_fields
from datetime import date
from typing import Any

from hypothesis import strategies as st

from ps2moodle_testkit.emulators.changes import add_teacher, move_student, withdraw_student
from ps2moodle_testkit.emulators.district import District
from ps2moodle_testkit.emulators.moodle.model import CONTEXT_COURSE, ENROL_USER_ACTIVE
from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from reconciler.model import Course, Kind, State, User

from .site_view import owned

#: Kinds whose owned objects are left as they are once no longer selected.
_LEFT_ALONE = {"category", "course", "cohort", "group"}


def site_state(site: MoodleSite) -> dict[tuple[str, str], dict[str, Any]]:
    """Every owned object in the site, keyed like :class:`reconciler.model.Key` (kind, id)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    fields = {f.id: f.shortname for f in site.profile_fields.by_id()}
    users: dict[int, str] = {}
    for u in site.users.by_id():
        if u.deleted or not owned(u.idnumber):
            continue
        users[u.id] = u.idnumber
        custom = {fields[d.fieldid]: d.data for d in site.profile_data.find("user", u.id)}
        standard = {f.name: getattr(u, f.name) for f in dataclass_fields(u) if isinstance(getattr(u, f.name), str)}
        out[("user", u.idnumber)] = {
            "username": u.username,
            "firstname": u.firstname,
            "lastname": u.lastname,
            "email": u.email,
            "suspended": u.suspended,
            "profile": standard,
            "customfields": custom,
        }
    categories = {c.id: c.idnumber or f"#{c.id}" for c in site.categories.by_id()}
    for c in site.categories.by_id():
        if owned(c.idnumber):
            parent = categories[c.parent] if c.parent else None
            out[("category", str(c.idnumber))] = {"name": c.name, "parent": parent}
    courses: dict[int, str] = {}
    role_names = {r.id: r.shortname for r in site.roles.by_id()}
    for c in site.courses.by_id():
        if not owned(c.idnumber):
            continue
        courses[c.id] = c.idnumber
        out[("course", c.idnumber)] = {
            "shortname": c.shortname,
            "fullname": c.fullname,
            "category": categories[c.category],
            "startdate": c.startdate,
            "enddate": c.enddate,
        }
        context = site.context_of(CONTEXT_COURSE, c.id)
        assert context is not None
        for instance in site.enrol_instances.find("course", c.id):
            if instance.enrol != "manual":
                continue
            for row in site.user_enrolments.find("instance", instance.id):
                if row.userid not in users:
                    continue
                held = site.role_assignments.find("context_user", (context.id, row.userid))
                out[("enrolment", f"{c.idnumber}|{users[row.userid]}")] = {
                    "course": c.idnumber,
                    "user": users[row.userid],
                    "roles": sorted({role_names[a.roleid] for a in held}),
                    "suspended": row.status != ENROL_USER_ACTIVE,
                }
    for g in site.groups.by_id():
        if not owned(g.idnumber) or g.courseid not in courses:
            continue
        out[("group", g.idnumber)] = {"course": courses[g.courseid], "name": g.name}
        for m in site.group_members.find("group", g.id):
            if m.userid in users:
                key = f"{g.idnumber}|{users[m.userid]}"
                out[("group_member", key)] = {"group": g.idnumber, "user": users[m.userid]}
    for h in site.cohorts.by_id():
        if not owned(h.idnumber):
            continue
        out[("cohort", h.idnumber)] = {"name": h.name}
        for m in site.cohort_members.find("cohort", h.id):
            if m.userid in users:
                key = f"{h.idnumber}|{users[m.userid]}"
                out[("cohort_member", key)] = {"cohort": h.idnumber, "user": users[m.userid]}
    return out


def same(field: str, value: Any) -> Any:
    """A value as Moodle keeps it: text trimmed with inner whitespace folded (Moodle trims
    names; a template with an empty placeholder leaves doubled spaces), usernames and
    e-mail addresses in any case."""
    if isinstance(value, dict):
        return {k: same(k, v) for k, v in value.items()}
    if isinstance(value, str):
        text = " ".join(value.split())
        return text.lower() if field in ("username", "email") else text
    return value


def held_names(site: MoodleSite, desired: State) -> set[str]:
    """Keys of desired accounts and courses whose username or shortname another object
    holds in Moodle (one the tool does not own, or another of its own): Moodle refuses a
    name twice, so the tool may not take it, and must say so in the plan."""
    usernames = {u.username: u.idnumber for u in site.users.by_id() if not u.deleted}
    shortnames = {c.shortname.casefold(): c.idnumber for c in site.courses.by_id()}
    out = set()
    for r in desired:
        if isinstance(r, User) and usernames.get(r.username, r.key.id) != r.key.id:
            out.add(r.key.id)
        if isinstance(r, Course) and shortnames.get(r.shortname.casefold(), r.key.id) != r.key.id:
            out.add(r.key.id)
    return out


def mismatches(site: MoodleSite, desired: State, held: Iterable[str] = ()) -> list[str]:
    """How the site differs from ``desired``; empty when Moodle holds exactly it (plus what
    the removal policy leaves: suspended leavers and enrolments, unselected objects).
    ``held`` are keys whose unique name someone else holds: their name is not compared, and
    when they could not be created at all, neither they nor what hangs on them are expected."""
    have = site_state(site)
    problems: list[str] = []
    wanted: set[tuple[str, str]] = set()
    blocked = set(held)
    absent = {k for k in blocked if not any(ident == k for _, ident in have)}
    for resource in desired:
        key = (resource.key.kind.value, resource.key.id)
        wanted.add(key)
        if resource.key.id in absent or any(ref.id in absent for ref in resource.references()):
            continue  # not created: someone else has its name (and so nothing of it exists)
        want = resource.managed()
        if resource.key.id in blocked:
            want = {k: v for k, v in want.items() if k not in ("username", "shortname")}
        got = have.get(key)
        if got is None:
            problems.append(f"missing {key}")
            continue
        for name, value in want.items():
            held = got.get(name)
            if isinstance(value, dict):
                held = {k: (held or {}).get(k, "") for k in value}
            if same(name, held) != same(name, value):
                problems.append(f"{key} {name}: Moodle has {held!r}, PowerSchool says {value!r}")
    for key, got in have.items():
        if key in wanted:
            continue
        kind = key[0]
        if kind in _LEFT_ALONE:
            continue
        if kind == "user" and got["suspended"]:
            continue
        if kind == "enrolment" and (got["suspended"] or not got["roles"] or ("course", got["course"]) not in wanted):
            continue  # suspended, or without a role (no access either way), or in a course left alone
        parent = "group" if kind == "group_member" else "cohort"
        if kind in ("group_member", "cohort_member") and (parent, got[parent]) not in wanted:
            continue
        problems.append(f"unexpected {key}: {got}")
    return problems


def kinds_present(site: MoodleSite) -> set[str]:
    return {kind for kind, _ in site_state(site)}


# PowerSchool moving on: random everyday changes of a generated district --------------------------

#: One change: what, and positions choosing its targets.
DistrictChange = tuple[str, int, int, int]


def district_changes(min_size: int = 0, max_size: int = 6) -> st.SearchStrategy[list[DistrictChange]]:
    change = st.tuples(
        st.sampled_from(["move", "teacher", "withdraw"]),
        st.integers(0, 10_000),
        st.integers(0, 10_000),
        st.integers(0, 10_000),
    )
    return st.lists(change, min_size=min_size, max_size=max_size)


def change_district(district: District, change: DistrictChange) -> District:
    """Apply one drawn change (a no-op when the district offers no target for it)."""
    what, a, b, c = change
    current = [s for s in district.sections if s.term_id // 100 == district.year_id]
    if what == "move":
        rows = [r for r in district.enrolments if r.section_id > 0 and district.section_by_id[r.section_id] in current]
        if not rows:
            return district
        row = rows[a % len(rows)]
        here = district.section_by_id[row.section_id]
        taken = {r.section_id for r in district.enrolments if r.student_id == row.student_id and r.section_id > 0}
        targets = [s for s in current if s.school_number == here.school_number and s.id not in taken]
        if not targets:
            return district
        target = targets[b % len(targets)]
        return move_student(district, row.student_id, here.id, target.id, _day(district, target.term_id, here))
    if what == "teacher":
        sec = current[a % len(current)]
        teaching = {t.teacher_id for t in district.section_teachers if t.section_id == sec.id} | {sec.teacher}
        staff = [
            s
            for s in district.school_staff
            if s.school_number == sec.school_number and s.status == 1 and s.id not in teaching
        ]
        if not staff:
            return district
        role = district.roles[c % len(district.roles)].name
        return add_teacher(district, sec.id, staff[b % len(staff)].id, role, _day(district, sec.term_id, sec))
    active = [s for s in district.students if s.enroll_status == 0]
    if not active:
        return district
    return withdraw_student(district, active[a % len(active)].id, date(district.start_year, 10, 1))


def _day(district: District, term_id: int, sec: Any) -> date:
    term = district.term(sec.school_number, term_id)
    return min(term.first_day.replace(day=20), term.last_day)


def owned_kinds(state: State) -> Iterable[Kind]:
    return {r.key.kind for r in state}
