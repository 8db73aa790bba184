"""Which of the fields a connection reads its installed plugin may not read (doctor's check).

``GET /ws/schema/table/{table}/metadata?expansions=access`` lists each column of a table
with the calling plugin's access to it (``ViewOnly``, ``FullAccess``, ``NoAccess``,
``BlackListNoAccess``; reference §5.1). A read of a column without access is refused
with PowerSchool's list of denied fields, so a field the plugin lacks is found here,
before a sync fails on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.errors import SourceError
from reconciler.powerschool.client import PowerSchoolClient

_READABLE = frozenset({"viewonly", "fullaccess"})


@dataclass(frozen=True, slots=True)
class PluginAccess:
    """``missing``: ``TABLE.FIELD`` the plugin may not read; ``unknown``: fields their
    table does not have (a mistyped custom field); ``unchecked``: tables whose metadata
    could not be read, with the reason."""

    missing: tuple[str, ...]
    unknown: tuple[str, ...]
    unchecked: tuple[tuple[str, str], ...]


def plugin_access(client: PowerSchoolClient, fields: Sequence[tuple[str, str]]) -> PluginAccess:
    """The fields of ``fields`` (``(table, column)``) the plugin behind ``client`` lacks."""
    by_table: dict[str, list[str]] = {}
    for table, column in fields:
        by_table.setdefault(table.lower(), []).append(column.lower())
    missing: list[str] = []
    unknown: list[str] = []
    unchecked: list[tuple[str, str]] = []
    for table, columns in by_table.items():
        try:
            body = client.get(f"/ws/schema/table/{table}/metadata", (("expansions", "access"),), kind="metadata")
        except SourceError as exc:
            unchecked.append((table.upper(), str(exc)))
            continue
        listed = body.get("columns") if isinstance(body, dict) else None
        access = {
            str(c.get("name", "")).lower(): str(c.get("access", "")).lower()
            for c in listed or ()
            if isinstance(c, dict)
        }
        unknown += [f"{table.upper()}.{c.upper()}" for c in columns if c not in access]
        missing += [f"{table.upper()}.{c.upper()}" for c in columns if c in access and access[c] not in _READABLE]
    return PluginAccess(tuple(missing), tuple(unknown), tuple(unchecked))
