"""What a Moodle site needs for one config, at least privilege (pure; ``moodle-setup`` prints it).

- the external service: exactly the web-service functions this config's plan and apply
  call (deleting accounts and unenrolling are called only when the removal policy says
  so);
- a role for the sync user, assigned at system context, allowing exactly the
  capabilities those functions check, and allowed to assign the Moodle roles the config
  enrols with ("Allow role assignments": a separate table, not a capability);
- that role as a role preset, the XML "Define roles → Import" accepts
  (``core_role_preset::get_export_xml``, ``admin/roles/role_schema.xml``).

The capabilities are Moodle's own checks (``lib/db/services.php`` and each function's
``validate_context``/``require_capability``), held to what a real Moodle 4.5 asked a
sync user for (``shared/golden/moodle/leastpriv``), which wins where they differ:

- entering a course context as a user who is not enrolled takes ``moodle/course:view``;
- categories show their idnumber only to ``moodle/category:manage``, courses only to
  ``moodle/course:update``: without them no object could be told apart as the tool's;
- user reads answer *empty*, not refused, without ``moodle/user:viewdetails``; username
  and idnumber need ``moodle/user:viewalldetails``, e-mail ``moodle/site:viewuseridentity``;
- each course field an update changes has its own capability.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from reconciler.config.model import Config, EnrolmentRemoval, UserRemoval

_PROTOCOL = "webservice/rest:use"
_COURSE_ACCESS = "moodle/course:view"
_USER_VIEW = ("moodle/user:viewdetails", "moodle/user:viewalldetails", "moodle/site:viewuseridentity")

#: The capabilities each function the tool calls checks (beyond ``webservice/rest:use``).
FUNCTION_CAPABILITIES: dict[str, tuple[str, ...]] = {
    "core_webservice_get_site_info": (),
    "core_course_get_categories": ("moodle/category:manage",),
    "core_course_create_categories": ("moodle/category:manage",),
    "core_course_update_categories": ("moodle/category:manage",),
    "core_course_get_courses_by_field": (_COURSE_ACCESS, "moodle/course:update"),
    "core_course_create_courses": ("moodle/course:create",),
    # One capability per field the tool may change (fullname, shortname, category, and
    # idnumber when a reviewed move or adoption re-keys a course).
    "core_course_update_courses": (
        "moodle/course:update",
        "moodle/course:changefullname",
        "moodle/course:changeshortname",
        "moodle/course:changecategory",
        "moodle/course:changeidnumber",
    ),
    "core_user_get_users_by_field": _USER_VIEW,
    "core_user_create_users": ("moodle/user:create",),
    "core_user_update_users": ("moodle/user:update",),
    "core_user_delete_users": ("moodle/user:delete",),
    "core_cohort_get_cohorts": ("moodle/cohort:manage",),
    "core_cohort_create_cohorts": ("moodle/cohort:manage",),
    "core_cohort_update_cohorts": ("moodle/cohort:manage",),
    "core_cohort_delete_cohorts": ("moodle/cohort:manage",),
    "core_cohort_get_cohort_members": ("moodle/cohort:manage",),
    "core_cohort_add_cohort_members": ("moodle/cohort:manage",),
    "core_cohort_delete_cohort_members": ("moodle/cohort:manage",),
    "core_enrol_get_enrolled_users": (_COURSE_ACCESS, "moodle/course:viewparticipants", *_USER_VIEW),
    # Apply's check lists the active enrolments of many courses a call with it (its own
    # checks: role:review, and course:enrolreview for ``onlyactive``).
    "core_enrol_get_enrolled_users_with_capability": (
        _COURSE_ACCESS,
        "moodle/course:viewparticipants",
        "moodle/course:enrolreview",
        "moodle/role:review",
        *_USER_VIEW,
    ),
    "enrol_manual_enrol_users": (_COURSE_ACCESS, "enrol/manual:enrol"),
    "enrol_manual_unenrol_users": (_COURSE_ACCESS, "enrol/manual:unenrol"),
    "core_role_assign_roles": (_COURSE_ACCESS, "moodle/role:assign"),
    "core_role_unassign_roles": (_COURSE_ACCESS, "moodle/role:assign"),
    "core_group_get_course_groups": (_COURSE_ACCESS, "moodle/course:managegroups"),
    "core_group_create_groups": (_COURSE_ACCESS, "moodle/course:managegroups"),
    "core_group_delete_groups": (_COURSE_ACCESS, "moodle/course:managegroups"),
    "core_group_add_group_members": (_COURSE_ACCESS, "moodle/course:managegroups"),
    "core_group_delete_group_members": (_COURSE_ACCESS, "moodle/course:managegroups"),
}

#: Functions the tool does without, only slower: a service without them still syncs.
SPEED_ONLY = frozenset({"core_enrol_get_enrolled_users_with_capability"})

#: Functions called only under a removal policy that asks for them.
_ONLY_WHEN: dict[str, Callable[[Config], bool]] = {
    "core_user_delete_users": lambda c: c.removal.users is UserRemoval.DELETE,
    "enrol_manual_unenrol_users": lambda c: c.removal.enrolments is EnrolmentRemoval.UNENROL,
}


@dataclass(frozen=True, slots=True)
class SiteNeeds:
    """Everything a site must hold for one config."""

    functions: tuple[str, ...]
    capabilities: tuple[str, ...]
    assignable_roles: tuple[str, ...]


def site_needs(config: Config) -> SiteNeeds:
    """The service functions, role capabilities and assignable roles ``config`` needs."""
    functions = tuple(f for f in FUNCTION_CAPABILITIES if f not in _ONLY_WHEN or _ONLY_WHEN[f](config))
    capabilities = sorted({_PROTOCOL, *(cap for f in functions for cap in FUNCTION_CAPABILITIES[f])})
    roles = sorted({moodle for connection in config.connections for _, moodle in connection.roles})
    return SiteNeeds(functions, tuple(capabilities), tuple(roles))


def role_preset(needs: SiteNeeds, shortname: str, name: str) -> str:
    """The role as a preset file for Site administration > Users > Permissions > Define roles
    > Add a new role > Import: system context only, allowed to assign the config's roles."""
    role = ET.Element("role")
    ET.SubElement(role, "shortname").text = shortname
    ET.SubElement(role, "name").text = name
    ET.SubElement(role, "description").text = "The ps2moodle sync account: only what its web-service calls check."
    ET.SubElement(role, "archetype").text = ""
    ET.SubElement(ET.SubElement(role, "contextlevels"), "level").text = "system"
    allowassign = ET.SubElement(role, "allowassign")
    for target in needs.assignable_roles:
        ET.SubElement(allowassign, "shortname").text = target
    ET.SubElement(role, "allowoverride")
    ET.SubElement(role, "allowswitch")
    permissions = ET.SubElement(role, "permissions")
    for capability in needs.capabilities:  # Moodle exports them sorted, as here
        ET.SubElement(permissions, "allow").text = capability
    ET.indent(role, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(role, encoding="unicode") + "\n"


def setup_steps(needs: SiteNeeds, role_shortname: str, preset_file: str, service: str) -> list[str]:
    """The administrator's steps, in order, with Moodle 4.5's menu paths."""
    return [
        "Enable web services and the REST protocol: Site administration > General > Advanced features > "
        "Enable web services; Site administration > Server > Web services > Manage protocols > REST.",
        "Create the sync user (authentication: manual), e.g. username ps2moodle-sync: Site administration > "
        "Users > Accounts > Add a new user.",
        f"Create the role from the preset: Site administration > Users > Permissions > Define roles > Add a new "
        f"role > Import {preset_file} > Continue > Create this role (shortname {role_shortname}, context: System; "
        f"allowed to assign {', '.join(needs.assignable_roles)}).",
        f"Give the user that role at system level: Site administration > Users > Permissions > Assign system roles "
        f"> {role_shortname}.",
        f"Create the external service: Site administration > Server > Web services > External services > Add: "
        f"name {service}, enabled, authorised users only; then Functions > Add these {len(needs.functions)}: "
        + ", ".join(needs.functions)
        + ".",
        "Authorise the sync user for the service: its Authorised users link.",
        f"Create a token for the sync user and the {service} service: Site administration > Server > Web services "
        "> Manage tokens > Create token; put it where moodle.token points.",
        "Check: ps2moodle doctor CONFIG (it names any missing function or capability, and warns about a site "
        "admin token).",
    ]
