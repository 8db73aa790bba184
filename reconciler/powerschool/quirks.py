"""Every PowerSchool serialization quirk, ironed out in one place (reference §6).

The rest of the client reads PowerSchool only through these functions:

- Q1/Q2: a repeated element is a list, one object, or missing (:func:`as_list`);
- Q3: numbers and strings swap (``114679`` vs ``"TestID"``) (:func:`text`, :func:`integer`);
- Q4: an empty block is ``""`` rather than ``{}`` (:func:`block`);
- Q5: null fields are left out (every getter tolerates a missing key);
- Q6: ``@expansions``/``@extensions`` sit beside the records (:func:`v1_records`);
- Q7: extension (custom) fields are nested lists of ``{name, value}`` (:func:`extension_fields`);
- Q8: schema endpoints send every value as a string under lower-case keys (:func:`table_records`);
- Q9: dates are ``YYYY-MM-DD``; ``1900-01-01`` and ``""`` mean no date (:func:`day`);
- counts are ``{"resource": {"count": N}}`` on v1 and ``{"count": N}`` elsewhere (:func:`count`);
- a token's ``expires_in`` is a string or a number (:func:`seconds`).

Malformed input raises ``ValueError``; callers add what they were reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from typing import Any

#: PowerSchool's stored "no date".
NO_DATE = "1900-01-01"


# The functions below run for every field of every record (millions at district scale),
# so they test exact types first: JSON decodes to dict, list, str, int, float, bool, None.


def as_list(value: object) -> list[Any]:
    """Q1/Q2: None or "" -> [], one object -> [object], a list -> itself."""
    if type(value) is list:
        return value
    if value is None or value == "":
        return []
    return [value]


def block(value: object) -> dict[str, Any]:
    """Q4: an expansion block; "" (empty) and a missing block read as {}."""
    if type(value) is dict:
        return value
    if value is None or value == "":
        return {}
    raise ValueError(f"expected an object, got {type(value).__name__}")


def text(value: Any) -> str:
    """Q3: a scalar as text; a number is printed back as PowerSchool stored it, None is ""."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return str(value)
    raise ValueError(f"expected a scalar, got {kind.__name__}")


def integer(value: Any) -> int:
    """Q3/Q8: an id or number sent as a JSON number or as a string."""
    kind = type(value)
    if kind is int:
        return value  # type: ignore[no-any-return]
    if kind is str:
        return int(value)
    if kind is bool or value is None:
        raise ValueError(f"expected a number, got {value!r}")
    return int(text(value))


def integer_or_none(value: object) -> int | None:
    """Like :func:`integer`, but a missing or empty value is None."""
    return None if value is None or value == "" else integer(value)


def flag(value: object) -> bool:
    """A boolean sent as JSON ``true`` or, by the schema endpoints, as ``"1"``/``"true"``."""
    if isinstance(value, bool):
        return value
    return text(value).strip().lower() in ("1", "true")


def day(value: object) -> date | None:
    """Q9: a ``YYYY-MM-DD`` date; "", a missing value and 1900-01-01 mean no date."""
    return _day(text(value).strip())


@lru_cache(maxsize=8192)
def _day(value: str) -> date | None:
    # Cached: a roster holds a few hundred distinct dates across 300,000 enrolments.
    if not value or value == NO_DATE:
        return None
    return date.fromisoformat(value[:10])


def seconds(value: object) -> float:
    """A token's ``expires_in``: a JSON string of seconds on real servers, a number on some."""
    return float(text(value))


def count(body: object) -> int:
    """A count response: ``{"resource": {"count": N}}`` (v1) or ``{"count": N}`` (schema)."""
    if isinstance(body, dict):
        inner = body.get("resource")
        source = inner if isinstance(inner, dict) else body
        if "count" in source:
            return integer(source["count"])
    raise ValueError("no count in the response")


def v1_records(body: object, plural: str) -> list[dict[str, Any]]:
    """The records of a v1 list: ``{"students": {"student": [...]}}`` with Q1, Q2, Q4, Q6.

    A page past the end, or an empty school, comes back as a wrapper without the
    element key, an empty-string wrapper, or no wrapper at all: all read as [].
    """
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    wrapper = block(body.get(plural))
    records = as_list(wrapper.get(plural[:-1]))
    for record in records:
        if type(record) is not dict:
            raise ValueError(f"expected {plural[:-1]} objects")
    return records


def table_records(body: object, table: str) -> list[dict[str, str]]:
    """Rows of a table query or PowerQuery as ``{column: text}`` with lower-case keys.

    Handles both PowerQuery shapes: grouped (``record[].tables.<table>``, the table key
    lower-case whatever case was asked) and flattened (columns on the record itself).
    A page past the end may have no ``record`` at all.
    """
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    rows = []
    wanted = table.lower()
    for record in as_list(body.get("record")):
        if type(record) is not dict:
            raise ValueError("expected record objects")
        tables = record.get("tables")
        if type(tables) is dict:
            found = tables.get(wanted)
            if found is None:
                found = {k.lower(): v for k, v in tables.items()}.get(wanted)
            if type(found) is not dict:
                raise ValueError(f"record has no {table} columns")
            columns: dict[str, Any] = found
        else:
            columns = record
        rows.append({k.lower(): text(v) for k, v in columns.items() if type(v) is not dict and type(v) is not list})
    return rows


def extension_fields(record: Mapping[str, Any]) -> dict[str, str]:
    """Q7: a v1 record's extension (custom) fields as ``{"table.field": text}``, lower-case
    names. ``recordFound`` is ignored: it is false even when fields have values."""
    values: dict[str, str] = {}
    data = block(record.get("_extension_data"))
    for table in as_list(data.get("_table_extension")):
        name = text(block(table).get("name")).lower()
        for f in as_list(block(table).get("_field")):
            field = block(f)
            values[f"{name}.{text(field.get('name')).lower()}"] = text(field.get("value"))
    return values


def error_detail(body: object) -> str:
    """PowerSchool's GitHub-style error body as one line: the message, then each
    ``resource.field: code`` (the fields a plugin lacks access to, for instance)."""
    if not isinstance(body, dict):
        return ""
    message = text(body.get("message") or body.get("error_description") or body.get("error"))
    details = [
        f"{text(block(e).get('resource'))}.{text(block(e).get('field'))}: {text(block(e).get('code'))}"
        for e in as_list(body.get("errors"))
        if isinstance(e, dict)
    ]
    return "; ".join([message, *details]) if details else message
