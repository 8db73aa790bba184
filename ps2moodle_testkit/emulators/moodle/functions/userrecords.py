"""User records as reads return them: ``user_get_user_details`` and ``user_description``.

Shared by ``core_user_get_users*`` and ``core_enrol_get_enrolled_users``, whose record
differs only in the fields it declares.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ps2moodle_testkit.emulators.moodle import php
from ps2moodle_testkit.emulators.moodle.errors import moodle_exception
from ps2moodle_testkit.emulators.moodle.formatting import format_string, format_text, user_picture_url
from ps2moodle_testkit.emulators.moodle.model import User
from ps2moodle_testkit.emulators.moodle.params import Multiple, Need, Param, Single, Value, clean_param, opt, optional
from ps2moodle_testkit.emulators.moodle.registry import Call
from ps2moodle_testkit.emulators.moodle.site import MoodleSite


def user_description(extra: dict[str, Any] | None = None, *, in_course: bool = False) -> Single:
    """``core_user_external::user_description``: the user record reads return.

    ``in_course`` gives the record of ``core_enrol_get_enrolled_users`` instead: it adds
    ``lastcourseaccess``, drops the account settings (auth, suspended, lang...) and the
    custom fields' ``displayvalue``; ``extra`` keys go before ``preferences``.
    """
    custom: dict[str, Any] = {"type": Value(Param.ALPHANUMEXT), "value": Value(Param.RAW)}
    if not in_course:
        custom["displayvalue"] = opt(Param.RAW)
    custom |= {"name": Value(Param.RAW), "shortname": Value(Param.RAW)}
    keys: dict[str, Any] = {
        "id": Value(Param.INT),
        "username": opt(Param.RAW),
        "firstname": opt(Param.NOTAGS),
        "lastname": opt(Param.NOTAGS),
        "fullname": Value(Param.NOTAGS),
        "email": opt(Param.TEXT),
        "address": opt(Param.TEXT),
        "phone1": opt(Param.NOTAGS),
        "phone2": opt(Param.NOTAGS),
        "department": opt(Param.TEXT),
        "institution": opt(Param.TEXT),
        "idnumber": opt(Param.RAW),
        "interests": opt(Param.TEXT),
        "firstaccess": opt(Param.INT),
        "lastaccess": opt(Param.INT),
    }
    if in_course:
        keys["lastcourseaccess"] = opt(Param.INT)
    else:
        keys |= {
            "auth": opt(Param.PLUGIN),
            "suspended": opt(Param.BOOL),
            "confirmed": opt(Param.BOOL),
            "lang": opt(Param.SAFEDIR),
            "calendartype": opt(Param.PLUGIN),
            "theme": opt(Param.PLUGIN),
            "timezone": opt(Param.TIMEZONE),
            "mailformat": opt(Param.INT),
            "trackforums": opt(Param.INT),
        }
    keys |= {
        "description": opt(Param.RAW),
        "descriptionformat": opt(Param.INT),
        "city": opt(Param.NOTAGS),
        "country": opt(Param.ALPHA),
        "profileimageurlsmall": Value(Param.RAW, Need.OPTIONAL if in_course else Need.REQUIRED),
        "profileimageurl": Value(Param.RAW, Need.OPTIONAL if in_course else Need.REQUIRED),
        "customfields": optional(Multiple(Single(custom))),
    }
    keys |= extra or {}
    keys["preferences"] = optional(Multiple(Single({"name": Value(Param.RAW), "value": Value(Param.RAW)})))
    if in_course:
        keys["enrolledcourses"] = keys.pop("enrolledcourses")
    return Single(keys)


# -- reading users ---------------------------------------------------------------------

#: ``user_get_default_fields``: the names a ``userfields`` option may list.
USER_FIELDS = frozenset(
    {
        "id", "username", "fullname", "firstname", "lastname", "email", "address", "phone1", "phone2",
        "department", "institution", "interests", "firstaccess", "lastaccess", "auth", "confirmed", "idnumber",
        "lang", "theme", "timezone", "mailformat", "trackforums", "description", "descriptionformat", "city",
        "country", "profileimageurlsmall", "profileimageurl", "customfields", "groups", "roles", "preferences",
        "enrolledcourses", "suspended", "lastcourseaccess",
    }
)  # fmt: skip


def user_details(call: Call, user: User, userfields: Iterable[str] | None = None) -> dict[str, Any]:
    """``user_get_user_details`` for a site admin caller (``user/lib.php``).

    ``userfields`` limits the record to those fields (``id`` and ``fullname`` always
    come back), as ``get_enrolled_users``' ``userfields`` option does; an admin also
    gets a non-empty address and phones whatever was asked. PHP's ``empty()`` decides
    what is left out, so an idnumber of ``"0"`` is left out too.
    """
    wanted = set(userfields) if userfields else None
    for name in wanted or ():
        if name not in USER_FIELDS:
            raise moodle_exception("invaliduserfield", f"Invalid user field: {name}")

    def want(name: str) -> bool:
        return wanted is None or name in wanted

    details: dict[str, Any] = {"id": user.id, "fullname": user.fullname}
    for name in ("firstname", "lastname", "username", "email", "department", "suspended"):
        if want(name):
            details[name] = getattr(user, name)
    for name in ("address", "phone1", "phone2"):
        if not php.empty(getattr(user, name)):
            details[name] = getattr(user, name)
    for name in ("country", "city", "timezone", "idnumber", "institution", "interests"):
        if want(name) and not php.empty(getattr(user, name)):
            details[name] = getattr(user, name)
    if want("description") and user.description is not None:
        details["description"] = format_text(call, user.description, user.descriptionformat)
        details["descriptionformat"] = user.descriptionformat
    for name in ("firstaccess", "lastaccess", "auth", "confirmed", "mailformat", "trackforums"):
        if want(name):
            details[name] = getattr(user, name)
    if want("lang"):
        details["lang"] = clean_param(user.lang, Param.LANG, call.site)
    if want("theme"):
        details["theme"] = clean_param(user.theme, Param.THEME, call.site)
    if want("profileimageurlsmall"):
        details["profileimageurlsmall"] = user_picture_url(call, "f2")
    if want("profileimageurl"):
        details["profileimageurl"] = user_picture_url(call, "f1")
    if want("customfields"):
        custom = profile_values(call.site, user.id)
        if custom:
            details["customfields"] = custom
    if want("preferences") and user.id == call.user.id:
        details["preferences"] = [
            {"name": p.name, "value": p.value} for p in call.site.preferences.find("user", user.id)
        ]
        details["preferences"].append({"name": "_lastloaded", "value": call.site.now()})
    return details


def profile_values(site: MoodleSite, userid: int) -> list[dict[str, Any]]:
    """A user's non-empty custom profile field values, in field order."""
    values = []
    for profile_field in site.profile_fields.by_id():
        data = site.profile_data.first("user_field", (userid, profile_field.id))
        if data is None or data.data == "":  # show_field_content(): visible and not empty
            continue
        values.append(
            {
                "type": profile_field.datatype,
                "value": data.data,
                "displayvalue": format_string(data.data),
                "name": profile_field.name,
                "shortname": profile_field.shortname,
            }
        )
    return values
