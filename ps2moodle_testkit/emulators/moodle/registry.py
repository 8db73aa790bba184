"""The ``external_functions`` table: every function the emulated Moodle knows.

Each function module declares its functions with :func:`external`, giving the
parameter description, the return description (``None`` for functions that answer
``null``), how many items a call handles (for the cost model) and which database rows
its transaction locks until it commits (for the lock model, :class:`.faults.RowLocks`). A function that
exists in Moodle but is not in the token's service answers with an access exception;
one that does not exist at all answers ``invalidrecord``. :data:`KNOWN_ELSEWHERE`
lists real Moodle functions the emulator does not implement, so that calling one
gives the access error a real site gives, not "no such function".
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ps2moodle_testkit.emulators.moodle.params import Description, Single

if TYPE_CHECKING:
    from ps2moodle_testkit.emulators.moodle.model import User
    from ps2moodle_testkit.emulators.moodle.site import MoodleSite


@dataclass(frozen=True)
class Call:
    """One web-service call in progress: the site, the token's user and the call settings."""

    site: MoodleSite
    user: User
    #: ``moodlewssettingraw``: return text as stored, without ``format_string``/``format_text``.
    raw: bool = False
    #: ``moodlewssettingfilter``: run ``format_text`` fields through the site's filters.
    filter: bool = False


Implementation = Callable[[Call, dict[str, Any]], Any]
ItemCount = Callable[[dict[str, Any], Any], int]
#: The rows a call's transaction locks, in the order it locks them.
RowsLocked = Callable[[dict[str, Any]], list[Hashable]]


@dataclass(frozen=True)
class ExternalFunction:
    """One ``external_functions`` row with its signature and implementation."""

    name: str
    component: str
    parameters: Single
    returns: Description | None
    run: Implementation
    items: ItemCount
    locks: RowsLocked


FUNCTIONS: dict[str, ExternalFunction] = {}

#: Real Moodle 4.5 functions that exist on the site but are not implemented here.
KNOWN_ELSEWHERE = frozenset(
    {
        "core_course_search_courses",
        "core_course_get_course_module",
        "core_course_duplicate_course",
        "core_course_import_course",
        "core_enrol_search_users",
        "core_group_get_groupings",
        "core_group_create_groupings",
        "core_grades_get_gradable_users",
        "core_grades_update_grades",
        "gradereport_grader_get_users_in_report",
        "gradereport_overview_get_course_grades",
        "gradereport_user_get_grades_table",
        "core_role_get_roles",
        "core_user_get_user_preferences",
        "core_user_update_picture",
        "core_user_agree_site_policy",
        "core_webservice_get_site_info_mobile",
        "enrol_self_enrol_user",
        "enrol_guest_get_instance_info",
    }
)


def no_items(params: dict[str, Any], result: Any) -> int:
    """Item count for calls whose cost does not depend on a list."""
    return 0


def input_items(key: str) -> ItemCount:
    """Item count = length of the list parameter ``key`` (batch writes)."""
    return lambda params, result: len(params.get(key) or [])


def no_rows(params: dict[str, Any]) -> list[Hashable]:
    """Calls that lock no row another call of the tool's kind would wait for."""
    return []


def item_rows(key: str, table: str, row: Callable[[dict[str, Any]], Hashable]) -> RowsLocked:
    """Each item of the list parameter ``key`` locks ``row(item)`` of ``table``, in item order."""
    return lambda params: [(table, row(item)) for item in params.get(key) or []]


def output_items(params: dict[str, Any], result: Any) -> int:
    """Item count = length of the returned list (reads)."""
    return len(result) if isinstance(result, list) else 0


def external(
    name: str,
    parameters: Single,
    returns: Description | None,
    *,
    component: str = "moodle",
    items: ItemCount = no_items,
    locks: RowsLocked = no_rows,
) -> Callable[[Implementation], Implementation]:
    """Declare a web-service function implemented by the decorated callable."""

    def register(run: Implementation) -> Implementation:
        FUNCTIONS[name] = ExternalFunction(name, component, parameters, returns, run, items, locks)
        return run

    return register


def load_all() -> dict[str, ExternalFunction]:
    """Import every function module so that all functions are registered."""
    from ps2moodle_testkit.emulators.moodle.functions import (  # noqa: F401
        categories,
        cohorts,
        contents,
        courses,
        enrol,
        grades,
        groups,
        roles,
        siteinfo,
        users,
    )

    return FUNCTIONS
