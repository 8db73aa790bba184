"""Installing a plugin ZIP in the emulated PowerSchool, as Plugin Management does.

:func:`install_plugin` reads ``plugin.xml`` from the ZIP's root and turns it into the
:class:`~.core.Plugin` settings the emulator enforces: ``accessLevelV1Api`` on
``<oauth>`` (absent: NONE, so every ``/ws/v1`` read is refused, reference §1.1) and the
``<access_request>`` fields (lower-cased ``table.column``; PowerSchool matches them
without regard to case). A plugin without ``<oauth>`` gets no credentials at all, so it
is refused here rather than installed uselessly.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from xml.etree import ElementTree as ET

from ps2moodle_testkit.emulators.powerschool.core import Plugin

_NS = "{http://plugin.powerschool.pearson.com}"


class PluginRefused(ValueError):
    """Plugin Management would not install (or not give credentials to) this ZIP."""


def install_plugin(data: bytes, base: Plugin | None = None) -> Plugin:
    """The plugin settings ``data`` (a plugin ZIP) gives, over ``base``'s page sizes and limits."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            xml = archive.read("plugin.xml")
    except (zipfile.BadZipFile, KeyError) as exc:
        raise PluginRefused(f"not a plugin ZIP with plugin.xml at its root ({exc})") from None
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise PluginRefused(f"plugin.xml: {exc}") from None
    if root.tag != f"{_NS}plugin" or not root.get("name"):
        raise PluginRefused("plugin.xml: the root must be <plugin name=...> in the plugin namespace")
    if root.find(f"{_NS}publisher/{_NS}contact") is None:
        raise PluginRefused("plugin.xml: <publisher> with a <contact email=...> is required")
    oauth = root.find(f"{_NS}oauth")
    if oauth is None:
        raise PluginRefused("plugin.xml: no <oauth/>, so PowerSchool issues the plugin no client credentials")
    fields = frozenset(
        f"{field.get('table', '').lower()}.{field.get('field', '').lower()}"
        for field in root.iterfind(f"{_NS}access_request/{_NS}field")
    )
    return replace(base or Plugin(), v1_access=oauth.get("accessLevelV1Api", "NONE"), access_request=fields)
