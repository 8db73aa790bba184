"""How the emulated PowerSchool serializes: the quirks of reference §6, as switches.

Resources are built as clean Python values (dicts, lists, str, int, bool, date, None);
:func:`v1_json` turns them into what ``/ws/v1`` sends, applying each quirk that is on.
Schema endpoints (tables, PowerQueries) have their own rules: every value a string, keys
lower-case (:func:`table_value`). :func:`v1_xml` is the answer to a client that forgot
``Accept: application/json``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from xml.etree import ElementTree

_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_NUMBER_START = frozenset("-0123456789")


@dataclass(frozen=True, slots=True)
class Quirks:
    """The real API's serialization and behaviour quirks; each defaults to ON (as real)."""

    #: Q1: a one-element list is sent as the element itself.
    single_item_as_object: bool = True
    #: Q2: an empty list's key is left out.
    empty_list_omitted: bool = True
    #: Q3: a string that reads back identically as a number is sent as a JSON number.
    numeric_strings_as_numbers: bool = True
    #: Q4: a requested but empty block is sent as "".
    empty_block_as_string: bool = True
    #: Q5: null fields are left out.
    omit_nulls: bool = True
    #: Q6: @expansions / @extensions attributes inside wrappers and objects.
    attributes: bool = True
    #: The token response's expires_in is a string of seconds.
    expires_in_as_string: bool = True
    #: /ws/v1 answers XML when the request has no JSON Accept header.
    xml_without_accept: bool = True
    #: q= is parsed before percent-decoding (an encoded ';' or '=' breaks the filter).
    raw_fiql: bool = True
    #: /ws/v1/school/{id}/student without q= lists active students only.
    students_active_by_default: bool = True
    #: /ws/v1/district/school/count leaves out the Graduated Students school it lists.
    graduated_school_uncounted: bool = True
    #: Staff carry users_dcid (newer servers; a 2016 server did not).
    staff_users_dcid: bool = True
    #: Table responses name the table capitalised ("Students").
    capitalized_table_name: bool = True
    #: An unset date in a table reads as PowerSchool's "no date", 1900-01-01 (else "").
    null_date_sentinel: bool = True

    @classmethod
    def none(cls) -> Quirks:
        """Every quirk off: the well-behaved API the Swagger schema pretends to describe."""
        return cls(**{name: False for name in cls.__dataclass_fields__})


def _scalar(value: object, quirks: Quirks) -> object:
    if isinstance(value, date):
        return value.isoformat()
    if (
        type(value) is str
        and quirks.numeric_strings_as_numbers
        and value[:1] in _NUMBER_START  # cheap test first: most strings are names
        and _NUMBER.fullmatch(value)
    ):
        number: int | float = float(value) if "." in value else int(value)
        if str(number) == value:
            return number
    return value


def v1_json(value: object, quirks: Quirks) -> Any:
    """A clean resource tree as ``/ws/v1`` would send it."""
    if type(value) is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key.startswith("@") and not quirks.attributes:
                continue
            if item is None:
                if not quirks.omit_nulls:
                    out[key] = None
                continue
            if type(item) is list:
                items = [v1_json(x, quirks) for x in item]
                if not items and quirks.empty_list_omitted:
                    continue
                out[key] = items[0] if len(items) == 1 and quirks.single_item_as_object else items
                continue
            rendered = v1_json(item, quirks)
            out[key] = "" if rendered == {} and quirks.empty_block_as_string else rendered
        return out
    return _scalar(value, quirks)


def v1_xml(value: object, root: str) -> bytes:
    """A clean resource tree as XML (what v1 answers without a JSON Accept header)."""

    def build(parent: ElementTree.Element, tag: str, item: object) -> None:
        if isinstance(item, list):
            for x in item:
                build(parent, tag, x)
            return
        child = ElementTree.SubElement(parent, tag)
        if isinstance(item, dict):
            for key, sub in item.items():
                if key.startswith("@"):
                    child.set(key[1:], str(sub))
                elif sub is not None:
                    build(child, key, sub)
        elif item is not None:
            child.text = (
                item.isoformat()
                if isinstance(item, date)
                else str(item).lower()
                if isinstance(item, bool)
                else str(item)
            )

    holder = ElementTree.Element("holder")
    build(holder, root, value)
    text: bytes = ElementTree.tostring(holder[0], encoding="utf-8", xml_declaration=True)
    return text


def table_value(value: Any, kind: str, quirks: Quirks) -> str:
    """A column value as the schema endpoints send it: always a string."""
    kind_of = type(value)
    if kind_of is str:
        return value  # type: ignore[no-any-return]
    if kind_of is int:
        return str(value)
    if value is None:
        return "1900-01-01" if kind == "date" and quirks.null_date_sentinel else ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def expires_in(seconds: int, quirks: Quirks) -> str | int:
    """The token lifetime as PowerSchool sends it."""
    return str(seconds) if quirks.expires_in_as_string else seconds
