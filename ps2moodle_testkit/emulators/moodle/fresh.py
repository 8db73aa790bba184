"""The starting state of the site the golden files were recorded on.

A Moodle 4.5 install with: guest (user 1) and admin (user 2, the token's owner); the
front-page course 1 ("Real Moodle Test", context 2); "Category 1"; roles 1..8 as in
``production/_roles.json``; one custom profile field ``gradelevel``; one external
service holding the functions of the first recorded ``get_site_info``. Ten contexts
exist, so the first category created gets context 11, exactly as on the real site
(the recordings address course 2 by context id 32).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ps2moodle_testkit.emulators.moodle.model import (
    CONTEXT_BLOCK,
    CONTEXT_COURSE,
    CONTEXT_COURSECAT,
    CONTEXT_MODULE,
    CONTEXT_SYSTEM,
    CONTEXT_USER,
    Category,
    Context,
    Course,
    CourseSection,
    Preference,
    Role,
    User,
)

if TYPE_CHECKING:
    from ps2moodle_testkit.emulators.moodle.site import MoodleSite

#: The token's service, in the order the real site lists it.
SERVICE_FUNCTIONS = (
    "core_webservice_get_site_info",
    "core_user_create_users",
    "core_user_update_users",
    "core_user_get_users_by_field",
    "core_user_get_users",
    "core_user_delete_users",
    "core_course_create_categories",
    "core_course_get_categories",
    "core_course_update_categories",
    "core_course_delete_categories",
    "core_course_create_courses",
    "core_course_update_courses",
    "core_course_get_courses_by_field",
    "core_course_get_courses",
    "core_course_delete_courses",
    "enrol_manual_enrol_users",
    "enrol_manual_unenrol_users",
    "core_enrol_get_enrolled_users",
    "core_enrol_get_course_enrolment_methods",
    "core_enrol_get_users_courses",
    "core_role_assign_roles",
    "core_role_unassign_roles",
    "core_cohort_create_cohorts",
    "core_cohort_search_cohorts",
    "core_cohort_get_cohorts",
    "core_cohort_add_cohort_members",
    "core_cohort_get_cohort_members",
    "core_cohort_delete_cohort_members",
    "core_cohort_update_cohorts",
    "core_cohort_delete_cohorts",
    "core_group_create_groups",
    "core_group_get_course_groups",
    "core_group_add_group_members",
    "core_group_get_group_members",
    "core_group_delete_group_members",
    "core_group_delete_groups",
)

#: Roles of a default install (``lib/db/install.php``) and the levels each is assignable at.
ROLES = (
    Role(1, "manager", "manager", 1, (CONTEXT_SYSTEM, CONTEXT_COURSECAT, CONTEXT_COURSE)),
    Role(2, "coursecreator", "coursecreator", 2, (CONTEXT_SYSTEM, CONTEXT_COURSECAT)),
    Role(3, "editingteacher", "editingteacher", 3, (CONTEXT_COURSE, CONTEXT_MODULE)),
    Role(4, "teacher", "teacher", 4, (CONTEXT_COURSE, CONTEXT_MODULE)),
    Role(5, "student", "student", 5, (CONTEXT_COURSE, CONTEXT_MODULE)),
    Role(6, "guest", "guest", 6, ()),
    Role(7, "user", "user", 7, ()),
    Role(8, "frontpage", "frontpage", 8, ()),
)

# Seconds between the install and the first record, roughly as on the real site.
_INSTALL_AGE = 1535


def populate(site: MoodleSite) -> None:
    """Fill an empty site with the recorded starting state."""
    now = site.now()
    installed = now - _INSTALL_AGE
    site.config.service_functions = list(SERVICE_FUNCTIONS)
    site.config.themerev = installed + 71

    contexts = [
        Context(1, CONTEXT_SYSTEM, 0, None),
        Context(2, CONTEXT_COURSE, 1, 1),
        Context(3, CONTEXT_COURSECAT, 1, 1),
        Context(4, CONTEXT_USER, 2, 1),
        Context(5, CONTEXT_USER, 1, 1),
    ]
    # Dashboard and front-page blocks of a fresh install.
    contexts += [Context(i, CONTEXT_BLOCK, i - 5, 4 if i % 2 else 2) for i in range(6, 11)]
    for context in contexts:
        site.contexts.put(context)
    site.contexts.restart_sequence(11)

    site.users.put(
        User(
            1,
            "guest",
            "root@localhost",
            "Guest user",
            " ",
            description="This user is a special user that allows read-only access to some courses.",
            timecreated=installed,
        )
    )
    site.users.put(User(2, "admin", "admin@example.com", "Admin", "User", timecreated=installed))
    site.users.restart_sequence(3)
    site.preferences.put(Preference(site.preferences.next_id(), 2, "last_time_enrolments_synced", str(installed + 77)))

    site.categories.put(Category(1, "Category 1", 0, 10000, "/1", 1, timemodified=installed))
    site.categories.restart_sequence(2)
    site.courses.put(
        Course(
            1,
            0,
            1,
            "Real Moodle Test",
            "realmoodle",
            summary="Loopback test",
            format="site",
            newsitems=3,
            enablecompletion=0,
            showactivitydates=False,
            showcompletionconditions=None,
            timecreated=installed,
            timemodified=installed + 35,
            cacherev=installed + 71,
        )
    )
    site.courses.restart_sequence(2)
    for number in (0, 1):
        site.sections.put(CourseSection(site.sections.next_id(), 1, number))

    for role in ROLES:
        site.roles.put(role)
    site.roles.restart_sequence(len(ROLES) + 1)
    site.add_profile_field("gradelevel", "Grade level")
