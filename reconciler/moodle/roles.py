"""Role shortnames to Moodle role ids, for enrolling and for reading roles back.

No web-service function lists roles, yet ``enrol_manual_enrol_users`` and
``core_role_assign_roles`` take a role *id*. The map draws on three sources, the first
that knows a shortname winning:

1. **seen**: every ``core_enrol_get_enrolled_users`` answer carries ``roleid`` and
   ``shortname`` for each role a user holds; the live reader feeds them in, so a site
   with enrolments proves its own numbering;
2. **configured**: ``moodle.role_ids`` in the config, for sites whose roles were
   renumbered or renamed;
3. **standard**: the ids Moodle's installer gives its standard roles, in the order
   ``create_role`` runs in ``lib/db/install.php`` (the golden site's ``_roles.json``).

A configured or standard id that an enrolment shows under *another* shortname is never
used. ``ps2moodle doctor`` checks every configured role's id against the site (see
:mod:`reconciler.moodle.checks`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from reconciler.config.model import MoodleSettings
from reconciler.moodle.errors import UnknownRole

#: Moodle's standard roles and the ids a fresh install gives them (lib/db/install.php).
STANDARD_ROLE_IDS: Mapping[str, int] = {
    "manager": 1,
    "coursecreator": 2,
    "editingteacher": 3,
    "teacher": 4,
    "student": 5,
    "guest": 6,
    "user": 7,
    "frontpage": 8,
}

SEEN = "seen on an enrolment"
CONFIGURED = "moodle.role_ids"
STANDARD = "Moodle's standard id"


class RoleMap:
    """Role shortname <-> id, learning from what Moodle shows. Thread-safe."""

    def __init__(
        self, configured: Mapping[str, int] | None = None, *, standard: Mapping[str, int] = STANDARD_ROLE_IDS
    ) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}
        self._seen_ids: dict[int, str] = {}
        self._layers = ((CONFIGURED, dict(configured or {})), (STANDARD, dict(standard)))

    @classmethod
    def from_settings(cls, settings: MoodleSettings) -> RoleMap:
        """The map for the config's Moodle section (its ``role_ids`` over the standard ids)."""
        return cls(dict(settings.role_ids))

    def learn(self, roles: Iterable[tuple[int, str]]) -> None:
        """Record ``(roleid, shortname)`` pairs Moodle has shown."""
        with self._lock:
            for roleid, shortname in roles:
                self._seen[shortname] = roleid
                self._seen_ids[roleid] = shortname

    def lookup(self, shortname: str) -> tuple[int, str] | None:
        """The id of ``shortname`` and where it comes from, or None when unknown."""
        with self._lock:
            if shortname in self._seen:
                return self._seen[shortname], SEEN
            for source, table in self._layers:
                roleid = table.get(shortname)
                if roleid is not None and self._seen_ids.get(roleid, shortname) == shortname:
                    return roleid, source
        return None

    def id_for(self, shortname: str) -> int:
        """The id of ``shortname``; :class:`UnknownRole` when no source knows it."""
        found = self.lookup(shortname)
        if found is None:
            raise UnknownRole(shortname)
        return found[0]
