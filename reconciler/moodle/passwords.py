"""The first password of each new account, as the config says (never logged, never planned).

Moodle needs one for *internal* auth plugins only (manual, email, nologin, none, lti, db
with internal passwords): either ``createpassword=1`` (Moodle generates one, e-mails it
and forces a change at first login) or a given password plus the
``auth_forcepasswordchange`` preference. External auths (oauth2, ldap, cas, saml2...)
get neither, so nobody is mailed a password they cannot use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from reconciler.config.model import Config, PasswordMode, PeopleSettings
from reconciler.errors import SecretError
from reconciler.model import OWNED_PREFIX, User

#: Auth plugins whose accounts must have a password in Moodle (moodle-ws.md §3.3).
INTERNAL_AUTHS = frozenset({"manual", "email", "nologin", "none", "lti", "db"})


@dataclass(frozen=True, slots=True)
class NewPassword:
    """How one new account gets its password: ``generate`` (Moodle makes and mails one),
    an ``initial`` one to change at first login, or nothing (external auth)."""

    generate: bool = False
    initial: str | None = field(default=None, repr=False)

    def create_params(self) -> dict[str, object]:
        """The ``core_user_create_users`` fields for this choice."""
        if self.generate:
            return {"createpassword": True}
        if self.initial is not None:
            return {
                "password": self.initial,
                "preferences": [{"type": "auth_forcepasswordchange", "value": "1"}],
            }
        return {}


class Passwords:
    """Chooses :class:`NewPassword` per new user from each connection's student and staff
    settings (users are keyed ``ps2m:<connection>:student|staff:<dcid>``). Secrets are
    read once, on first use."""

    def __init__(self, settings: dict[tuple[str, str], PeopleSettings]) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._resolved: dict[tuple[str, str], NewPassword] = {}

    @classmethod
    def from_config(cls, config: Config) -> Passwords:
        """The choices the config makes for every connection."""
        table: dict[tuple[str, str], PeopleSettings] = {}
        for conn in config.connections:
            table[(conn.name, "student")] = conn.students
            table[(conn.name, "staff")] = conn.staff
        return cls(table)

    def __call__(self, user: User) -> NewPassword:
        if user.auth not in INTERNAL_AUTHS:
            return NewPassword()
        parts = user.key.id.removeprefix(OWNED_PREFIX).split(":")
        slot = (parts[0], parts[1]) if len(parts) > 2 else ("", "")
        with self._lock:
            if slot not in self._resolved:
                self._resolved[slot] = self._choose(self._settings.get(slot))
            return self._resolved[slot]

    @staticmethod
    def _choose(people: PeopleSettings | None) -> NewPassword:
        if people is None or people.password is PasswordMode.GENERATE:
            return NewPassword(generate=True)
        if people.initial_password is None:
            raise SecretError("password: initial is configured without initial_password")
        return NewPassword(initial=people.initial_password.resolve())
