"""The PowerSchool plugin a connection needs: ``plugin.xml`` and its ZIP (pure, no I/O).

PowerSchool gives API credentials only to an installed plugin (reference §1.1): a ZIP
with ``plugin.xml`` at its root, whose ``<oauth>`` element makes PowerSchool issue a
client id and secret, whose ``accessLevelV1Api`` attribute (PowerSchool 25.2+) opens the
``/ws/v1`` resources read-only, and whose ``<access_request>`` lists every table column
the plugin may read through ``/ws/schema``. The access request here is exactly what
:func:`reconciler.powerschool.source.fields_read` says this connection reads: the table
columns, the section migration field and the custom (extension) fields. ps2moodle runs
no PowerQuery, so the ZIP holds no ``queries_root``.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from reconciler import __version__
from reconciler.config.model import Connection
from reconciler.powerschool.source import fields_read

#: plugin.xml's namespace (XSD targetNamespace).
NAMESPACE = "http://plugin.powerschool.pearson.com"
#: The XSD's limits: plugin name 1-40, version 20, description 256, publisher name 100,
#: contact e-mail 1-40, table and field names 30 characters.
_LIMITS = {"name": 40, "version": 20, "description": 256, "publisher": 100, "email": 40, "column": 30}
#: ZIP entries get a fixed time so the same config always gives the same bytes.
_ZIP_TIME = (2024, 1, 1, 0, 0, 0)


class PluginError(ValueError):
    """A value the plugin XSD would refuse (too long or empty), named."""


@dataclass(frozen=True, slots=True)
class PluginSpec:
    """What goes into plugin.xml: identity, publisher and the fields read."""

    name: str
    version: str
    description: str
    publisher: str
    contact_email: str
    fields: tuple[tuple[str, str], ...]


def connection_fields(connection: Connection) -> list[tuple[str, str]]:
    """Every table field the sync of ``connection`` reads."""
    migration = connection.section_migration
    return fields_read(
        migration.field if migration else None,
        [f.source for f in connection.students.custom_fields],
        [f.source for f in connection.staff.custom_fields],
    )


def plugin_spec(connection: Connection, contact_email: str, publisher: str = "ps2moodle") -> PluginSpec:
    """The plugin of one connection: named after it, granting exactly what it reads."""
    fields = connection_fields(connection)
    return PluginSpec(
        name=f"ps2moodle {connection.name}"[: _LIMITS["name"]],
        version=__version__,
        description=f"Read-only PowerSchool access for the ps2moodle sync of connection {connection.name}"[:256],
        publisher=publisher,
        contact_email=contact_email,
        fields=tuple((table.upper(), column.upper()) for table, column in fields),
    )


def plugin_xml(spec: PluginSpec) -> str:
    """``plugin.xml`` for ``spec``, or :class:`PluginError` naming a value PowerSchool would refuse."""
    _check(spec)
    ET.register_namespace("", NAMESPACE)
    root = ET.Element(_tag("plugin"), {"name": spec.name, "version": spec.version, "description": spec.description})
    # accessLevelV1Api: without it PowerSchool 25.2+ denies every /ws/v1 read (the default is NONE).
    ET.SubElement(root, _tag("oauth"), {"accessLevelV1Api": "READ"})
    access = ET.SubElement(root, _tag("access_request"))
    for table, column in spec.fields:
        ET.SubElement(access, _tag("field"), {"table": table, "field": column, "access": "ViewOnly"})
    publisher = ET.SubElement(root, _tag("publisher"), {"name": spec.publisher})
    ET.SubElement(publisher, _tag("contact"), {"email": spec.contact_email})
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def plugin_zip(xml: str) -> bytes:
    """The installable ZIP: ``plugin.xml`` at its root (the same bytes for the same XML)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("plugin.xml", _ZIP_TIME), xml.encode())
    return buffer.getvalue()


def _tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _check(spec: PluginSpec) -> None:
    values = {
        "name": spec.name,
        "version": spec.version,
        "description": spec.description,
        "publisher": spec.publisher,
        "email": spec.contact_email,
    }
    for what, value in values.items():
        if len(value) > _LIMITS[what]:
            raise PluginError(f"plugin {what} {value!r} is longer than PowerSchool's {_LIMITS[what]} characters")
    for what in ("name", "publisher", "email"):
        if not values[what].strip():
            raise PluginError(f"plugin {what} must not be empty")
    for table, column in spec.fields:
        if len(table) > _LIMITS["column"] or len(column) > _LIMITS["column"]:
            raise PluginError(f"{table}.{column}: PowerSchool table and field names are at most 30 characters")
