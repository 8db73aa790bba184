"""``core_user_*``: create, update, delete and read user accounts.

Mirrors ``user/externallib.php`` and ``user/lib.php`` of Moodle 4.5: create and delete
are all-or-nothing; update runs one transaction per user and reports failures as
warnings; reads return the records of :mod:`.userrecords`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import fields, replace
from typing import Any

from ps2moodle_testkit.emulators.moodle import php
from ps2moodle_testkit.emulators.moodle.db import sql_like
from ps2moodle_testkit.emulators.moodle.errors import (
    MoodleError,
    coding_exception,
    invalid_parameter,
    missing_record,
    moodle_exception,
)
from ps2moodle_testkit.emulators.moodle.functions.enrol import remove_user_from_course_tables
from ps2moodle_testkit.emulators.moodle.functions.userrecords import user_description, user_details
from ps2moodle_testkit.emulators.moodle.model import CONTEXT_USER, Preference, ProfileData, User
from ps2moodle_testkit.emulators.moodle.params import (
    Multiple,
    Need,
    Param,
    Single,
    Value,
    clean_param,
    is_valid_email,
    opt,
    optional,
    warnings_description,
)
from ps2moodle_testkit.emulators.moodle.registry import Call, external, input_items, output_items
from ps2moodle_testkit.emulators.moodle.site import MoodleSite

_CUSTOM_FIELDS_IN = optional(Multiple(Single({"type": Value(Param.ALPHANUMEXT), "value": Value(Param.RAW)})))
_PREFERENCES_IN = optional(Multiple(Single({"type": Value(Param.RAW), "value": Value(Param.RAW)})))


def _opt_not_null(kind: Param) -> Value:
    return Value(kind, Need.OPTIONAL, "", allownull=False)


_CREATE_USER = Single(
    {
        "createpassword": opt(Param.BOOL),
        "username": Value(Param.USERNAME),
        "auth": Value(Param.AUTH, Need.DEFAULT, "manual", allownull=False),
        "password": opt(Param.RAW),
        "firstname": Value(Param.NOTAGS),
        "lastname": Value(Param.NOTAGS),
        "email": Value(Param.RAW_TRIMMED),
        "maildisplay": opt(Param.INT),
        "city": opt(Param.TEXT),
        "country": opt(Param.ALPHA),
        "timezone": opt(Param.TIMEZONE),
        "description": opt(Param.RAW),
        "firstnamephonetic": opt(Param.NOTAGS),
        "lastnamephonetic": opt(Param.NOTAGS),
        "middlename": opt(Param.NOTAGS),
        "alternatename": opt(Param.NOTAGS),
        "interests": opt(Param.TEXT),
        "idnumber": Value(Param.RAW, Need.DEFAULT, ""),
        "institution": opt(Param.TEXT),
        "department": opt(Param.TEXT),
        "phone1": opt(Param.NOTAGS),
        "phone2": opt(Param.NOTAGS),
        "address": opt(Param.TEXT),
        "lang": Value(Param.LANG, Need.DEFAULT, "en", allownull=False),
        "calendartype": Value(Param.PLUGIN, Need.DEFAULT, "gregorian"),
        "theme": opt(Param.THEME),
        "mailformat": opt(Param.INT),
        "customfields": _CUSTOM_FIELDS_IN,
        "preferences": _PREFERENCES_IN,
    }
)

_UPDATE_USER = Single(
    {
        "id": Value(Param.INT),
        "username": _opt_not_null(Param.USERNAME),
        "auth": _opt_not_null(Param.AUTH),
        "suspended": opt(Param.BOOL),
        "password": _opt_not_null(Param.RAW),
        "firstname": _opt_not_null(Param.NOTAGS),
        "lastname": opt(Param.NOTAGS),
        "email": _opt_not_null(Param.RAW_TRIMMED),
        "maildisplay": opt(Param.INT),
        "city": opt(Param.TEXT),
        "country": opt(Param.ALPHA),
        "timezone": opt(Param.TIMEZONE),
        "description": opt(Param.RAW),
        "userpicture": opt(Param.INT),
        "firstnamephonetic": opt(Param.NOTAGS),
        "lastnamephonetic": opt(Param.NOTAGS),
        "middlename": opt(Param.NOTAGS),
        "alternatename": opt(Param.NOTAGS),
        "interests": opt(Param.TEXT),
        "idnumber": opt(Param.RAW),
        "institution": opt(Param.TEXT),
        "department": opt(Param.TEXT),
        "phone1": opt(Param.NOTAGS),
        "phone2": opt(Param.NOTAGS),
        "address": opt(Param.TEXT),
        "lang": _opt_not_null(Param.LANG),
        "calendartype": _opt_not_null(Param.PLUGIN),
        "theme": opt(Param.THEME),
        "mailformat": opt(Param.INT),
        "customfields": _CUSTOM_FIELDS_IN,
        "preferences": _PREFERENCES_IN,
    }
)


# Preferences a web service may set (core_user's definitions the caller may edit).
_EDITABLE_PREFERENCES = frozenset(
    {"auth_forcepasswordchange", "htmleditor", "maildigest", "autosubscribe", "trackforums", "emailstop"}
)


_BY_FIELD_PARAMS = Single({"field": Value(Param.ALPHA), "values": Multiple(Value(Param.RAW))})
_FIELD_TYPES = {"id": Param.INT, "idnumber": Param.RAW, "username": Param.USERNAME, "email": Param.RAW_TRIMMED}


@external("core_user_get_users_by_field", _BY_FIELD_PARAMS, Multiple(user_description()), items=output_items)
def get_users_by_field(call: Call, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Users whose ``field`` equals one of ``values``, by id, deleted tombstones included."""
    field = params["field"]
    kind = _FIELD_TYPES.get(field)
    if kind is None:
        raise coding_exception(
            "invalid field parameter",
            f"The search field '{field}' is not supported, look at the web service documentation",
        )
    cleaned: list[php.Scalar] = []
    for value in params["values"]:
        clean = clean_param(value, kind, call.site)
        if not php.loose_equal(value, clean):
            raise invalid_parameter(
                f"The field '{field}' value is invalid: {value}(cleaned value: {php.to_string(clean)})"
            )
        cleaned.append(clean)
    found = {user.id: user for value in cleaned for user in _users_where(call.site, field, value)}
    return [user_details(call, found[userid]) for userid in sorted(found)]


def _users_where(site: MoodleSite, field: str, value: php.Scalar) -> list[User]:
    if field == "id":
        user = site.users.get(int(value or 0))
        return [user] if user else []
    if field == "username":
        return site.users.find("username", (1, value))
    if field == "email":
        return [u for u in site.users.find("email", (1, php.to_string(value).lower())) if u.email == value]
    return [u for u in site.users.find("idnumber", value) if u.idnumber]


_GET_USERS_PARAMS = Single({"criteria": Multiple(Single({"key": Value(Param.ALPHA), "value": Value(Param.RAW)}))})
_GET_USERS_RETURNS = Single({"users": Multiple(user_description()), "warnings": warnings_description()})
_CRITERIA_TYPES = {
    "id": Param.INT,
    "idnumber": Param.RAW,
    "username": Param.USERNAME,
    "email": Param.RAW_TRIMMED,
    "auth": Param.AUTH,
    "lastname": Param.NOTAGS,
    "firstname": Param.NOTAGS,
}


@external("core_user_get_users", _GET_USERS_PARAMS, _GET_USERS_RETURNS, items=lambda p, r: len(r["users"]))
def get_users(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """Non-deleted users matching every criterion; unknown keys are skipped with a warning."""
    warnings: list[dict[str, Any]] = []
    used: set[str] = set()
    tests: list[tuple[str, php.Scalar]] = []
    for criterion in params["criteria"]:
        key = criterion["key"]
        if key in used:
            raise moodle_exception("keyalreadyset", "error/keyalreadyset", f"The key {key} can only be sent once")
        used.add(key)
        kind = _CRITERIA_TYPES.get(key)
        if kind is None:
            warnings.append(
                {
                    "item": key,
                    "warningcode": "invalidfieldparameter",
                    "message": f"The search key '{key}' is not supported, look at the web service documentation",
                }
            )
            continue
        tests.append((key, clean_param(criterion["value"], kind, call.site)))
    users = []
    for user in call.site.users.by_id():
        if user.deleted or not all(_matches(user, key, value) for key, value in tests):
            continue
        details = user_details(call, user)
        # A user is dropped when a searched field is not in the record (empty or hidden).
        if all(details.get(key) for key, _ in tests):
            users.append(details)
    return {"users": users, "warnings": warnings}


def _matches(user: User, key: str, value: php.Scalar) -> bool:
    if key in ("email", "firstname", "lastname"):
        return sql_like(php.to_string(value), getattr(user, key))
    if key == "id":
        return user.id == value
    return bool(getattr(user, key) == value)


# -- writing users ---------------------------------------------------------------------

_CREATE_PARAMS = Single({"users": Multiple(_CREATE_USER)})
_CREATE_RETURNS = Multiple(Single({"id": Value(Param.INT), "username": Value(Param.USERNAME)}))
_USER_COLUMNS = frozenset(f.name for f in fields(User))


@external("core_user_create_users", _CREATE_PARAMS, _CREATE_RETURNS, items=input_items("users"))
def create_users(call: Call, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Create users, all or nothing; returns their ids and usernames in input order."""
    site = call.site
    created = []
    with site.db.transaction():
        for data in params["users"]:
            created.append(_create_one(site, data))
    return created


def _create_one(site: MoodleSite, data: dict[str, Any]) -> dict[str, Any]:
    for name in ("username", "firstname", "lastname"):
        if php.trim(data[name]) == "":
            raise invalid_parameter(f"The field {name} cannot be blank")
    if site.users.find("username", (1, data["username"])):
        raise invalid_parameter(f"Username already exists: {data['username']}")
    auth = data["auth"]
    if auth not in site.config.installed_auths or auth in ("mnet", "webservice"):
        raise invalid_parameter(f"Invalid authentication type: {auth}")
    if data["lang"] not in site.config.installed_langs:
        raise invalid_parameter(f"Invalid language code: {data['lang']}")
    if data.get("theme") and data["theme"] not in site.config.installed_themes:
        raise invalid_parameter(f"Invalid theme: {data['theme']}")
    internal = site.auth_is_internal(auth)
    if internal and not data.get("password") and not data.get("createpassword"):
        raise invalid_parameter("Invalid password: you must provide a password, or set createpassword.")
    email = data["email"]
    if not is_valid_email(email):
        raise invalid_parameter(f"Email address is invalid: {email}")
    if not site.config.allowaccountssameemail and site.users.find("email", (1, email.lower())):
        raise invalid_parameter(f"Email address already exists: {email}")
    createpassword = bool(data.get("createpassword"))
    if internal and not createpassword and "password" in data:
        _check_password_policy(site, data["password"])
    password = "" if createpassword else data.get("password", "") if internal else "not cached"
    now = site.now()
    columns = {key: value for key, value in data.items() if key in _USER_COLUMNS and key != "password"}
    columns["country"] = _clean_country(columns.get("country", ""))
    columns["interests"] = _interests(columns.get("interests", ""))
    user = User(id=site.users.next_id(), password=password, timecreated=now, timemodified=now, **columns)
    site.users.put(user)
    site.create_context(CONTEXT_USER, user.id, site.system_context().id)
    _save_profile_fields(site, user.id, data.get("customfields") or [])
    if createpassword:
        _set_preference(site, user.id, "auth_forcepasswordchange", "1")
    _save_preferences(site, user.id, data.get("preferences") or [])
    return {"id": user.id, "username": user.username}


def _check_password_policy(site: MoodleSite, password: str) -> None:
    """``check_password_policy``: every failure as a ``<div>``, thrown as the error code itself."""
    policy = site.config.password_policy
    if not policy.enabled:
        return
    failures = []
    if len(password) < policy.minlength:
        failures.append(f"Passwords must be at least {policy.minlength} characters long.")
    if sum(c.isdigit() for c in password) < policy.digits:
        failures.append(f"Passwords must have at least {policy.digits} digit(s).")
    if sum(c.islower() for c in password) < policy.lower:
        failures.append(f"Passwords must have at least {policy.lower} lower case letter(s).")
    if sum(c.isupper() for c in password) < policy.upper:
        failures.append(f"Passwords must have at least {policy.upper} upper case letter(s).")
    if sum(not c.isalnum() for c in password) < policy.nonalphanum:
        failures.append(
            f"The password must have at least {policy.nonalphanum} special character(s) such as *, -, or #."
        )
    if failures:
        errmsg = "".join(f"<div>{failure}</div>" for failure in failures)
        raise moodle_exception(errmsg, f"error/{errmsg}")


def _clean_country(country: str) -> str:
    # core_user::clean_field replaces a code not in the country list with the (empty) site default.
    return country if re.fullmatch(r"[A-Z]{2}", country) else ""


def _interests(text: str) -> str:
    return ", ".join(part for part in (p.strip() for p in text.split(",")) if part)


def _save_profile_fields(site: MoodleSite, userid: int, values: list[dict[str, Any]]) -> None:
    """``profile_save_data``: unknown shortnames are ignored; a menu value must be an option."""
    for item in values:
        profile_field = site.profile_fields.first("shortname", item["type"])
        if profile_field is None:
            continue
        value = item["value"]
        if profile_field.datatype == "menu" and value not in profile_field.options:
            value = profile_field.defaultdata
        elif profile_field.datatype == "checkbox":
            value = "1" if value not in ("", "0") else "0"
        existing = site.profile_data.first("user_field", (userid, profile_field.id))
        row_id = existing.id if existing else site.profile_data.next_id()
        site.profile_data.put(ProfileData(row_id, userid, profile_field.id, value))


def _set_preference(site: MoodleSite, userid: int, name: str, value: str) -> None:
    existing = site.preferences.first("user_name", (userid, name))
    row_id = existing.id if existing else site.preferences.next_id()
    site.preferences.put(Preference(row_id, userid, name, value))


def _save_preferences(site: MoodleSite, userid: int, values: list[dict[str, Any]]) -> None:
    # Only preferences the caller may edit are saved; the rest are ignored silently.
    for item in values:
        if item["type"] in _EDITABLE_PREFERENCES:
            _set_preference(site, userid, item["type"], php.to_string(item["value"]))


_UPDATE_PARAMS = Single({"users": Multiple(_UPDATE_USER)})


@external(
    "core_user_update_users",
    _UPDATE_PARAMS,
    Single({"warnings": warnings_description()}),
    items=input_items("users"),
)
def update_users(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """Update users one transaction each; a failing user becomes a warning, the others commit."""
    warnings = []
    for data in params["users"]:
        try:
            with call.site.db.transaction():
                _update_one(call, data)
        except MoodleError as error:
            warnings.append(
                {"item": "user", "itemid": data["id"], "warningcode": error.errorcode, "message": error.message}
            )
    return {"warnings": warnings}


def _update_one(call: Call, data: dict[str, Any]) -> None:
    site = call.site
    existing = site.users.get(data["id"])
    if existing is None:
        raise moodle_exception("invaliduserid", "Invalid user ID", "Invalid user ID")
    if existing.id != call.user.id and site.is_siteadmin(existing.id) and not site.is_siteadmin(call.user.id):
        raise moodle_exception("usernotupdatedadmin", "Cannot update admin accounts", "Cannot update admin accounts")
    if existing.deleted:
        raise moodle_exception("usernotupdateddeleted", "error/usernotupdateddeleted", "User is a deleted user")
    if existing.mnethostid != 1:
        raise moodle_exception("usernotupdatedremote", "error/usernotupdatedremote", "User is a remote user")
    if existing.id == 1:
        raise moodle_exception("usernotupdatedguest", "error/usernotupdatedguest", "Cannot update guest account")
    email = data.get("email")
    if email is not None and email != existing.email:
        if not is_valid_email(email):
            raise moodle_exception("useremailinvalid", "error/useremailinvalid", "Invalid email address")
        if not site.config.allowaccountssameemail and any(
            other.id != existing.id for other in site.users.find("email", (1, email.lower()))
        ):
            raise moodle_exception("useremailduplicate", "Duplicate address", "Duplicate email address")
    if "password" in data:
        _check_password_policy(site, data["password"])
    changes = {key: value for key, value in data.items() if key in _USER_COLUMNS and key not in ("id", "password")}
    if "country" in changes:
        changes["country"] = _clean_country(changes["country"])
    if "interests" in changes:
        changes["interests"] = _interests(changes["interests"])
    if "password" in data and site.auth_is_internal(changes.get("auth", existing.auth)):
        changes["password"] = data["password"]
    changed = {key: value for key, value in changes.items() if getattr(existing, key) != value}
    if changed:
        # No username pre-check: the unique index (mnethostid, username) refuses a duplicate.
        site.users.put(replace(existing, timemodified=site.now(), **changed))
    _save_profile_fields(site, existing.id, data.get("customfields") or [])
    _save_preferences(site, existing.id, data.get("preferences") or [])


_DELETE_PARAMS = Single({"userids": Multiple(Value(Param.INT))})


@external("core_user_delete_users", _DELETE_PARAMS, None, items=input_items("userids"))
def delete_users(call: Call, params: dict[str, Any]) -> None:
    """Soft-delete users, all or nothing."""
    site = call.site
    with site.db.transaction():
        for userid in params["userids"]:
            user = site.users.get(userid)
            if user is None or user.deleted:
                raise missing_record("user", "SELECT * FROM {user} WHERE id = ? AND deleted = ?", [userid, 0])
            if site.is_siteadmin(user.id):
                raise moodle_exception("useradminodelete", "Administrator accounts cannot be deleted.")
            if user.id == call.user.id:
                raise moodle_exception("usernotdeletederror", "error/usernotdeletederror")
            delete_user(site, user)


def delete_user(site: MoodleSite, user: User) -> None:
    """``delete_user``: the row stays, renamed; memberships, roles and profile data go."""
    now = site.now()
    delname = clean_param(user.email or f"{user.username}.{user.id}@unknownemail.invalid", Param.USERNAME, site)
    delname = f"{php.to_string(delname)[: 100 - len(str(now)) - 1]}.{now}"
    while site.users.find("username", (user.mnethostid, delname)):
        delname = _php_increment(delname)
    remove_user_from_course_tables(site, user.id)
    for table in (site.cohort_members, site.preferences, site.profile_data):
        for row in table.find("user", user.id):
            table.delete(row.id)
    site.users.put(
        replace(
            user,
            deleted=True,
            username=delname,
            email=hashlib.md5(user.username.encode()).hexdigest(),
            idnumber="",
            timemodified=now,
        )
    )


def _php_increment(text: str) -> str:
    """PHP's ``$string++`` on a name ending in digits."""
    match = re.search(r"(\d+)$", text)
    if match is None:
        return text + "1"
    digits = match.group(1)
    return text[: match.start()] + str(int(digits) + 1).zfill(len(digits))
