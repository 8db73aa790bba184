"""``core_webservice_get_site_info``: who the token is, and what its service offers."""

from __future__ import annotations

from typing import Any

from ps2moodle_testkit.emulators.moodle.formatting import user_picture_url
from ps2moodle_testkit.emulators.moodle.params import Multiple, Param, Single, Value, default, optional
from ps2moodle_testkit.emulators.moodle.registry import FUNCTIONS, Call, external

# The advanced features a fresh 4.5 site reports.
_ADVANCED_FEATURES = (
    ("usecomments", 1),
    ("usetags", 1),
    ("enablenotes", 1),
    ("messaging", 1),
    ("enableblogs", 1),
    ("enablecompletion", 1),
    ("enablebadges", 1),
    ("messagingallusers", 0),
    ("enablecustomreports", 1),
    ("enableglobalsearch", 0),
    ("mnet_dispatcher_mode", 0),
    ("enablecompetencies", 1),
)

_PARAMS = Single({"serviceshortnames": default(Multiple(Value(Param.ALPHANUMEXT)), [])})

_RETURNS = Single(
    {
        "sitename": Value(Param.RAW),
        "username": Value(Param.RAW),
        "firstname": Value(Param.TEXT),
        "lastname": Value(Param.TEXT),
        "fullname": Value(Param.TEXT),
        "lang": Value(Param.SAFEDIR),
        "userid": Value(Param.INT),
        "siteurl": Value(Param.RAW),
        "userpictureurl": Value(Param.RAW),
        "functions": Multiple(Single({"name": Value(Param.RAW), "version": Value(Param.TEXT)})),
        "downloadfiles": optional(Value(Param.INT)),
        "uploadfiles": optional(Value(Param.INT)),
        "release": optional(Value(Param.TEXT)),
        "version": optional(Value(Param.TEXT)),
        "mobilecssurl": optional(Value(Param.RAW)),
        "advancedfeatures": optional(Multiple(Single({"name": Value(Param.ALPHANUMEXT), "value": Value(Param.INT)}))),
        "usercanmanageownfiles": optional(Value(Param.BOOL)),
        "userquota": optional(Value(Param.INT)),
        "usermaxuploadfilesize": optional(Value(Param.INT)),
        "userhomepage": optional(Value(Param.INT)),
        "userhomepageurl": optional(Value(Param.RAW)),
        "userprivateaccesskey": optional(Value(Param.ALPHANUM)),
        "siteid": optional(Value(Param.INT)),
        "sitecalendartype": optional(Value(Param.PLUGIN)),
        "usercalendartype": optional(Value(Param.PLUGIN)),
        "userissiteadmin": optional(Value(Param.BOOL)),
        "theme": optional(Value(Param.PLUGIN)),
        "limitconcurrentlogins": optional(Value(Param.INT)),
        "usersessionscount": optional(Value(Param.INT)),
        "policyagreed": optional(Value(Param.INT)),
    }
)


@external("core_webservice_get_site_info", _PARAMS, _RETURNS)
def get_site_info(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    """The token user's identity, the site's versions and the service's function list."""
    site, user = call.site, call.user
    config = site.config
    functions = [{"name": name, "version": _version(call, name)} for name in config.service_functions]
    return {
        "sitename": config.sitename,
        "username": user.username,
        "firstname": user.firstname,
        "lastname": user.lastname,
        "fullname": user.fullname,
        "lang": user.lang,
        "userid": user.id,
        "siteurl": config.wwwroot,
        "userpictureurl": user_picture_url(call, "f1"),
        "functions": functions,
        "downloadfiles": 0,
        "uploadfiles": 0,
        "release": config.release,
        "version": config.version,
        "mobilecssurl": "",
        "advancedfeatures": [{"name": name, "value": value} for name, value in _ADVANCED_FEATURES],
        "usercanmanageownfiles": True,
        "userquota": 0,
        "usermaxuploadfilesize": -1,
        "userhomepage": 1,
        "userprivateaccesskey": config.userprivateaccesskey,
        "siteid": 1,
        "sitecalendartype": "gregorian",
        "usercalendartype": user.calendartype,
        "userissiteadmin": site.is_siteadmin(user.id),
        "theme": config.theme,
        "limitconcurrentlogins": 0,
        "policyagreed": 0,
    }


def _version(call: Call, name: str) -> str:
    """The version of the component a function belongs to (core functions: the site version)."""
    function = FUNCTIONS.get(name)
    component = function.component if function is not None else "moodle"
    return call.site.config.component_versions.get(component, call.site.config.version)
