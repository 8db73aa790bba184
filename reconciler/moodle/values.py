"""Values a Moodle 4.5 site refuses, found before a plan is written (pure).

Moodle refuses a value at one of three places, and each makes every apply fail the same
way, run after run: the web service's parameter check (``validate_param`` compares a value
with its ``clean_param`` form and refuses any difference), the function's own checks
(``validate_email``), or the database (a value longer than its column is a
``dmlwriteexception`` on a strict database). :func:`refusals` says which fields of a
desired object would be refused, so the planner leaves the object out and says why.

Sources (moodle/moodle, 4.5): column lengths from ``lib/db/install.xml``; the parameter
types of ``core_user_create_users``/``update_users`` (``user/externallib.php``),
``core_course_create_courses`` (``course/externallib.php``), ``core_course_create_categories``,
``core_cohort_create_cohorts`` and ``core_group_create_groups`` (all names ``PARAM_TEXT``;
user names ``PARAM_NOTAGS``); ``PARAM_USERNAME`` with ``$CFG->extendedusernamechars`` off,
the default (``lib/classes/param.php``); ``validate_email`` (``lib/moodlelib.php``: PHP's
``FILTER_VALIDATE_EMAIL``, and no ``<`` or ``>``). Idnumbers are keys, which
:mod:`reconciler.keys` already fits to their columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reconciler.model import Category, Cohort, Course, Group, Resource, User

#: Column lengths (characters) of the fields the tool writes.
USER_LENGTHS = {
    "username": 100,
    "firstname": 100,
    "lastname": 100,
    "email": 100,
    "middlename": 255,
    "alternatename": 255,
    "firstnamephonetic": 255,
    "lastnamephonetic": 255,
    "institution": 255,
    "department": 255,
    "address": 255,
    "city": 120,
    "phone1": 20,
    "phone2": 20,
}
COURSE_LENGTHS = {"shortname": 255, "fullname": 254}
CATEGORY_LENGTHS = {"name": 255}
COHORT_LENGTHS = {"name": 254}
GROUP_LENGTHS = {"name": 254}

#: User profile fields the web service takes as PARAM_RAW (HTML allowed); every other
#: text field is PARAM_TEXT or PARAM_NOTAGS, and both refuse tags.
_RAW_USER_FIELDS = frozenset({"description"})
#: PARAM_USERNAME keeps only these (extendedusernamechars off, Moodle's default).
_USERNAME = re.compile(r"[-.@_a-z0-9]+")
#: PARAM_TIMEZONE: an hour offset, 99 (the server's), or a Region/City name.
_TIMEZONE = re.compile(r"(?:[+-]?(?:0?[0-9](?:\.[5|0])?|1[0-3](?:\.0)?|1[0-2]\.5)|99|[A-Za-z0-9]+(?:/?[A-Za-z_-])+)")
#: What PHP's strip_tags removes: a ``<`` not followed by whitespace starts a tag (and a
#: ``<`` at the very end is dropped too).
_TAG = re.compile(r"<(?!\s)")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_EMAIL_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


@dataclass(frozen=True, slots=True)
class Refusal:
    """One field of an object Moodle would refuse, and why (never the value itself:
    plans and notices name people only by key)."""

    field: str
    why: str

    def __str__(self) -> str:
        return f"the {self.field} ({self.why})"


def valid_email(address: str) -> bool:
    """Moodle's ``validate_email``: an address ``FILTER_VALIDATE_EMAIL`` accepts (its
    domain has a dot), without ``<`` or ``>``."""
    local, at, domain = address.rpartition("@")
    if not at or len(local) > 64 or len(address) > 320 or not _EMAIL_LOCAL.fullmatch(local):
        return False
    labels = domain.split(".")
    return len(labels) > 1 and all(_EMAIL_LABEL.fullmatch(label) for label in labels)


def refusals(resource: Resource) -> list[Refusal]:
    """The fields of ``resource`` Moodle would refuse; empty when it would accept it."""
    if isinstance(resource, User):
        return _user(resource)
    if isinstance(resource, Course):
        return _texts({"shortname": resource.shortname, "fullname": resource.fullname}, COURSE_LENGTHS)
    if isinstance(resource, Category):
        return _texts({"name": resource.name}, CATEGORY_LENGTHS)
    if isinstance(resource, Cohort):
        return _texts({"name": resource.name}, COHORT_LENGTHS)
    if isinstance(resource, Group):
        return _texts({"name": resource.name}, GROUP_LENGTHS)
    return []


def _user(user: User) -> list[Refusal]:
    out: list[Refusal] = []
    if not _USERNAME.fullmatch(user.username):
        out.append(Refusal("username", "characters Moodle refuses in a username: only a-z 0-9 - . _ @"))
    if not valid_email(user.email):
        out.append(Refusal("email", "not an address Moodle accepts"))
    for name in ("firstname", "lastname"):
        if not getattr(user, name).strip():
            out.append(Refusal(name, "blank"))
    profile = dict(user.profile)
    if profile.get("timezone") and not _TIMEZONE.fullmatch(profile["timezone"]):
        out.append(Refusal("timezone", "not a time zone Moodle accepts: Region/City, an hour offset, or 99"))
    texts = {"firstname": user.firstname, "lastname": user.lastname}
    texts.update((k, v) for k, v in profile.items() if k not in _RAW_USER_FIELDS)
    out += _texts(texts, USER_LENGTHS)
    out += _lengths({"username": user.username, "email": user.email}, USER_LENGTHS)
    return out


def _texts(texts: dict[str, str], lengths: dict[str, int]) -> list[Refusal]:
    """Tags (PARAM_TEXT and PARAM_NOTAGS refuse them) and lengths of text fields."""
    out = [Refusal(name, "HTML tags") for name, text in texts.items() if _TAG.search(text)]
    return out + _lengths(texts, lengths)


def _lengths(values: dict[str, str], lengths: dict[str, int]) -> list[Refusal]:
    return [
        Refusal(name, f"longer than {lengths[name]} characters")
        for name, value in values.items()
        if name in lengths and len(value) > lengths[name]
    ]
