"""``core_role_assign_roles`` and ``core_role_unassign_roles``: manual role assignments.

The context is given by ``contextid`` or by ``contextlevel`` (a name such as
``course``) with ``instanceid``. The role must be assignable there by the caller; no
enrolment is needed. Both are all-or-nothing.
"""

from __future__ import annotations

from typing import Any

from ps2moodle_testkit.emulators.moodle.errors import invalid_parameter
from ps2moodle_testkit.emulators.moodle.functions.enrol import role_assign, role_unassign
from ps2moodle_testkit.emulators.moodle.model import CONTEXT_SYSTEM, Context
from ps2moodle_testkit.emulators.moodle.params import Multiple, Need, Param, Single, Value
from ps2moodle_testkit.emulators.moodle.registry import Call, external, input_items, item_rows
from ps2moodle_testkit.emulators.moodle.site import MoodleSite

_ASSIGNMENT = Single(
    {
        "roleid": Value(Param.INT),
        "userid": Value(Param.INT),
        "contextid": Value(Param.INT, Need.OPTIONAL),
        "contextlevel": Value(Param.ALPHA, Need.OPTIONAL),
        "instanceid": Value(Param.INT, Need.OPTIONAL),
    }
)


def context_from_params(site: MoodleSite, params: dict[str, Any]) -> Context:
    """``external_api::get_context_from_params`` followed by ``validate_context``."""
    if params.get("contextid"):
        context = site.contexts.get(params["contextid"])
    elif params.get("contextlevel") and "instanceid" in params:
        level = site.context_name_level(params["contextlevel"])
        if level is None:
            raise invalid_parameter(f"Invalid context level = {params['contextlevel']}")
        context = site.system_context() if level == CONTEXT_SYSTEM else site.context_of(level, params["instanceid"])
    else:
        raise invalid_parameter("Missing parameters, please provide either context level with instance id or contextid")
    if context is None:
        raise invalid_parameter("Context does not exist")
    return context


def _checked_context(site: MoodleSite, params: dict[str, Any], verb: str) -> Context:
    context = context_from_params(site, params)
    if params["roleid"] not in {role.id for role in site.assignable_roles(context)}:
        # Moodle prints the contextid parameter, which is empty when the level form was used.
        raise invalid_parameter(f"Can not {verb} roleid={params['roleid']} in contextid={params.get('contextid', '')}")
    return context


@external(
    "core_role_assign_roles",
    Single({"assignments": Multiple(_ASSIGNMENT)}),
    None,
    items=input_items("assignments"),
    # role_assign marks the user dirty: the user's mdl_cache_flags row.
    locks=item_rows("assignments", "cache_flags", lambda item: item["userid"]),
)
def assign_roles(call: Call, params: dict[str, Any]) -> None:
    """Assign roles (component ``''``); an existing assignment is a no-op."""
    site = call.site
    with site.db.transaction():
        for assignment in params["assignments"]:
            context = _checked_context(site, assignment, "assign")
            role_assign(site, assignment["roleid"], assignment["userid"], context.id)


@external(
    "core_role_unassign_roles",
    Single({"unassignments": Multiple(_ASSIGNMENT)}),
    None,
    items=input_items("unassignments"),
    locks=item_rows("unassignments", "cache_flags", lambda item: item["userid"]),
)
def unassign_roles(call: Call, params: dict[str, Any]) -> None:
    """Remove manual role assignments; a missing one is a no-op."""
    site = call.site
    with site.db.transaction():
        for unassignment in params["unassignments"]:
            context = _checked_context(site, unassignment, "unassign")
            role_unassign(site, unassignment["roleid"], unassignment["userid"], context.id)
