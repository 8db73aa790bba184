"""Reading accounts: owned ones by idnumber, the holders of usernames and emails desired
accounts need, and owned accounts met only through their memberships (by id)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reconciler.model import Key, Kind, User, pairs
from reconciler.moodle.client import MoodleClient
from reconciler.moodle.live.found import Call, Found, Handler, owned, text

#: Usernames Moodle accepts as a lookup value (PARAM_USERNAME, extendedusernamechars off).
_LOOKUP_USERNAME = re.compile(r"^[a-z0-9._@-]+$")
#: Emails safe to look up (a conservative subset of what Moodle's validate_email takes).
_LOOKUP_EMAIL = re.compile(r"^[a-z0-9._%+'-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+$")


class Users:
    """The accounts read, by Moodle id: ``keys`` for owned ones (read or met on a
    membership), ``not_ours`` for the others; ``read`` are the owned keys whose account
    was read in full."""

    def __init__(self, client: MoodleClient, found: Found) -> None:
        self.client = client
        self.found = found
        desired = [r for r in found.desired.by_kind(Kind.USER) if isinstance(r, User)]
        self.profile_names = sorted({name for u in desired for name, _ in u.profile})
        self.custom_names = sorted({name for u in desired for name, _ in u.customfields})
        self.keys: dict[int, Key] = {}
        self.not_ours: set[int] = set()
        self.read: set[Key] = set()

    # What to ask ------------------------------------------------------------------

    def by_idnumber(self, also_users: Iterable[Key]) -> list[Call]:
        """The desired accounts and ``also_users``, by idnumber."""
        idnumbers = sorted({r.key.id for r in self.found.desired.by_kind(Kind.USER)} | {k.id for k in also_users})
        return self.lookups("idnumber", idnumbers)

    def username_holders(self) -> list[Call]:
        """Usernames desired accounts do not hold yet: not found, or renamed (PowerSchool
        changed a login, or someone changed it in Moodle), which another account may block."""
        missing = [
            r.username
            for r in self.found.desired.by_kind(Kind.USER)
            if isinstance(r, User)
            and _LOOKUP_USERNAME.match(r.username)
            and (r.key not in self.read or self.renamed(r))
        ]
        return self.lookups("username", sorted(set(missing)), self.on_username_holders)

    def email_holders(self) -> list[Call]:
        """The emails of desired accounts to be created."""
        return self.lookups("email", sorted(self.emails_to_check()), self.on_email_holders)

    def by_id(self, ids: Iterable[int]) -> list[Call]:
        return self.lookups("id", sorted(ids))

    def unread(self) -> set[int]:
        """Owned accounts met on a membership but not read themselves (leavers)."""
        return {uid for uid, key in self.keys.items() if key not in self.read}

    def lookups(self, field: str, values: Sequence[Any], handle: Handler | None = None) -> list[Call]:
        if not values:
            return []
        groups = self.client.read_batches(values, fixed={"field": field})
        return [
            ("core_user_get_users_by_field", {"field": field, "values": group}, handle or self.on_users)
            for group in groups
        ]

    # Answers ------------------------------------------------------------------------

    def met(self, key: Key, uid: int) -> None:
        """An owned account seen under ``key`` with Moodle id ``uid``."""
        self.found.claim(key, uid)
        self.keys[uid] = key

    def on_users(self, answer: Any) -> None:
        for rec in MoodleClient.expect_list("core_user_get_users_by_field", answer):
            uid = int(rec["id"])
            if not owned(rec.get("idnumber")):
                self.not_ours.add(uid)
                continue
            key = Key(Kind.USER, rec["idnumber"])
            self.met(key, uid)
            self.read.add(key)
            self.found.add(self.user(key, rec))

    def emails_to_check(self) -> dict[str, list[Key]]:
        """Emails of desired accounts to be created (not read, no username holder) or whose
        email is to change, by email. Only plainly valid addresses are looked up: Moodle
        refuses the whole lookup for one it cannot clean."""
        by_email: dict[str, list[Key]] = defaultdict(list)
        for r in self.found.desired.by_kind(Kind.USER):
            if not isinstance(r, User) or not _LOOKUP_EMAIL.match(r.email) or r.key in self.found.foreign:
                continue
            held = self.found.out.get(r.key)
            if r.key not in self.read or (isinstance(held, User) and held.email != r.email):
                by_email[r.email].append(r.key)
        return by_email

    def on_email_holders(self, answer: Any) -> None:
        wanted = self.emails_to_check()
        for rec in MoodleClient.expect_list("core_user_get_users_by_field", answer):
            for key in wanted.get(text(rec.get("email")).lower(), ()):
                if rec.get("idnumber") != key.id:
                    self.found.email_holders[key] = int(rec["id"])

    def on_username_holders(self, answer: Any) -> None:
        by_username = {r.username: r.key for r in self.found.desired.by_kind(Kind.USER) if isinstance(r, User)}
        for rec in MoodleClient.expect_list("core_user_get_users_by_field", answer):
            if owned(rec.get("idnumber")):
                self.on_users([rec])  # ours under another key: part of what we own
                continue
            wanted = by_username.get(text(rec.get("username")).lower())
            if wanted is not None:
                self.found.foreign[wanted] = self.user(Key(Kind.USER, text(rec.get("idnumber"))), rec)

    def custom_names_of(self, key: Key) -> list[str]:
        """The custom fields an account is read with: those its desired record manages (so
        an account reads the same whichever other accounts a read holds), else every
        desired one."""
        desired = self.found.desired.get(key)
        if isinstance(desired, User):
            return [name for name, _ in desired.customfields]
        return self.custom_names

    def user(self, key: Key, rec: Mapping[str, Any]) -> User:
        customs = {
            text(cf.get("shortname")): text(cf.get("value"))
            for cf in rec.get("customfields") or ()
            if cf.get("shortname")
        }
        return User(
            key,
            username=text(rec.get("username")).lower(),
            firstname=text(rec.get("firstname")),
            lastname=text(rec.get("lastname")),
            email=text(rec.get("email")).lower(),
            auth=text(rec.get("auth")),
            suspended=bool(rec.get("suspended", False)),
            profile=pairs({name: text(rec.get(name)) for name in self.profile_names}),
            customfields=pairs({**dict.fromkeys(self.custom_names_of(key), ""), **customs}),
            moodle_id=int(rec["id"]),
        )

    def renamed(self, wanted: User) -> bool:
        """True when the owned account read for a desired one goes by another username."""
        live = self.found.out.get(wanted.key)
        return isinstance(live, User) and live.username != wanted.username

    def candidates(self) -> dict[int, Key]:
        """Moodle ids of accounts not ours that hold a desired username (a plan may adopt
        them), by the desired key: their memberships are read as that key's, so a plan that
        adopts one knows what the account already has (the planner touches none of it otherwise)."""
        return {
            held.moodle_id: key
            for key, held in self.found.foreign.items()
            if key.kind is Kind.USER and key not in self.found.out and held.moodle_id is not None
        }
