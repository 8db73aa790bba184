"""Response bodies in the two REST formats, JSON and XML.

JSON is ``json_encode`` with PHP's default flags (``/`` escaped as ``\\/``, non-ASCII
as ``\\uXXXX``, an empty PHP array as ``[]``). XML is ``webservice_rest_server``'s
``xmlize_result``: it walks the *description*, so every declared key appears, a
missing one as ``<VALUE null="null"/>``, booleans as 1/0.
"""

from __future__ import annotations

import json
from typing import Any

from ps2moodle_testkit.emulators.moodle import php
from ps2moodle_testkit.emulators.moodle.errors import MoodleError
from ps2moodle_testkit.emulators.moodle.params import Description, Multiple, Single, Value

_XML_HEADER = '<?xml version="1.0" encoding="UTF-8" ?>\n'


def php_json(value: Any) -> str:
    """``json_encode($value)`` with default flags."""
    return json.dumps(_phpify(value), ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")


def _phpify(value: Any) -> Any:
    if isinstance(value, dict):
        # PHP has one array type: an empty one encodes as a JSON list.
        return {key: _phpify(item) for key, item in value.items()} if value else []
    if isinstance(value, list):
        return [_phpify(item) for item in value]
    return value


def json_result(value: Any) -> bytes:
    """The body of a successful JSON response (``null`` for functions without a return value)."""
    return php_json(value).encode("ascii")


def xml_result(value: Any, returns: Description | None) -> bytes:
    """The body of a successful XML response."""
    body = _XML_HEADER + "<RESPONSE>\n" + _xmlize(value, returns) + "</RESPONSE>\n"
    return body.encode("utf-8")


def _xmlize(value: Any, desc: Description | None) -> str:
    if desc is None:
        return ""
    if isinstance(desc, Value):
        if value is None:
            return '<VALUE null="null"/>\n'
        if isinstance(value, bool):
            value = int(value)
        return f"<VALUE>{php.htmlspecialchars(php.to_string(value))}</VALUE>\n"
    if isinstance(desc, Multiple):
        items = value.values() if isinstance(value, dict) else value or []
        return "<MULTIPLE>\n" + "".join(_xmlize(item, desc.content) for item in items) + "</MULTIPLE>\n"
    assert isinstance(desc, Single)
    source = value if isinstance(value, dict) else {}
    keys = "".join(f'<KEY name="{key}">{_xmlize(source.get(key), sub)}</KEY>\n' for key, sub in desc.keys.items())
    return "<SINGLE>\n" + keys + "</SINGLE>\n"


def json_error(error: MoodleError, debug: bool) -> bytes:
    """``generate_error`` in JSON: debuginfo only when debugging is on."""
    body: dict[str, Any] = {"exception": error.exception}
    if error.errorcode is not None:
        body["errorcode"] = error.errorcode
    body["message"] = error.message
    if debug and error.debuginfo is not None:
        body["debuginfo"] = error.debuginfo
    return php_json(body).encode("ascii")


def xml_error(error: MoodleError, debug: bool) -> bytes:
    """``generate_error`` in XML."""
    parts = [_XML_HEADER, f'<EXCEPTION class="{error.exception}">\n']
    if error.errorcode is not None:
        parts.append(f"<ERRORCODE>{php.htmlspecialchars(error.errorcode)}</ERRORCODE>\n")
    parts.append(f"<MESSAGE>{php.htmlspecialchars(error.message)}</MESSAGE>\n")
    if debug and error.debuginfo is not None:
        parts.append(f"<DEBUGINFO>{php.htmlspecialchars(error.debuginfo)}</DEBUGINFO>\n")
    parts.append("</EXCEPTION>\n")
    return "".join(parts).encode("utf-8")
