"""``core_cohort_*``: site and category cohorts and their members.

Mirrors ``cohort/externallib.php`` and ``cohort/lib.php``: idnumber uniqueness is
checked on create only (an exact match, ``''`` included); ``add_cohort_members``
turns soft problems into numbered warnings; reads without ORDER BY return storage
order, searches sort by name then idnumber.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ps2moodle_testkit.emulators.moodle.db import sql_like
from ps2moodle_testkit.emulators.moodle.errors import (
    MoodleError,
    coding_exception,
    dml_read_error,
    invalid_parameter,
    missing_record,
    moodle_exception,
)
from ps2moodle_testkit.emulators.moodle.formatting import format_text, validate_format
from ps2moodle_testkit.emulators.moodle.functions.roles import context_from_params
from ps2moodle_testkit.emulators.moodle.model import CONTEXT_COURSECAT, CONTEXT_SYSTEM, Cohort, CohortMember
from ps2moodle_testkit.emulators.moodle.params import (
    Description,
    Multiple,
    Need,
    Param,
    Single,
    Value,
    default,
    optional,
    warnings_description,
)
from ps2moodle_testkit.emulators.moodle.registry import Call, external, input_items, output_items
from ps2moodle_testkit.emulators.moodle.site import MoodleSite

_CATEGORY_TYPE: Description = Single({"type": Value(Param.TEXT), "value": Value(Param.RAW)})
_CUSTOM_FIELDS_IN = optional(Multiple(Single({"shortname": Value(Param.ALPHANUMEXT), "value": Value(Param.RAW)})))
_CUSTOM_FIELDS_OUT = optional(
    Multiple(
        Single(
            {
                "name": Value(Param.RAW),
                "shortname": Value(Param.RAW),
                "type": Value(Param.RAW),
                "valueraw": Value(Param.RAW),
                "value": Value(Param.RAW),
            }
        )
    )
)
_COHORT_FIELDS: dict[str, Description] = {
    "name": Value(Param.RAW),
    "idnumber": Value(Param.RAW),
    "description": Value(Param.RAW, Need.OPTIONAL),
    "descriptionformat": Value(Param.INT, Need.DEFAULT, 1),
    "visible": Value(Param.BOOL, Need.OPTIONAL),
    "theme": Value(Param.THEME, Need.OPTIONAL),
    "customfields": _CUSTOM_FIELDS_IN,
}
_COHORT_RECORD: dict[str, Description] = {
    "id": Value(Param.INT),
    "name": Value(Param.RAW),
    "idnumber": Value(Param.RAW),
    "description": Value(Param.RAW),
    "descriptionformat": Value(Param.INT),
    "visible": Value(Param.BOOL),
    "theme": Value(Param.THEME, Need.OPTIONAL),
}
_COHORT_OUT = Single(_COHORT_RECORD | {"customfields": _CUSTOM_FIELDS_OUT})


def _context_for(site: MoodleSite, categorytype: dict[str, Any]) -> int:
    """The context a ``categorytype`` names: the system, or a category by id or idnumber."""
    kind, value = categorytype["type"], categorytype["value"]
    if kind not in ("idnumber", "id", "system"):
        raise invalid_parameter(f"category type must be id, idnumber or system:{kind}")
    if kind == "system":
        return site.system_context().id
    if kind == "id":
        if not str(value).lstrip("-").isdigit():
            raise dml_read_error()
        category = site.categories.get(int(value))
    else:
        category = site.categories.first("idnumber", value)
    context = site.category_context(category.id) if category else None
    if context is None:
        raise invalid_parameter(f"category not exists: category {kind} = {value}")
    return context.id


@external(
    "core_cohort_create_cohorts",
    Single({"cohorts": Multiple(Single({"categorytype": _CATEGORY_TYPE} | _COHORT_FIELDS))}),
    Multiple(Single(_COHORT_RECORD)),
    items=input_items("cohorts"),
)
def create_cohorts(call: Call, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Create cohorts, all or nothing; an idnumber already used (even ``''``) is refused."""
    site = call.site
    created = []
    with site.db.transaction():
        for data in params["cohorts"]:
            contextid = _context_for(site, data["categorytype"])
            if site.cohorts.find("idnumber", data["idnumber"]):
                raise invalid_parameter(f"record already exists: idnumber={data['idnumber']}")
            validate_format(data["descriptionformat"])
            now = site.now()
            cohort = Cohort(
                site.cohorts.next_id(),
                contextid,
                data["name"],
                data["idnumber"],
                data.get("description", ""),
                data["descriptionformat"],
                data.get("visible", True),
                "",
                now,
                now,
            )
            site.cohorts.put(cohort)
            created.append(_record(cohort))
    return created


def _listed(call: Call, cohort: Cohort) -> dict[str, Any]:
    """A cohort as the reads list it: its description through ``format_text``."""
    description = format_text(call, cohort.description, cohort.descriptionformat)
    return _record(cohort) | {"description": description, "customfields": []}


def _record(cohort: Cohort) -> dict[str, Any]:
    return {
        "id": cohort.id,
        "name": cohort.name,
        "idnumber": cohort.idnumber,
        "description": cohort.description,
        "descriptionformat": cohort.descriptionformat,
        "visible": cohort.visible,
        "theme": cohort.theme,
    }


def _require_cohort(site: MoodleSite, cohortid: int) -> Cohort:
    cohort = site.cohorts.get(cohortid)
    if cohort is None:
        raise missing_record("cohort", "SELECT * FROM {cohort} WHERE id = ?", [cohortid])
    return cohort


@external(
    "core_cohort_update_cohorts",
    Single({"cohorts": Multiple(Single({"id": Value(Param.INT), "categorytype": _CATEGORY_TYPE} | _COHORT_FIELDS))}),
    None,
    items=input_items("cohorts"),
)
def update_cohorts(call: Call, params: dict[str, Any]) -> None:
    """Update cohorts, all or nothing; idnumbers are *not* checked for uniqueness."""
    site = call.site
    with site.db.transaction():
        for data in params["cohorts"]:
            if data["name"].strip() == "":
                raise invalid_parameter("Invalid cohort name")
            cohort = _require_cohort(site, data["id"])
            contextid = _context_for(site, data["categorytype"])
            if data.get("description"):
                validate_format(data["descriptionformat"])
            changes = {
                k: data[k] for k in ("name", "idnumber", "description", "descriptionformat", "visible") if k in data
            }
            site.cohorts.put(replace(cohort, contextid=contextid, timemodified=site.now(), **changes))


@external(
    "core_cohort_delete_cohorts",
    Single({"cohortids": Multiple(Value(Param.INT))}),
    None,
    items=input_items("cohortids"),
)
def delete_cohorts(call: Call, params: dict[str, Any]) -> None:
    """Delete cohorts and their memberships, all or nothing."""
    site = call.site
    with site.db.transaction():
        for cohortid in params["cohortids"]:
            cohort = _require_cohort(site, cohortid)
            for member in site.cohort_members.find("cohort", cohort.id):
                site.cohort_members.delete(member.id)
            site.cohorts.delete(cohort.id)


@external(
    "core_cohort_get_cohorts",
    Single({"cohortids": default(Multiple(Value(Param.INT)), [])}),
    Multiple(_COHORT_OUT),
    items=output_items,
)
def get_cohorts(call: Call, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The cohorts asked for (unknown ids skipped), or all of them, in storage order."""
    wanted = set(params["cohortids"])
    cohorts = [c for c in call.site.cohorts.in_storage_order() if not wanted or c.id in wanted]
    return [_listed(call, cohort) for cohort in cohorts]


_SEARCH_PARAMS = Single(
    {
        "query": Value(Param.RAW),
        "context": Single(
            {
                "contextid": Value(Param.INT, Need.DEFAULT, 0),
                "contextlevel": Value(Param.ALPHA, Need.DEFAULT, ""),
                "instanceid": Value(Param.INT, Need.DEFAULT, 0),
            }
        ),
        "includes": Value(Param.ALPHA, Need.DEFAULT, "parents"),
        "limitfrom": Value(Param.INT, Need.DEFAULT, 0),
        "limitnum": Value(Param.INT, Need.DEFAULT, 25),
    }
)


@external(
    "core_cohort_search_cohorts",
    _SEARCH_PARAMS,
    Single({"cohorts": Multiple(_COHORT_OUT)}),
    items=lambda params, result: len(result["cohorts"]),
)
def search_cohorts(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """Cohorts whose name, idnumber or description contains ``query``, by name then idnumber.

    ``self``: only the given context; ``parents``: the context and its parents;
    ``all``: everywhere. For ``self`` and ``all`` ``limitfrom`` is a page number.
    """
    site = call.site
    context = context_from_params(site, params["context"])
    includes, query = params["includes"], params["query"]
    limitfrom, limitnum = params["limitfrom"], params["limitnum"]
    if includes == "self":
        contexts: set[int] | None = {context.id}
        offset = limitfrom * limitnum
    elif includes == "parents":
        contexts = set(site.parent_context_ids(context))
        offset = limitfrom
    elif includes == "all":
        contexts, offset = None, limitfrom * limitnum
    else:
        raise coding_exception("Invalid parameter value for 'includes'.")
    pattern = f"%{_escape_like(query)}%"
    found = [
        c
        for c in site.cohorts.by_id()
        if (contexts is None or c.contextid in contexts)
        and (not query or any(sql_like(pattern, text) for text in (c.name, c.idnumber, c.description)))
    ]
    found.sort(key=lambda c: (c.name, c.idnumber))
    page = found[offset : offset + limitnum] if limitnum > 0 else found[offset:]
    return {"cohorts": [_listed(call, cohort) for cohort in page]}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_MEMBER_TYPE = Single({"type": Value(Param.ALPHANUMEXT), "value": Value(Param.RAW)})


@external(
    "core_cohort_add_cohort_members",
    Single({"members": Multiple(Single({"cohorttype": _MEMBER_TYPE, "usertype": _MEMBER_TYPE}))}),
    Single({"warnings": warnings_description()}),
    items=input_items("members"),
)
def add_cohort_members(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """Add members; unknown cohorts or users and existing members become warnings, not errors."""
    site = call.site
    warnings: list[dict[str, Any]] = []
    with site.db.transaction():
        for member in params["members"]:
            cohorttype, usertype = member["cohorttype"], member["usertype"]
            try:
                problem = _member_problem(site, cohorttype, usertype)
            except MoodleError:
                # Any failure while looking things up is rethrown as the cohort module's "Error".
                raise moodle_exception("Error", "cohort/Error") from None
            if isinstance(problem, dict):
                warnings.append(problem)
                continue
            cohortid, userid = problem
            site.cohort_members.put(CohortMember(site.cohort_members.next_id(), cohortid, userid, site.now()))
    return {"warnings": warnings}


def _member_problem(
    site: MoodleSite, cohorttype: dict[str, Any], usertype: dict[str, Any]
) -> dict[str, Any] | tuple[int, int]:
    """A warning for this member, or the (cohort id, user id) to add."""

    def warning(code: str, message: str) -> dict[str, Any]:
        return {"warningcode": code, "message": message}

    if cohorttype["type"] not in ("id", "idnumber"):
        return warning("1", f"invalid parameter: cohortype={cohorttype['type']}")
    if usertype["type"] not in ("id", "username"):
        return warning("1", f"invalid parameter: usertype={usertype['type']}")
    cohort = _lookup_cohort(site, cohorttype)
    if cohort is None:
        return warning("2", f"cohort {cohorttype['type']}={cohorttype['value']} not exists")
    user = _lookup_user(site, usertype)
    if user is None:
        return warning("2", f"user {usertype['type']}={usertype['value']} not exists")
    if site.cohort_members.first("cohort_user", (cohort.id, user)) is not None:
        return warning(
            "3",
            f"record already exists: cohort({cohorttype['type']}={cohorttype['value']} "
            f"{usertype['type']}={usertype['value']})",
        )
    context = site.contexts.get(cohort.contextid)
    if context is None or context.contextlevel not in (CONTEXT_COURSECAT, CONTEXT_SYSTEM):
        return warning("1", f"Invalid context: {context.contextlevel if context else ''}")
    return cohort.id, user


def _lookup_cohort(site: MoodleSite, cohorttype: dict[str, Any]) -> Cohort | None:
    value = cohorttype["value"]
    if cohorttype["type"] == "idnumber":
        return site.cohorts.first("idnumber", value)
    if not str(value).lstrip("-").isdigit():
        raise dml_read_error()
    return site.cohorts.get(int(value))


def _lookup_user(site: MoodleSite, usertype: dict[str, Any]) -> int | None:
    value = usertype["value"]
    if usertype["type"] == "username":
        users = site.users.find("username", (1, value))
    else:
        if not str(value).lstrip("-").isdigit():
            raise dml_read_error()
        found = site.users.get(int(value))
        users = [found] if found is not None else []
    live = [u for u in users if not u.deleted and u.mnethostid == 1]
    return live[0].id if live else None


@external(
    "core_cohort_delete_cohort_members",
    Single({"members": Multiple(Single({"cohortid": Value(Param.INT), "userid": Value(Param.INT)}))}),
    None,
    items=input_items("members"),
)
def delete_cohort_members(call: Call, params: dict[str, Any]) -> None:
    """Remove members, all or nothing; removing a non-member is a no-op."""
    site = call.site
    with site.db.transaction():
        for member in params["members"]:
            cohort = _require_cohort(site, member["cohortid"])
            user = site.require_local_user(member["userid"])
            existing = site.cohort_members.first("cohort_user", (cohort.id, user.id))
            if existing is not None:
                site.cohort_members.delete(existing.id)


@external(
    "core_cohort_get_cohort_members",
    Single({"cohortids": Multiple(Value(Param.INT))}),
    Multiple(Single({"cohortid": Value(Param.INT), "userids": Multiple(Value(Param.INT))})),
    items=output_items,
)
def get_cohort_members(call: Call, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Each cohort's member ids, sorted by last name then first name."""
    site = call.site
    result = []
    for cohortid in params["cohortids"]:
        cohort = _require_cohort(site, cohortid)
        users = [site.users.get(m.userid) for m in site.cohort_members.find("cohort", cohort.id)]
        ordered = sorted((u for u in users if u is not None), key=lambda u: (u.lastname, u.firstname, u.id))
        result.append({"cohortid": cohortid, "userids": [u.id for u in ordered]})
    return result
