"""PHP value semantics that Moodle's behaviour depends on.

Moodle validates web-service input by comparing PHP casts and string forms, so the
emulator needs the exact PHP rules: ``(int)`` casts of strings, loose ``==``,
``trim``, ``strip_tags``, ``htmlspecialchars`` and ``var_export`` (which shows up in
debuginfo). Only the parts Moodle actually exercises are implemented.
"""

from __future__ import annotations

import re

PHP_INT_MAX = 2**63 - 1
PHP_INT_MIN = -(2**63)

# Characters PHP's trim() removes by default.
_TRIM_CHARS = " \t\n\r\0\x0b"

# A PHP "numeric string" (PHP 8): optional leading whitespace, a number, optional trailing whitespace.
_NUMERIC = re.compile(r"^[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?[ \t\n\r\v\f]*$")
_LEADING_INT = re.compile(r"[+-]?\d+")
_LEADING_FLOAT = re.compile(r"^[ \t\n\r\v\f]*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")

Scalar = str | int | float | bool | None


def trim(value: str) -> str:
    """PHP ``trim()`` with its default character list."""
    return value.strip(_TRIM_CHARS)


def empty(value: Scalar) -> bool:
    """PHP ``empty()`` of a scalar: ``None``, ``""``, ``"0"``, ``0`` and ``False`` are empty."""
    if isinstance(value, str):
        return value in ("", "0")
    return value is None or value == 0


def is_numeric(value: Scalar) -> bool:
    """PHP ``is_numeric()``."""
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return True
    return bool(_NUMERIC.match(value))


def intval(value: Scalar) -> int:
    """PHP ``(int)`` cast, including leading-number parsing and saturation of huge numbers."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return 0
        return _saturate(int(value))
    match = _LEADING_FLOAT.match(value)
    if match is None:
        return 0
    number = match.group(0).strip(" \t\n\r\v\f")
    if _LEADING_INT.fullmatch(number):
        return _saturate(int(number))
    # A fraction or exponent makes PHP read the leading number as a float first.
    return _saturate(int(float(number)))


def _saturate(number: int) -> int:
    return max(PHP_INT_MIN, min(PHP_INT_MAX, number))


def to_string(value: Scalar) -> str:
    """PHP ``(string)`` cast."""
    if type(value) is str:
        return value
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, float):
        return _float_to_string(value)
    return str(value)


def _float_to_string(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def loose_equal(left: Scalar, right: Scalar) -> bool:
    """PHP 8 ``==`` between scalars (the cases Moodle's code compares)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return bool(left) == bool(right)
    if left is None or right is None:
        return to_string(left) == to_string(right)
    if isinstance(left, str) and isinstance(right, str):
        if is_numeric(left) and is_numeric(right):
            return float(left.strip()) == float(right.strip())
        return left == right
    if isinstance(left, str) or isinstance(right, str):
        text, number = (left, right) if isinstance(left, str) else (right, left)
        assert isinstance(text, str)
        if is_numeric(text):
            return float(text.strip()) == float(number)
        return text == to_string(number)
    return float(left) == float(right)


def strip_tags(value: str) -> str:
    """PHP ``strip_tags()`` without an allow-list.

    A ``<`` followed by whitespace is text, not a tag; an unterminated tag swallows
    the rest of the string; quotes inside a tag may contain ``>``.
    """
    if "<" not in value:
        return value
    out: list[str] = []
    i, length = 0, len(value)
    while i < length:
        char = value[i]
        if char == "<" and i + 1 < length and not value[i + 1].isspace():
            i = _skip_tag(value, i + 1)
            continue
        if char == "<" and i + 1 >= length:
            break
        out.append(char)
        i += 1
    return "".join(out)


def _skip_tag(value: str, i: int) -> int:
    if value.startswith("!--", i):
        end = value.find("-->", i + 3)
        return len(value) if end < 0 else end + 3
    quote = ""
    while i < len(value):
        char = value[i]
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == ">":
            return i + 1
        i += 1
    return i


def htmlspecialchars(value: str) -> str:
    """PHP ``htmlspecialchars($s, ENT_COMPAT)``: escapes ``& < > "`` but not ``'``."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def var_export_list(values: list[Scalar]) -> str:
    """PHP ``var_export()`` of a list, as Moodle prints SQL parameters in debuginfo."""
    lines = ["array ("]
    for index, item in enumerate(values):
        lines.append(f"  {index} => {_export_scalar(item)},")
    lines.append(")")
    return "\n".join(lines)


def _export_scalar(value: Scalar) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return to_string(value)
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"
