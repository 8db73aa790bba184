"""People editing Moodle by hand, through its web services: the random starting states of
the property tests.

An :class:`Edit` is one thing an admin or a teacher might do: make an account, a category,
a course or a cohort of their own (none of them the tool's), enrol someone of their own
in any course, put them in a group or a cohort, or change what the tool made (rename,
suspend, unenrol, move, delete). Edits name their targets by position, so hypothesis can
draw and shrink them before the site exists; :func:`meddle` applies them to whatever the
site then holds. Every write goes through the emulator's web services, as a person's
would through Moodle's forms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from ps2moodle_testkit.emulators.moodle.site import MoodleSite
from reconciler.moodle.client import MoodleClient

from .site_view import owned

#: Idnumbers a person might give their own objects: none of them proves the tool's ownership.
FOREIGN_IDNUMBERS = ("", "SIS-{n}", "PS2M:{n}", "ps2m{n}", "ps2m-{n}", " ps2m:{n}")
ROLES = {"student": 5, "teacher": 4, "editingteacher": 3}


@dataclass(frozen=True)
class Edit:
    """One hand edit: ``what`` it is and positions ``a``/``b`` choosing its targets."""

    what: str
    a: int = 0
    b: int = 0
    variant: int = 0


#: Edits that make objects of someone else's.
UNOWNED = (
    "own_user",
    "own_category",
    "own_course",
    "own_cohort",
    "enrol_own_user",
    "own_user_in_group",
    "own_user_in_cohort",
    "owned_user_in_own_course",
    "squat_username",
    "squat_shortname",
)
#: Edits of the tool's own objects.
OWNED = (
    "rename_user",
    "suspend_user",
    "change_email",
    "clear_custom_field",
    "rename_course",
    "move_course",
    "delete_course",
    "suspend_enrolment",
    "unenrol",
    "drop_role",
    "remove_group_member",
    "remove_cohort_member",
    "rename_cohort",
    "rename_category",
    "delete_user",
    "rename_username",
    "change_shortname",
    "clear_user_idnumber",
    "clear_course_idnumber",
    "delete_group",
    "delete_cohort",
    "delete_category",
)


def edits(
    kinds: tuple[str, ...] = UNOWNED + OWNED, min_size: int = 0, max_size: int = 12
) -> st.SearchStrategy[list[Edit]]:
    edit = st.builds(
        Edit,
        st.sampled_from(kinds),
        st.integers(0, 10_000),
        st.integers(0, 10_000),
        st.integers(0, len(FOREIGN_IDNUMBERS) - 1),
    )
    return st.lists(edit, min_size=min_size, max_size=max_size)


class Meddler:
    """Applies :class:`Edit` values to a site through its web services."""

    def __init__(
        self, site: MoodleSite, client: MoodleClient, usernames: Sequence[str] = (), shortnames: Sequence[str] = ()
    ) -> None:
        self.site = site
        self.client = client
        #: Names the tool wants (from a plan): what a squatter takes first.
        self.usernames = usernames
        self.shortnames = shortnames
        self.made = 0
        self.missed = False

    def call(self, function: str, params: dict[str, Any]) -> Any:
        return self.client.call(function, params)

    # What is there now, in a stable order -------------------------------------------

    def users(self, *, ours: bool) -> list[Any]:
        return [u for u in self.site.users.by_id() if u.id > 2 and not u.deleted and owned(u.idnumber) == ours]

    def courses(self, *, ours: bool | None = None) -> list[Any]:
        return [c for c in self.site.courses.by_id() if c.id != 1 and (ours is None or owned(c.idnumber) == ours)]

    def categories(self, *, ours: bool | None = None) -> list[Any]:
        return [c for c in self.site.categories.by_id() if ours is None or owned(c.idnumber) == ours]

    def cohorts(self, *, ours: bool | None = None) -> list[Any]:
        return [c for c in self.site.cohorts.by_id() if ours is None or owned(c.idnumber) == ours]

    def groups(self) -> list[Any]:
        return [g for g in self.site.groups.by_id() if owned(g.idnumber)]

    def enrolments(self, *, ours: bool) -> list[tuple[int, int]]:
        """(course id, user id) of manual enrolments of owned (or unowned) users in owned courses."""
        users = {u.id for u in self.users(ours=ours)}
        out = []
        for course in self.courses(ours=True):
            for instance in self.site.enrol_instances.find("course", course.id):
                if instance.enrol != "manual":
                    continue
                out += [(course.id, e.userid) for e in self.site.user_enrolments.find("instance", instance.id)]
        return [(c, u) for c, u in out if u in users]

    def pick(self, items: list[Any], n: int) -> Any:
        if not items:
            self.missed = True
            return None
        return items[n % len(items)]

    # Applying edits ----------------------------------------------------------------------

    def apply(self, edit: Edit) -> bool:
        """Make the edit; False when the site had nothing it could apply to."""
        self.missed = False
        getattr(self, edit.what)(edit)
        return not self.missed

    def idnumber(self, edit: Edit) -> str:
        return FOREIGN_IDNUMBERS[edit.variant].format(n=self.made)

    def own_user(self, edit: Edit) -> None:
        self.made += 1
        n = self.made
        self.call(
            "core_user_create_users",
            {
                "users": [
                    {
                        "username": f"helper{n}",
                        "firstname": "Helper",
                        "lastname": f"Number {n}",
                        "email": f"helper{n}@volunteers.example.net",
                        "idnumber": self.idnumber(edit),
                        "password": "Helper-pass-1",
                        "institution": "Volunteers",
                    }
                ]
            },
        )

    def own_category(self, edit: Edit) -> None:
        self.made += 1
        parent = self.pick(self.categories(), edit.a)
        self.call(
            "core_course_create_categories",
            {
                "categories": [
                    {
                        "name": f"Hand made {self.made}",
                        "parent": parent.id if parent is not None and edit.b % 2 else 0,
                        "idnumber": self.idnumber(edit),
                    }
                ]
            },
        )

    def own_course(self, edit: Edit) -> None:
        self.made += 1
        category = self.pick(self.categories(), edit.a)
        self.call(
            "core_course_create_courses",
            {
                "courses": [
                    {
                        "fullname": f"Teacher's sandbox {self.made}",
                        "shortname": f"SANDBOX-{self.made}",
                        "categoryid": category.id if category is not None else 1,
                        "idnumber": self.idnumber(edit),
                    }
                ]
            },
        )

    def own_cohort(self, edit: Edit) -> None:
        self.made += 1
        self.call(
            "core_cohort_create_cohorts",
            {
                "cohorts": [
                    {
                        "categorytype": {"type": "system", "value": ""},
                        "name": f"Book club {self.made}",
                        "idnumber": self.idnumber(edit) or f"club-{self.made}",
                    }
                ]
            },
        )

    def _enrol(self, course_id: int, user_id: int, role: str, *, suspend: bool = False) -> None:
        self.call(
            "enrol_manual_enrol_users",
            {
                "enrolments": [
                    {"roleid": ROLES[role], "userid": user_id, "courseid": course_id, "suspend": int(suspend)}
                ]
            },
        )

    def enrol_own_user(self, edit: Edit) -> None:
        user, course = self.pick(self.users(ours=False), edit.a), self.pick(self.courses(), edit.b)
        if user is not None and course is not None:
            self._enrol(course.id, user.id, list(ROLES)[edit.variant % 3], suspend=edit.variant == 5)

    def own_user_in_group(self, edit: Edit) -> None:
        user, group = self.pick(self.users(ours=False), edit.a), self.pick(self.groups(), edit.b)
        if user is None or group is None:
            return
        self._enrol(group.courseid, user.id, "teacher")
        self.call("core_group_add_group_members", {"members": [{"groupid": group.id, "userid": user.id}]})

    def own_user_in_cohort(self, edit: Edit) -> None:
        user, cohort = self.pick(self.users(ours=False), edit.a), self.pick(self.cohorts(), edit.b)
        if user is not None and cohort is not None:
            self.call(
                "core_cohort_add_cohort_members",
                {
                    "members": [
                        {"cohorttype": {"type": "id", "value": cohort.id}, "usertype": {"type": "id", "value": user.id}}
                    ]
                },
            )

    def owned_user_in_own_course(self, edit: Edit) -> None:
        user, course = self.pick(self.users(ours=True), edit.a), self.pick(self.courses(ours=False), edit.b)
        if user is not None and course is not None:
            self._enrol(course.id, user.id, "student")

    def _update_user(self, edit: Edit, **fields: Any) -> None:
        user = self.pick(self.users(ours=True), edit.a)
        if user is not None:
            self.call("core_user_update_users", {"users": [{"id": user.id, **fields}]})

    def rename_user(self, edit: Edit) -> None:
        self._update_user(edit, firstname="Renamed", department="Changed by hand")

    def suspend_user(self, edit: Edit) -> None:
        self._update_user(edit, suspended=1)

    def change_email(self, edit: Edit) -> None:
        self._update_user(edit, email=f"changed{edit.b}@elsewhere.example.net")

    def clear_custom_field(self, edit: Edit) -> None:
        fields = self.site.profile_fields.by_id()
        if fields:
            shortname = self.pick(fields, edit.b).shortname
            self._update_user(edit, customfields=[{"type": shortname, "value": f"hand {edit.b}"}])

    def rename_course(self, edit: Edit) -> None:
        course = self.pick(self.courses(ours=True), edit.a)
        if course is not None:
            self.call("core_course_update_courses", {"courses": [{"id": course.id, "fullname": "Renamed by hand"}]})

    def move_course(self, edit: Edit) -> None:
        course, category = self.pick(self.courses(ours=True), edit.a), self.pick(self.categories(), edit.b)
        if course is not None and category is not None:
            self.call("core_course_update_courses", {"courses": [{"id": course.id, "categoryid": category.id}]})

    def delete_course(self, edit: Edit) -> None:
        course = self.pick(self.courses(ours=True), edit.a)
        if course is not None:
            self.call("core_course_delete_courses", {"courseids": [course.id]})

    def delete_user(self, edit: Edit) -> None:
        user = self.pick(self.users(ours=True), edit.a)
        if user is not None:
            self.call("core_user_delete_users", {"userids": [user.id]})

    def suspend_enrolment(self, edit: Edit) -> None:
        pair = self.pick(self.enrolments(ours=True), edit.a)
        if pair is not None:
            course, user = pair
            role = self._roles(course, user) or ["student"]
            self._enrol(course, user, role[0], suspend=True)

    def unenrol(self, edit: Edit) -> None:
        pair = self.pick(self.enrolments(ours=True), edit.a)
        if pair is not None:
            course, user = pair
            self.call("enrol_manual_unenrol_users", {"enrolments": [{"userid": user, "courseid": course}]})

    def drop_role(self, edit: Edit) -> None:
        pair = self.pick(self.enrolments(ours=True), edit.a)
        if pair is None:
            return
        course, user = pair
        context = self.site.course_context(course)
        assert context is not None
        for role in self._roles(course, user):
            self.call(
                "core_role_unassign_roles",
                {"unassignments": [{"roleid": ROLES[role], "userid": user, "contextid": context.id}]},
            )

    def _roles(self, course: int, user: int) -> list[str]:
        context = self.site.course_context(course)
        assert context is not None
        names = {v: k for k, v in ROLES.items()}
        held = self.site.role_assignments.find("context_user", (context.id, user))
        return sorted(names[a.roleid] for a in held if a.roleid in names)

    def remove_group_member(self, edit: Edit) -> None:
        members = [m for g in self.groups() for m in self.site.group_members.find("group", g.id)]
        member = self.pick(members, edit.a)
        if member is not None:
            self.call(
                "core_group_delete_group_members", {"members": [{"groupid": member.groupid, "userid": member.userid}]}
            )

    def remove_cohort_member(self, edit: Edit) -> None:
        members = [m for c in self.cohorts(ours=True) for m in self.site.cohort_members.find("cohort", c.id)]
        member = self.pick(members, edit.a)
        if member is not None:
            self.call(
                "core_cohort_delete_cohort_members",
                {"members": [{"cohortid": member.cohortid, "userid": member.userid}]},
            )

    def rename_cohort(self, edit: Edit) -> None:
        cohort = self.pick(self.cohorts(ours=True), edit.a)
        if cohort is not None:
            self.call(
                "core_cohort_update_cohorts",
                {
                    "cohorts": [
                        {
                            "id": cohort.id,
                            "categorytype": {"type": "system", "value": ""},
                            "name": "Renamed by hand",
                            "idnumber": cohort.idnumber,
                        }
                    ]
                },
            )

    def rename_category(self, edit: Edit) -> None:
        category = self.pick(self.categories(ours=True), edit.a)
        if category is not None:
            self.call("core_course_update_categories", {"categories": [{"id": category.id, "name": "Renamed by hand"}]})

    # Taking names the tool wants, and breaking ownership --------------------------------

    def squat_username(self, edit: Edit) -> None:
        taken = {u.username for u in self.site.users.by_id()}
        free = [name for name in self.usernames if name not in taken]
        name = self.pick(free, edit.a)
        if name is not None:
            self.made += 1
            self.call(
                "core_user_create_users",
                {
                    "users": [
                        {
                            "username": name,
                            "firstname": "Made",
                            "lastname": "Early",
                            "email": f"early{self.made}@office.example.net",
                            "idnumber": self.idnumber(edit),
                            "password": "Early-pass-1",
                        }
                    ]
                },
            )

    def squat_shortname(self, edit: Edit) -> None:
        taken = {c.shortname for c in self.site.courses.by_id()}
        name = self.pick([n for n in self.shortnames if n not in taken], edit.a)
        category = self.pick(self.categories(), edit.b)
        if name is not None and category is not None:
            self.made += 1
            self.call(
                "core_course_create_courses",
                {
                    "courses": [
                        {
                            "fullname": "Made by hand before the sync",
                            "shortname": name,
                            "categoryid": category.id,
                            "idnumber": self.idnumber(edit),
                        }
                    ]
                },
            )

    def rename_username(self, edit: Edit) -> None:
        self._update_user(edit, username=f"renamed{edit.b}")

    def change_shortname(self, edit: Edit) -> None:
        course = self.pick(self.courses(ours=True), edit.a)
        if course is not None:
            self.call("core_course_update_courses", {"courses": [{"id": course.id, "shortname": f"HAND-{edit.b}"}]})

    def clear_user_idnumber(self, edit: Edit) -> None:
        self._update_user(edit, idnumber="")

    def clear_course_idnumber(self, edit: Edit) -> None:
        course = self.pick(self.courses(ours=True), edit.a)
        if course is not None:
            self.call("core_course_update_courses", {"courses": [{"id": course.id, "idnumber": ""}]})

    def delete_group(self, edit: Edit) -> None:
        group = self.pick(self.groups(), edit.a)
        if group is not None:
            self.call("core_group_delete_groups", {"groupids": [group.id]})

    def delete_cohort(self, edit: Edit) -> None:
        cohort = self.pick(self.cohorts(ours=True), edit.a)
        if cohort is not None:
            self.call("core_cohort_delete_cohorts", {"cohortids": [cohort.id]})

    def delete_category(self, edit: Edit) -> None:
        category = self.pick(self.categories(ours=True), edit.a)
        if category is not None:
            self.call("core_course_delete_categories", {"categories": [{"id": category.id, "recursive": 1}]})


def meddle(
    site: MoodleSite,
    client: MoodleClient,
    changes: list[Edit],
    *,
    usernames: Sequence[str] = (),
    shortnames: Sequence[str] = (),
) -> list[str]:
    """Apply ``changes`` in order; the kinds of those that found something to edit.
    ``usernames`` and ``shortnames`` are names the tool wants, for squatters to take."""
    meddler = Meddler(site, client, usernames, shortnames)
    return [change.what for change in changes if meddler.apply(change)]
