"""PowerSchool's ``q=`` filter (reference §7): ``field==value;field=ge=value``.

Operators ``==``, ``!=``, ``=gt=``, ``=ge=``, ``=lt=``, ``=le=``; ``;`` joins clauses with
AND (there is no OR); ``*`` is a wildcard in a string value; ``(a,b)`` is a list (IN).
Like PowerSchool, the structure is read from the *raw* query text and only the values
are percent-decoded afterwards, so a client that percent-encodes the whole expression
(``%3B`` for ``;``) gets a filter that matches nothing, or a 400 when no operator is left.

Matching: numbers compare as numbers, dates as dates, strings without regard to case;
an unset (None) value matches no clause.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import unquote

from ps2moodle_testkit.emulators.powerschool.tables import Column

_CLAUSE = re.compile(r"^(?P<field>[A-Za-z_][A-Za-z0-9_.]*)(?P<op>==|!=|=gt=|=ge=|=lt=|=le=)(?P<value>.*)$")

Predicate = Callable[[object], bool]


class QueryError(ValueError):
    """The filter cannot be parsed or names an unknown field; PowerSchool answers 400."""


@dataclass(frozen=True, slots=True)
class Clause:
    """One ``field op value`` term; ``values`` holds more than one item for ``(a,b)``."""

    field: str
    op: str
    values: tuple[str, ...]


def parse(raw: str, *, decoded: bool = False) -> tuple[Clause, ...]:
    """Parse a raw (still percent-encoded) ``q`` value. With ``decoded=True`` the whole
    text is decoded first, as a lenient server would."""
    text = unquote(raw) if decoded else raw
    clauses = []
    for part in text.split(";"):
        if not part:
            continue
        match = _CLAUSE.match(part)
        if match is None:
            raise QueryError(f"Invalid query expression: {unquote(part)!r}")
        value = match["value"]
        if value.startswith("(") and value.endswith(")"):
            values = tuple(unquote(v) for v in value[1:-1].split(","))
        else:
            values = (unquote(value),)
        clauses.append(Clause(match["field"].lower(), match["op"], values))
    return tuple(clauses)


def compile_filter(clauses: tuple[Clause, ...], columns: Mapping[str, Column]) -> Predicate:
    """A predicate over rows that is true when every clause matches."""
    tests = [_compile(c, columns) for c in clauses]
    if len(tests) == 1:
        return tests[0]

    def every(row: object) -> bool:  # a plain loop: all() over a generator is slower per row
        for test in tests:  # noqa: SIM110
            if not test(row):
                return False
        return True

    return every


def _compile(clause: Clause, columns: Mapping[str, Column]) -> Predicate:
    column = columns.get(clause.field)
    if column is None:
        raise QueryError(f"Invalid query: unknown field {clause.field!r}")
    get = column.get
    if clause.op in ("==", "!="):
        matchers = [_equals(column.kind, v) for v in clause.values]
        if clause.op == "==":
            return lambda row: (v := get(row)) is not None and any(m(v) for m in matchers)
        return lambda row: (v := get(row)) is not None and not any(m(v) for m in matchers)
    if len(clause.values) != 1:
        raise QueryError(f"Invalid query: {clause.op} takes one value")
    bound = _typed(column.kind, clause.values[0])
    if column.kind == "str":
        compare = _ORDER[clause.op]
        return lambda row: (v := get(row)) is not None and compare(str(v).casefold(), bound)
    # One closure per operator: this runs for every row of a filtered table.
    b: Any = bound
    if clause.op == "=gt=":
        return lambda row: (v := get(row)) is not None and v > b
    if clause.op == "=ge=":
        return lambda row: (v := get(row)) is not None and v >= b
    if clause.op == "=lt=":
        return lambda row: (v := get(row)) is not None and v < b
    return lambda row: (v := get(row)) is not None and v <= b


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "=gt=": operator.gt,
    "=ge=": operator.ge,
    "=lt=": operator.lt,
    "=le=": operator.le,
}


def _equals(kind: str, value: str) -> Callable[[object], bool]:
    if "*" in value:
        pattern = re.compile("^" + ".*".join(re.escape(p) for p in value.split("*")) + "$", re.IGNORECASE | re.DOTALL)
        return lambda v: pattern.match(_text(v)) is not None
    if kind == "str":
        folded = value.casefold()
        return lambda v: str(v).casefold() == folded
    typed = _typed(kind, value)
    return lambda v: v == typed


def _typed(kind: str, value: str) -> object:
    try:
        if kind == "int":
            return int(value)
        if kind == "date":
            return date.fromisoformat(value)
        if kind == "bool":
            return value.lower() in ("1", "true")
    except ValueError:
        raise QueryError(f"Invalid query value {value!r} for a {kind} field") from None
    return value.casefold()


def _text(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)
