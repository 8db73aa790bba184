"""``/webservice/rest/server.php``: Moodle's REST protocol, check by check.

The order of checks is ``webservice_base_server::run()``: protocol enabled (else 403,
empty body); request parsed (PHP variables, ``max_input_vars``, the reserved
``wstoken``/``wsfunction``/``moodlewsrestformat``/``moodlewssetting*`` names); token
and its user; function known, then in the service; parameters validated against the
whole signature; the function run; its result cleaned against the return
description. Every failure is HTTP 200 with an error body in the requested format.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ps2moodle_testkit.emulators.moodle import formdata
from ps2moodle_testkit.emulators.moodle.encoding import json_error, json_result, xml_error, xml_result
from ps2moodle_testkit.emulators.moodle.errors import (
    MoodleError,
    access_exception,
    invalid_parameter,
    missing_record,
    moodle_exception,
)
from ps2moodle_testkit.emulators.moodle.faults import Admission
from ps2moodle_testkit.emulators.moodle.model import User
from ps2moodle_testkit.emulators.moodle.params import Param, Plain, clean_param, clean_returnvalue, validate_parameters
from ps2moodle_testkit.emulators.moodle.permissions import require_protocol, run_checked
from ps2moodle_testkit.emulators.moodle.registry import KNOWN_ELSEWHERE, Call, ExternalFunction, load_all
from ps2moodle_testkit.emulators.moodle.site import MoodleSite

ENDPOINT = "/webservice/rest/server.php"

_HEADERS = {
    "Cache-Control": "private, must-revalidate, pre-check=0, post-check=0, max-age=0",
    "Expires": "Thu, 01 Jan 1970 00:00:00 GMT",
    "Pragma": "no-cache",
    "Accept-Ranges": "none",
    "Access-Control-Allow-Origin": "*",
}
_JSON_HEADERS = {"Content-Type": "application/json", **_HEADERS}
_XML_HEADERS = {"Content-Type": "application/xml; charset=utf-8", **_HEADERS}

_NOT_IN_SERVICE = """Access to the function {name}() is not allowed.
                     There could be multiple reasons for this:
                     1. The service linked to the user token does not contain the function.
                     2. The service is user-restricted and the user is not listed.
                     3. The service is IP-restricted and the user IP is not listed.
                     4. The service is time-restricted and the time has expired.
                     5. The token is time-restricted and the time has expired.
                     6. The service requires a specific capability which the user does not have.
                     7. The function is called with username/password (no user token is sent)
                     and none of the services has the function to allow the user.
                     These settings can be found in Administration > Site administration
                     > Server > Web services > External services and Manage tokens."""

_SETTINGS = ("raw", "fileurl", "filter", "lang", "timezone")

#: Lets a validated call run (lock waits, a deadlock), or None for the usual cost.
Admit = Callable[[ExternalFunction, dict[str, Any]], Admission | None]


@dataclass(frozen=True)
class Outcome:
    """A REST reply and what it cost: the function run (if any) and how many items it
    handled, or the seconds its admission charged (work and lock waits)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    function: str | None = None
    items: int = 0
    charged_s: float | None = None


def handle_rest(
    site: MoodleSite, method: str, query: str, headers: Mapping[str, str], body: bytes, admit: Admit | None = None
) -> Outcome:
    """Serve one request to the REST endpoint; ``admit`` lets each validated call run."""
    if not site.config.rest_enabled:
        return Outcome(403, {}, b"")
    limit = site.config.max_input_vars
    get = formdata.parse_query_string(query, limit)
    post = _parse_body(method, headers, body, limit)
    raw, filtered = _call_settings(get, post)
    variables = formdata.merge_get_post(get, post)
    restformat = variables.pop("moodlewsrestformat", "xml")
    as_json = restformat == "json"
    token = variables.pop("wstoken", None)
    name = variables.pop("wsfunction", None)
    admission: Admission | None = None
    with site.lock:
        try:
            user = _authenticate(site, token)
            require_protocol(site, user)
            function = _load_function(site, name)
            params = validate_parameters(function.parameters, variables, site)

            def run_admitted(call: Call, params: dict[str, Any]) -> Any:
                # Past the permission checks, as on a real site, where only writes meet a lock.
                nonlocal admission
                admission = admit(function, params) if admit is not None else None
                if admission is not None and admission.refused is not None:
                    raise admission.refused
                return function.run(call, params)

            result = run_checked(replace(function, run=run_admitted), Call(site, user, raw, filtered), params)
            cleaned = clean_returnvalue(function.returns, result, site) if function.returns is not None else None
        except MoodleError as error:
            body = json_error(error, site.config.debug) if as_json else xml_error(error, site.config.debug)
            return Outcome(
                200,
                _JSON_HEADERS if as_json else _XML_HEADERS,
                body,
                name if isinstance(name, str) else None,
                charged_s=admission.seconds if admission is not None else None,
            )
    items = function.items(params, result)
    charged = admission.seconds if admission is not None else None
    if as_json:
        return Outcome(200, _JSON_HEADERS, json_result(cleaned), function.name, items, charged)
    return Outcome(200, _XML_HEADERS, xml_result(cleaned, function.returns), function.name, items, charged)


def _parse_body(method: str, headers: Mapping[str, str], body: bytes, limit: int) -> formdata.PhpArray:
    # PHP fills $_POST only for POST requests with a form content type; a JSON body is never read.
    if method != "POST":
        return {}
    content_type = headers.get("content-type", "")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return formdata.parse_urlencoded_body(body, limit)
    if kind == "multipart/form-data":
        return formdata.parse_multipart_body(body, content_type, limit)
    return {}


def _call_settings(get: formdata.PhpArray, post: formdata.PhpArray) -> tuple[bool, bool]:
    """Take the ``moodlewssetting*`` names out of the request; return ``raw`` and ``filter``.

    They are *cleaned*, not validated (``optional_param``), POST before GET; both default to off.
    """
    values: dict[str, Any] = {}
    for setting in _SETTINGS:
        name = f"moodlewssetting{setting}"
        values[setting] = post.get(name, get.get(name))
        get.pop(name, None)
        post.pop(name, None)
    return _flag(values["raw"]), _flag(values["filter"])


def _flag(value: Any) -> bool:
    return isinstance(value, str) and clean_param(value, Param.BOOL, Plain()) == 1


def _authenticate(site: MoodleSite, token: Any) -> User:
    """``authenticate_by_token`` and the checks on the token's user."""
    userid = site.tokens.get(token) if isinstance(token, str) and token else None
    user = site.users.get(userid) if userid is not None else None
    if user is None:
        raise moodle_exception("invalidtoken", "Invalid token - token not found")
    for refused, state in (
        (user.deleted, "deleted"),
        (not user.confirmed, "unconfirmed"),
        (user.suspended, "suspended"),
        (user.auth == "nologin", "nologin authentication"),
    ):
        if refused:
            code = "wsaccessuser" + state.split(" ")[0]
            raise moodle_exception(code, f"Refused web service access for {state} username: {user.username}")
    return user


def _load_function(site: MoodleSite, name: Any) -> ExternalFunction:
    """``load_function_info``: known function, then allowed by the token's service."""
    if not isinstance(name, str) or not name:
        raise invalid_parameter("Missing function name")
    functions = load_all()
    if name not in functions and name not in KNOWN_ELSEWHERE:
        raise missing_record("external_functions", "SELECT * FROM {external_functions} WHERE name = ?", [name])
    if name not in site.config.service_functions or name not in functions:
        raise access_exception(_NOT_IN_SERVICE.format(name=name))
    return functions[name]
