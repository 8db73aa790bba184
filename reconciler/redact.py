"""Pseudonyms for personal data in a plan document (``--redact``), for PR comments.

:func:`redact_document` returns a *view* of a document in which every attribute of a
person's account (username, names, email, profile and custom fields) is replaced by a
pseudonym such as ``person-3f9a2c81d0`` or ``email-5be01c77a2``. Courses, categories,
cohorts and groups keep their names; keys (built from PowerSchool ids) are kept. All
renderers read the view, so every format shows the same pseudonyms.

- A pseudonym is a MAC (keyed BLAKE2b) of the person's key, the field and the value, so the same
  person shows the same pseudonym everywhere in the document, and a value that changes
  shows a different pseudonym before and after.
- The MAC key is derived from the personal data the plan holds: it is stable for a
  plan (byte-identical renderings) but cannot be recomputed by someone who sees only
  the redacted view, so pseudonyms cannot be confirmed by guessing names.
- Free text (reasons, notices, violations) is scrubbed of every personal value the
  document holds and of anything shaped like an email address. A notice about a
  person's account is withheld, since it may name someone the plan holds no data on.

The view keeps the original ``checksum`` (so a reviewer sees which plan it shows) and
sets ``redacted``; :func:`reconciler.plan.file.read_plan` refuses to load it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace

from reconciler.model import OWNED_PREFIX, CohortMember, Enrolment, GroupMember, Key, Kind, Resource, User
from reconciler.plan.file import change_record
from reconciler.plan.model import Change, Notice, PlanDocument, SafetyVerdict

#: Key ids of student and staff accounts (see reconciler.keys): notices about them are withheld.
PERSON_KEY = re.compile(rf"^{re.escape(OWNED_PREFIX)}.*:(?:student|staff):")
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_WORD = re.compile(r"\w+(?:['’.-]\w+)*")
_DIGITS = 10


def redact_document(doc: PlanDocument) -> PlanDocument:
    """A view of ``doc`` with personal data replaced by pseudonyms (``doc`` is not changed)."""
    pseudonyms = _Pseudonyms(_salt(doc))
    changes = [pseudonyms.change(c) if c.key.kind is Kind.USER else pseudonyms.member(c) for c in doc.changes]
    # Free text may name anyone the plan holds, so it is scrubbed once every account is known.
    scrub = pseudonyms.scrubber()
    verdict = doc.verdict
    reason = verdict.override_reason
    return replace(
        doc,
        redacted=True,
        changes=tuple(replace(c, rule=scrub(c.rule)) if c.rule else c for c in changes),
        notices=tuple(
            replace(n, message=pseudonyms.withheld(n) if PERSON_KEY.match(n.key) else scrub(n.message))
            for n in doc.notices
        ),
        verdict=SafetyVerdict(
            ok=verdict.ok,
            violations=tuple(scrub(v) for v in verdict.violations),
            override_reason=None if reason is None else scrub(reason),
        ),
    )


def _salt(doc: PlanDocument) -> bytes:
    """The MAC key: a digest of the accounts and notices the document holds, which the
    redacted view no longer shows."""
    secret = [[change_record(c) for c in doc.changes if c.key.kind is Kind.USER], [n.message for n in doc.notices]]
    data = json.dumps(secret, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.blake2b(data, person=b"ps2moodle-redact", digest_size=32).digest()


def _mac(salt: bytes, *parts: str) -> str:
    """A keyed BLAKE2b MAC of ``parts``, as ``_DIGITS`` hex digits."""
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), key=salt, digest_size=_DIGITS // 2).hexdigest()


def _identifying(token: str) -> bool:
    """Whether a word may point at a person; short numbers (grades, rooms, schools) do not."""
    return len(token) > 1 and not (token.isdigit() and len(token) < 5)


class _Pseudonyms:
    """Pseudonyms under one salt, and the table that scrubs free text."""

    def __init__(self, salt: bytes) -> None:
        self._salt = salt
        self._usernames: dict[str, str] = {}
        self._words: dict[str, str] = {}

    def of(self, person: str, path: str, value: str) -> str:
        """The pseudonym of one value; remembered for scrubbing free text."""
        name = path.rpartition(".")[2]
        tag = "person" if name == "username" else name
        pseudonym = f"{tag}-{_mac(self._salt, person, path, value)}"
        if name == "username":
            self._usernames[person] = pseudonym
        for token in {value, *_WORD.findall(value), *([value.lower()] if "@" in value else [])}:
            if _identifying(token):
                # A word two people share (a first name) cannot point at either of them.
                known = self._words.setdefault(token, pseudonym)
                if known != pseudonym:
                    self._words[token] = "[redacted]"
        return pseudonym

    def value(self, person: str, path: str, value: str) -> str:
        """``value`` replaced by its pseudonym (owned keys are kept: they are PowerSchool ids)."""
        return value if value.startswith(OWNED_PREFIX) else self.of(person, path, value)

    def account(self, person: str, obj: Resource | None) -> Resource | None:
        """An account with every attribute but ``auth`` and ``suspended`` replaced (an
        unowned account's idnumber too)."""
        if not isinstance(obj, User):
            return obj
        key = obj.key if obj.key.owned else Key(Kind.USER, self.value(person, "idnumber", obj.key.id))
        return replace(
            obj,
            key=key,
            username=self.value(person, "username", obj.username),
            firstname=self.value(person, "firstname", obj.firstname),
            lastname=self.value(person, "lastname", obj.lastname),
            email=self.value(person, "email", obj.email),
            profile=tuple((k, self.value(person, f"profile.{k}", v)) for k, v in obj.profile),
            customfields=tuple((k, self.value(person, f"customfields.{k}", v)) for k, v in obj.customfields),
        )

    def change(self, change: Change) -> Change:
        """A user change with the account's attributes replaced, before and after."""
        person = change.key.id
        return replace(change, before=self.account(person, change.before), after=self.account(person, change.after))

    def member(self, change: Change) -> Change:
        """A membership change with the member's username replaced."""
        obj = change.resource
        if not change.member or not isinstance(obj, (Enrolment, CohortMember, GroupMember)):
            return change
        return replace(change, member=self.value(obj.user.id, "username", change.member))

    def withheld(self, notice: Notice) -> str:
        """The replacement text of a notice about a person's account."""
        person = notice.key
        who = self._usernames.get(person) or self.of(person, "username", "")
        return f"{who}: {notice.level.value} about this account withheld (personal data); see plan.json"

    def scrubber(self) -> _Scrubber:
        """A function that scrubs free text with every pseudonym made so far."""
        return _Scrubber(dict(self._words), self._salt)


class _Scrubber:
    """Replaces known personal values and email addresses in free text (memoized)."""

    def __init__(self, words: dict[str, str], salt: bytes) -> None:
        self._words = words
        self._salt = salt
        self._memo: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        out = self._memo.get(text)
        if out is None:
            out = _EMAIL.sub(self._email, text)
            out = _WORD.sub(lambda m: self._words.get(m[0], m[0]), out)
            self._memo[text] = out
        return out

    def _email(self, match: re.Match[str]) -> str:
        address = match[0]
        known = self._words.get(address) or self._words.get(address.lower())
        if known:
            return known
        return "email-" + _mac(self._salt, address.lower())
