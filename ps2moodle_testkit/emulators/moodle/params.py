"""Function signatures and Moodle's strict parameter and return-value checks.

A signature is built from three description types, mirroring ``core_external``:
:class:`Value` (``external_value``), :class:`Single` (``external_single_structure``)
and :class:`Multiple` (``external_multiple_structure``). :func:`validate_parameters`
is ``external_api::validate_parameters``: it never cleans silently, it rejects unknown
keys, and its debuginfo names the path to the bad value. :func:`clean_returnvalue` is
``external_api::clean_returnvalue``: it drops undeclared keys, fills defaults, leaves
optional keys out, and types values by their declaration. ``clean_param`` holds the
``PARAM_*`` cleaning rules (``lib/classes/param.php``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from ps2moodle_testkit.emulators.moodle import php
from ps2moodle_testkit.emulators.moodle.errors import MoodleError, invalid_parameter, invalid_response


class Param(str, Enum):
    """``PARAM_*`` types; the value is the name Moodle prints in debuginfo."""

    INT = "int"
    BOOL = "bool"
    FLOAT = "float"
    RAW = "raw"
    RAW_TRIMMED = "raw_trimmed"
    TEXT = "text"
    NOTAGS = "notags"
    ALPHA = "alpha"
    ALPHANUM = "alphanum"
    ALPHANUMEXT = "alphanumext"
    USERNAME = "username"
    AUTH = "auth"
    LANG = "lang"
    THEME = "theme"
    TIMEZONE = "timezone"
    PLUGIN = "plugin"
    SAFEDIR = "safedir"
    SEQUENCE = "sequence"
    EMAIL = "email"
    URL = "url"
    CAPABILITY = "capability"


class Need(Enum):
    """``VALUE_REQUIRED``, ``VALUE_OPTIONAL`` and ``VALUE_DEFAULT``."""

    REQUIRED = 1
    OPTIONAL = 2
    DEFAULT = 0


@dataclass(frozen=True)
class Value:
    """``external_value``: one scalar of a ``PARAM_*`` type."""

    type: Param
    need: Need = Need.REQUIRED
    default: Any = None
    allownull: bool = True


@dataclass(frozen=True)
class Single:
    """``external_single_structure``: named keys, in declaration order."""

    keys: Mapping[str, Description]
    need: Need = Need.REQUIRED
    default: Any = None
    allownull: bool = True


@dataclass(frozen=True)
class Multiple:
    """``external_multiple_structure``: a list of one kind of item."""

    content: Description
    need: Need = Need.REQUIRED
    default: Any = None
    allownull: bool = True


Description = Value | Single | Multiple


def opt(kind: Param) -> Value:
    """An optional scalar: ``external_value(kind, ..., VALUE_OPTIONAL)``."""
    return Value(kind, Need.OPTIONAL)


def optional(desc: Description) -> Description:
    """The same description marked ``VALUE_OPTIONAL``."""
    return _with(desc, Need.OPTIONAL, None)


def default(desc: Description, value: Any) -> Description:
    """The same description marked ``VALUE_DEFAULT`` with ``value``."""
    return _with(desc, Need.DEFAULT, value)


def _with(desc: Description, need: Need, value: Any) -> Description:
    if isinstance(desc, Value):
        return Value(desc.type, need, value, desc.allownull)
    if isinstance(desc, Single):
        return Single(desc.keys, need, value, desc.allownull)
    return Multiple(desc.content, need, value, desc.allownull)


def warnings_description() -> Multiple:
    """``external_warnings``: the optional list of warnings many functions return."""
    return Multiple(
        Single(
            {
                "item": Value(Param.TEXT, Need.OPTIONAL),
                "itemid": Value(Param.INT, Need.OPTIONAL),
                "warningcode": Value(Param.ALPHANUM),
                "message": Value(Param.RAW),
            }
        ),
        Need.OPTIONAL,
    )


class Installed(Protocol):
    """What ``clean_param`` needs to know about the site's installed code."""

    @property
    def installed_auths(self) -> frozenset[str]: ...
    @property
    def installed_langs(self) -> frozenset[str]: ...
    @property
    def installed_themes(self) -> frozenset[str]: ...
    @property
    def capabilities(self) -> frozenset[str]: ...
    @property
    def extendedusernamechars(self) -> bool: ...


@dataclass(frozen=True)
class Plain:
    """A fixed :class:`Installed` for code that has no site at hand."""

    installed_auths: frozenset[str] = field(default_factory=frozenset)
    installed_langs: frozenset[str] = frozenset({"en"})
    installed_themes: frozenset[str] = field(default_factory=frozenset)
    capabilities: frozenset[str] = field(default_factory=frozenset)
    extendedusernamechars: bool = False


_PLUGIN_NAME = re.compile(r"^[a-z](?:[a-z0-9_](?!__))*[a-z0-9]+$")
_TIMEZONE = re.compile(r"^(([+-]?(0?[0-9](\.[5|0])?|1[0-3](\.0)?|1[0-2]\.5))|(99)|[A-Za-z0-9]+(/?[A-Za-z_-])+)$")
_EMAIL_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_EMAIL_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def is_valid_email(address: str) -> bool:
    """Moodle's ``validate_email``: PHP's ``FILTER_VALIDATE_EMAIL`` and no ``<`` or ``>``.

    A domain needs at least one dot (``root@localhost`` is refused).
    """
    if not address or "<" in address or ">" in address or len(address) > 320:
        return False
    local, at, domain = address.rpartition("@")
    if not at or not local or len(local) > 64 or not _EMAIL_LOCAL.match(local):
        return False
    labels = domain.split(".")
    return len(labels) >= 2 and all(_EMAIL_LABEL.match(label) for label in labels)


def clean_param(value: php.Scalar, kind: Param, site: Installed) -> php.Scalar:
    """``clean_param()``: the cleaned form of a scalar under a ``PARAM_*`` type."""
    if kind is Param.INT:
        return php.intval(value)
    if kind is Param.FLOAT:
        return float(php.to_string(value).strip()) if php.is_numeric(value) else 0.0
    if kind is Param.BOOL:
        return _clean_bool(value)
    if kind is Param.RAW:
        return value
    text = php.to_string(value)
    return _CLEAN_TEXT[kind](text, site)


def _clean_bool(value: php.Scalar) -> int:
    if isinstance(value, bool):
        return int(value)
    lowered = php.to_string(value).lower()
    if lowered in ("on", "yes", "true"):
        return 1
    if lowered in ("off", "no", "false"):
        return 0
    return 0 if value in (None, "", "0", 0) else 1


def _clean_username(text: str, site: Installed) -> str:
    text = php.trim(text).lower()
    if site.extendedusernamechars:
        return text
    return re.sub(r"[^-.@_a-z0-9]", "", text.replace(" ", ""))


def _clean_plugin(text: str, site: Installed) -> str:
    text = re.sub(r"[^a-zA-Z0-9_-]", "", text)
    return text if _PLUGIN_NAME.match(text) else ""


def _clean_member(text: str, allowed: frozenset[str]) -> str:
    return text if text in allowed else ""


_CLEAN_TEXT: dict[Param, Callable[[str, Installed], str]] = {
    Param.RAW_TRIMMED: lambda text, site: php.trim(text),
    Param.TEXT: lambda text, site: php.strip_tags(text),
    Param.NOTAGS: lambda text, site: php.strip_tags(text),
    Param.ALPHA: lambda text, site: re.sub(r"[^a-zA-Z]", "", text),
    Param.ALPHANUM: lambda text, site: re.sub(r"[^A-Za-z0-9]", "", text),
    Param.ALPHANUMEXT: lambda text, site: re.sub(r"[^a-zA-Z0-9_-]", "", text),
    Param.SAFEDIR: lambda text, site: re.sub(r"[^a-zA-Z0-9_-]", "", text),
    Param.SEQUENCE: lambda text, site: re.sub(r"[^0-9,]", "", text),
    Param.USERNAME: _clean_username,
    Param.PLUGIN: _clean_plugin,
    Param.AUTH: lambda text, site: _clean_member(_clean_plugin(text, site), site.installed_auths),
    Param.THEME: lambda text, site: _clean_member(_clean_plugin(text, site), site.installed_themes),
    Param.LANG: lambda text, site: _clean_member(re.sub(r"[^a-zA-Z0-9_-]", "", text), site.installed_langs),
    Param.TIMEZONE: lambda text, site: text if _TIMEZONE.match(text) else "",
    Param.EMAIL: lambda text, site: text if is_valid_email(text) else "",
    Param.URL: lambda text, site: text if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$", text) else "",
    Param.CAPABILITY: lambda text, site: _clean_member(text, site.capabilities),
}


def validate_param(
    value: Any, kind: Param, allownull: bool, site: Installed, debuginfo: Callable[[], str]
) -> php.Scalar:
    """``validate_param()``: the cleaned value, or ``invalid_parameter_exception`` if cleaning changed it.

    ``debuginfo`` builds the exception's debuginfo, only when one is thrown.
    """
    if value is None:
        if allownull:
            return None
        raise invalid_parameter(debuginfo())
    if isinstance(value, dict | list):
        raise invalid_parameter(debuginfo())
    scalar: php.Scalar = value
    if kind is Param.RAW or (kind is Param.INT and type(scalar) is int):
        return scalar  # nothing to clean: the common case, kept fast for large reads
    cleaned = clean_param(value, kind, site)
    if kind is Param.FLOAT:
        if not isinstance(value, int | float) and not re.match(
            r"^[+-]?[0-9]*\.?[0-9]*(e[-+]?[0-9]+)?$", php.to_string(value), re.IGNORECASE
        ):
            raise invalid_parameter(debuginfo())
    elif php.to_string(value) != php.to_string(cleaned):
        raise invalid_parameter(debuginfo())
    return cleaned


def _items(value: Any) -> list[Any]:
    return list(value.values()) if isinstance(value, dict) else list(value)


def _as_array(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {str(i): v for i, v in enumerate(value)}


def _print_r(value: Any) -> str:
    return "Array" if isinstance(value, dict | list) else php.to_string(value)


def validate_parameters(desc: Description, value: Any, site: Installed) -> Any:
    """``external_api::validate_parameters``: the validated, typed parameters."""
    if value is None and desc.allownull and not isinstance(desc, Value):
        return None
    if isinstance(desc, Value):
        if value is None and desc.allownull:
            return None
        if isinstance(value, dict | list):
            raise invalid_parameter("Scalar type expected, array or object received.")
        if desc.type is Param.BOOL and (isinstance(value, bool) or value in (0, 1, "0", "1")):
            return bool(int(value))
        kind = desc.type
        return validate_param(
            value,
            kind,
            desc.allownull,
            site,
            lambda: (
                f'Invalid external api parameter: the value is "{php.to_string(value)}", '
                f'the server was expecting "{kind.value}" type'
            ),
        )
    if not isinstance(value, dict | list):
        raise invalid_parameter(f"Only arrays accepted. The bad value is: '{_print_r(value)}'")
    if isinstance(desc, Multiple):
        return [validate_parameters(desc.content, item, site) for item in _items(value)]
    remaining = dict(_as_array(value))
    result: dict[str, Any] = {}
    for key, sub in desc.keys.items():
        if key not in remaining:
            if sub.need is Need.REQUIRED:
                raise invalid_parameter(f"Missing required key in single structure: {key}")
            if sub.need is Need.DEFAULT:
                result[key] = _nested(key, lambda sub=sub: validate_parameters(sub, sub.default, site))
        else:
            result[key] = _nested(key, lambda sub=sub, key=key: validate_parameters(sub, remaining[key], site))
        remaining.pop(key, None)
    if remaining:
        raise invalid_parameter(f"Unexpected keys ({', '.join(remaining)}) detected in parameter array.")
    return result


def _nested(key: str, check: Any) -> Any:
    try:
        return check()
    except MoodleError as error:
        if error.errorcode != "invalidparameter":
            raise
        raise invalid_parameter(f"{key} => {error.message}: {error.debuginfo}") from None


def clean_returnvalue(desc: Description, value: Any, site: Installed) -> Any:
    """``external_api::clean_returnvalue``: the response as the client will see it."""
    if value is None and desc.allownull:
        return None
    if isinstance(desc, Value):
        if isinstance(value, dict | list):
            raise invalid_response("Scalar type expected, array or object received.")
        if desc.type is Param.BOOL and (isinstance(value, bool) or value in (0, 1, "0", "1")):
            return bool(int(value))
        kind = desc.type
        try:
            return validate_param(
                value,
                kind,
                desc.allownull,
                site,
                lambda: (
                    f'Invalid external api response: the value is "{php.to_string(value)}" of PHP type '
                    f'"{_php_type(value)}", the server was expecting "{kind.value}" type'
                ),
            )
        except MoodleError as error:
            raise invalid_response(error.debuginfo or "") from None
    if isinstance(desc, Multiple):
        if not isinstance(value, dict | list):
            raise invalid_response(f"Only arrays accepted. The bad value is: '{_print_r(value)}'")
        return [clean_returnvalue(desc.content, item, site) for item in _items(value)]
    if not isinstance(value, dict | list):
        raise invalid_response(f"Only arrays/objects accepted. The bad value is: '{_print_r(value)}'")
    source = _as_array(value)
    result: dict[str, Any] = {}
    for key, sub in desc.keys.items():
        try:
            if key in source:
                result[key] = clean_returnvalue(sub, source[key], site)
            elif sub.need is Need.REQUIRED:
                raise invalid_response(
                    f"Error in response - Missing following required key in a single structure: {key}"
                )
            elif sub.need is Need.DEFAULT and isinstance(sub, Value):
                result[key] = clean_returnvalue(sub, sub.default, site)
        except MoodleError as error:
            if error.errorcode != "invalidresponse" or (key not in source and sub.need is Need.REQUIRED):
                raise
            raise invalid_response(f"{key} => {error.message}: {error.debuginfo}") from None
    return result


def _php_type(value: php.Scalar) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    return "NULL" if value is None else "string"
