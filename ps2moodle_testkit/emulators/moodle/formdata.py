"""PHP's parsing of request variables into ``$_GET`` and ``$_POST``.

Moodle's REST server never sees the raw body: PHP has already turned
``users[0][username]=jdoe`` into nested arrays, under PHP's own rules, and stopped
after ``max_input_vars``. Those rules decide what a Moodle function receives, so they
are reproduced here exactly (``main/php_variables.c``):

- a name's base part has ``' '`` and ``'.'`` turned into ``'_'``; leading spaces are
  dropped; an empty base name drops the variable;
- each ``[key]`` nests one level, ``[]`` appends; text after a ``]`` that is not ``[``
  is ignored; an unterminated ``[`` becomes ``'_'`` and the name stays flat;
- a later assignment to the same key replaces the value but keeps its position;
  assigning into a key that holds a scalar replaces the scalar with an array;
- PHP counts a variable *after* registering it and stops once the count passes
  ``max_input_vars``, so ``max_input_vars + 1`` variables survive (the recordings
  show 5001 of 5003 kept with ``max_input_vars=5000``).
"""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import unquote_to_bytes

PhpValue = str | dict[str, "PhpValue"]
"""A request variable: a string leaf or an ordered PHP array keyed by strings."""

PhpArray = dict[str, PhpValue]


def parse_urlencoded_body(body: bytes, max_input_vars: int) -> PhpArray:
    """``$_POST`` from an ``application/x-www-form-urlencoded`` body.

    Every ``&``-separated piece counts towards the limit, even an empty one.
    """
    result: PhpArray = {}
    if not body:
        return result
    for count, piece in enumerate(body.split(b"&"), start=1):
        name, sep, value = piece.partition(b"=")
        register(result, _decode(name), _decode(value) if sep else "")
        if count > max_input_vars:
            break
    return result


def parse_query_string(query: str, max_input_vars: int) -> PhpArray:
    """``$_GET`` from a raw query string; empty pieces are skipped, as ``strtok`` does."""
    result: PhpArray = {}
    count = 0
    for piece in query.encode("latin-1", "ignore").split(b"&"):
        if not piece:
            continue
        name, _, value = piece.partition(b"=")
        register(result, _decode(name), _decode(value))
        count += 1
        if count > max_input_vars:
            break
    return result


def parse_multipart_body(body: bytes, content_type: str, max_input_vars: int) -> PhpArray:
    """``$_POST`` from a ``multipart/form-data`` body (file parts are not kept)."""
    result: PhpArray = {}
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        return result
    count = 0
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            continue
        payload = part.get_payload(decode=True)
        value = payload.decode("utf-8", "ignore") if isinstance(payload, bytes) else ""
        register(result, name, value)
        count += 1
        if count > max_input_vars:
            break
    return result


def _decode(raw: bytes) -> str:
    # PHP's urldecode: '+' is a space, %XX is a byte; invalid UTF-8 is dropped later by Moodle.
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", "ignore")


def register(target: PhpArray, name: str, value: str) -> None:
    """Register one variable the way ``php_register_variable_ex`` does."""
    name = name.split("\0", 1)[0].lstrip(" ")
    bracket = name.find("[")
    base_end = len(name) if bracket < 0 else bracket
    base = name[:base_end].replace(" ", "_").replace(".", "_")
    if not base:
        return
    keys: list[str | None] = [base]
    rest = name[base_end:]
    while rest.startswith("["):
        close = rest.find("]", 1)
        if close < 0:
            if len(keys) == 1:
                # An unterminated first bracket: the name stays flat, with '_' for '[', ' ' and '.'.
                flat = rest.replace(" ", "_").replace(".", "_").replace("[", "_")
                keys = [base + flat]
            break
        inner = rest[1:close]
        keys.append(None if inner in ("", " ") else inner)
        rest = rest[close + 1 :]
    _assign(target, keys, value)


def _assign(target: PhpArray, keys: list[str | None], value: str) -> None:
    table = target
    for key in keys[:-1]:
        if key is None:
            child: PhpArray = {}
            table[_next_index(table)] = child
        else:
            existing = table.get(key)
            if isinstance(existing, dict):
                child = existing
            else:
                child = {}
                table[key] = child
        table = child
    last = keys[-1]
    table[_next_index(table) if last is None else last] = value


def _next_index(table: PhpArray) -> str:
    indexes = [int(key) for key in table if _is_canonical_int(key)]
    return str(max(indexes) + 1 if indexes and max(indexes) >= 0 else 0)


def _is_canonical_int(key: str) -> bool:
    return key == "0" or (key.lstrip("-").isdigit() and not key.lstrip("-").startswith("0") and key.count("-") <= 1)


def merge_get_post(get: PhpArray, post: PhpArray) -> PhpArray:
    """``array_merge($_GET, $_POST)``: a top-level POST name replaces the GET one whole.

    Integer keys are renumbered and appended, as ``array_merge`` does.
    """
    merged: PhpArray = {}
    for source in (get, post):
        for key, value in source.items():
            merged[_next_index(merged) if _is_canonical_int(key) else key] = value
    return merged
