"""Keys, resources and State: the one vocabulary shared by desired and live Moodle.

Desired state (built from PowerSchool and the config) and live state (read from Moodle)
are both a :class:`State`, so the diff compares like with like. A resource holds only the
attributes the tool manages; Moodle's numeric id rides along as ``moodle_id`` and never
takes part in a comparison.

Identity is the :class:`Key`. For objects Moodle stores with an idnumber (users,
courses, categories, cohorts, groups) the key's ``id`` *is* that idnumber, which starts
with :data:`OWNED_PREFIX`: the live state alone proves what the tool owns. Memberships
(enrolments, cohort and group members) are keyed by their two parents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from functools import cached_property
from operator import attrgetter
from types import UnionType
from typing import Any, ClassVar, NamedTuple, TypeAlias, Union, get_args, get_origin, get_type_hints

#: Every idnumber the tool writes starts with this; anything else is not ours.
OWNED_PREFIX = "ps2m:"


class Kind(str, Enum):
    """The Moodle object types the tool manages, in dependency order."""

    CATEGORY = "category"
    COURSE = "course"
    USER = "user"
    COHORT = "cohort"
    ENROLMENT = "enrolment"
    GROUP = "group"
    COHORT_MEMBER = "cohort_member"
    GROUP_MEMBER = "group_member"


#: Creation order; removals run in the reverse order.
KIND_ORDER: tuple[Kind, ...] = tuple(Kind)


class Key(NamedTuple):
    """Identity of a managed object: its kind and its owned idnumber (or membership pair).

    A named tuple: hashing, equality and ordering run in C, which a district's half a
    million keys need (a dataclass does them in Python).
    """

    kind: Kind
    id: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @property
    def owned(self) -> bool:
        """True when the idnumber carries the tool's prefix (memberships are owned by parents)."""
        return self.id.startswith(OWNED_PREFIX)


def membership_id(parent: Key, user: Key) -> str:
    """The id of a membership key: the parent's and the user's ids, joined."""
    return f"{parent.id}|{user.id}"


Pairs: TypeAlias = tuple[tuple[str, str], ...]


def pairs(mapping: Mapping[str, str]) -> Pairs:
    """A mapping as a sorted tuple of pairs: hashable, ordered, and stable in JSON."""
    return tuple(sorted(mapping.items()))


@dataclass(frozen=True, slots=True)
class Resource:
    """Base of every managed object. Subclasses add their managed attributes."""

    KIND: ClassVar[Kind]
    #: Attributes set when the object is created and never compared afterwards
    #: (an admin may change them in Moodle without the plan fighting back).
    CREATE_ONLY: ClassVar[tuple[str, ...]] = ()

    key: Key
    moodle_id: int | None = field(default=None, compare=False, kw_only=True)

    def managed(self) -> dict[str, Any]:
        """The attributes the diff compares, as plain JSON-ready values."""
        codec = _codec(type(self))
        return {
            name: getattr(self, name) if plain is None else plain(getattr(self, name)) for name, plain in codec.managed
        }

    def to_dict(self, *, implied_key: str | None = None) -> dict[str, Any]:
        """Its key and every attribute (create-only ones included) as JSON-ready values, for
        plan files; the key is left out when it is ``implied_key`` (the reader knows it)."""
        # One C call reads the key and every attribute (a reference by its id), one more
        # builds the dict; only the few values that are not plain yet are converted.
        codec = _codec(type(self))
        values = codec.values(self)
        out = dict(zip(codec.keyed_names, values, strict=True))
        if values[0] == implied_key:
            del out["key"]
        for name, plain in codec.converted:
            out[name] = plain(out[name])
        return out

    @property
    def label(self) -> str:
        """A short human name for plans (a username, a course shortname...)."""
        return self.key.id

    def references(self) -> list[Key]:
        """The objects this one points at (its category, course, user...): they must exist first."""
        # A loop, not a comprehension: called per change, and Python 3.11 makes each
        # comprehension a function call of its own.
        out: list[Key] = []
        for name in _codec(type(self)).references:
            ref = getattr(self, name)
            if ref is not None:
                out.append(ref)
        return out


#: Turns an attribute's value into its plain JSON form, or back; None where the value is already plain.
Convert: TypeAlias = "Callable[[Any], Any] | None"


class _Codec(NamedTuple):
    """How one resource class's attributes turn into plain values and back, worked out once
    per class (dataclasses.fields() is slow enough to matter half a million times).

    ``stored`` are the attributes plan files hold (all but ``key`` and ``moodle_id``),
    ``managed`` those the diff compares (less ``CREATE_ONLY``), each with its converter to
    plain form; ``parse`` the converters back; ``values`` reads the key's id and every
    stored attribute in one call, a reference that cannot be None as its id, in the order
    of ``keyed_names`` (``key`` first); ``converted`` are the attributes that ``values``
    leaves to convert; ``references`` names the attributes that hold keys.
    """

    stored: tuple[tuple[str, Convert], ...]
    managed: tuple[tuple[str, Convert], ...]
    parse: tuple[tuple[str, Convert], ...]
    values: Callable[[Any], tuple[Any, ...]]
    keyed_names: tuple[str, ...]
    converted: tuple[tuple[str, Callable[[Any], Any]], ...]
    references: tuple[str, ...]


_CODECS: dict[type[Resource], _Codec] = {}


def _key_id(key: Key | None) -> str | None:
    return None if key is None else key.id


def _key_of(kind: Kind) -> Callable[[str | None], Key | None]:
    return lambda raw: None if raw is None else Key(kind, raw)


def _codec(cls: type[Resource]) -> _Codec:
    codec = _CODECS.get(cls)
    if codec is not None:
        return codec
    stored: list[tuple[str, Convert]] = []
    parse: list[tuple[str, Convert]] = []
    references: list[str] = []
    paths: list[str] = []  # what ``values`` reads of each stored attribute
    hints = get_type_hints(cls)
    for f in fields(cls):
        if f.name in ("key", "moodle_id"):
            continue
        hint = _optional_of(hints[f.name])
        paths.append(f"{f.name}.id" if hints[f.name] is Key else f.name)
        if hint is Key:
            stored.append((f.name, _key_id))
            parse.append((f.name, _key_of(_REFERENCE_KINDS[f.name])))
            references.append(f.name)
        elif hint == Pairs:
            stored.append((f.name, dict))
            parse.append((f.name, pairs))
        elif get_origin(hint) is tuple:
            stored.append((f.name, list))
            parse.append((f.name, tuple))
        else:
            stored.append((f.name, None))
            parse.append((f.name, None))
    codec = _CODECS[cls] = _Codec(
        stored=tuple(stored),
        managed=tuple(item for item in stored if item[0] not in cls.CREATE_ONLY),
        parse=tuple(parse),
        values=attrgetter("key.id", *paths),
        keyed_names=("key", *(name for name, _ in stored)),
        converted=tuple(
            (name, plain) for (name, plain), path in zip(stored, paths, strict=True) if plain and path == name
        ),
        references=tuple(references),
    )
    return codec


def _optional_of(hint: Any) -> Any:
    """``X`` for ``X | None`` (and ``Optional[X]``), else ``hint`` itself."""
    args = [a for a in get_args(hint) if a is not type(None)]
    return args[0] if get_origin(hint) in (Union, UnionType) and len(args) == 1 else hint


@dataclass(frozen=True, slots=True)
class Category(Resource):
    """A course category. ``parent`` is None at the top level."""

    KIND: ClassVar[Kind] = Kind.CATEGORY
    name: str
    parent: Key | None = None

    @property
    def label(self) -> str:
        return self.key.id.removeprefix(OWNED_PREFIX + "cat:")


@dataclass(frozen=True, slots=True)
class User(Resource):
    """A Moodle account. ``profile`` holds the selected standard fields, ``customfields``
    the custom profile fields by shortname; values are normalized strings."""

    KIND: ClassVar[Kind] = Kind.USER
    CREATE_ONLY: ClassVar[tuple[str, ...]] = ("auth",)
    username: str
    firstname: str
    lastname: str
    email: str = ""
    auth: str = "manual"
    suspended: bool = False
    profile: Pairs = ()
    customfields: Pairs = ()

    @property
    def label(self) -> str:
        return self.username


@dataclass(frozen=True, slots=True)
class Course(Resource):
    """A Moodle course: a PowerSchool section (section mode) or course (group mode)."""

    KIND: ClassVar[Kind] = Kind.COURSE
    shortname: str
    fullname: str
    category: Key
    startdate: int = 0
    enddate: int = 0

    @property
    def label(self) -> str:
        return self.shortname


@dataclass(frozen=True, slots=True)
class Cohort(Resource):
    """A system-level cohort built from a profile field value."""

    KIND: ClassVar[Kind] = Kind.COHORT
    name: str

    @property
    def label(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Group(Resource):
    """A group inside a group-mode course: one PowerSchool section."""

    KIND: ClassVar[Kind] = Kind.GROUP
    course: Key
    name: str

    @property
    def label(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Enrolment(Resource):
    """A manual enrolment of an owned user in an owned course, with its role shortnames."""

    KIND: ClassVar[Kind] = Kind.ENROLMENT
    course: Key
    user: Key
    roles: tuple[str, ...] = ()
    suspended: bool = False


@dataclass(frozen=True, slots=True)
class CohortMember(Resource):
    """Membership of an owned user in an owned cohort."""

    KIND: ClassVar[Kind] = Kind.COHORT_MEMBER
    cohort: Key
    user: Key


@dataclass(frozen=True, slots=True)
class GroupMember(Resource):
    """Membership of an owned user in an owned group."""

    KIND: ClassVar[Kind] = Kind.GROUP_MEMBER
    group: Key
    user: Key


RESOURCE_TYPES: dict[Kind, type[Resource]] = {
    cls.KIND: cls for cls in (Category, Course, User, Cohort, Group, Enrolment, CohortMember, GroupMember)
}


def enrolment(
    course: Key, user: Key, roles: Iterable[str], *, suspended: bool = False, moodle_id: int | None = None
) -> Enrolment:
    """An enrolment keyed by its course and user (``moodle_id``: the member's, when read)."""
    ordered = tuple(roles)
    return Enrolment(
        Key(Kind.ENROLMENT, membership_id(course, user)),
        course=course,
        user=user,
        roles=ordered if len(ordered) < 2 else tuple(sorted(set(ordered))),
        suspended=suspended,
        moodle_id=moodle_id,
    )


def cohort_member(cohort: Key, user: Key, *, moodle_id: int | None = None) -> CohortMember:
    """A cohort membership keyed by its cohort and user (``moodle_id``: the member's, when read)."""
    key = Key(Kind.COHORT_MEMBER, membership_id(cohort, user))
    return CohortMember(key, cohort=cohort, user=user, moodle_id=moodle_id)


def group_member(group: Key, user: Key, *, moodle_id: int | None = None) -> GroupMember:
    """A group membership keyed by its group and user (``moodle_id``: the member's, when read)."""
    key = Key(Kind.GROUP_MEMBER, membership_id(group, user))
    return GroupMember(key, group=group, user=user, moodle_id=moodle_id)


#: The kind each reference attribute points at.
_REFERENCE_KINDS = {"parent": Kind.CATEGORY} | {
    k.value: k for k in (Kind.CATEGORY, Kind.COURSE, Kind.USER, Kind.COHORT, Kind.GROUP)
}


def resource_from_dict(
    kind: Kind, data: Mapping[str, Any], *, implied_key: str | None = None, moodle_id: int | None = None
) -> Resource:
    """Rebuild a resource from :meth:`Resource.to_dict` output (used when loading plan files);
    ``implied_key`` is its key when the output leaves it out."""
    cls = RESOURCE_TYPES[kind]
    values: dict[str, Any] = {}
    for name, parse in _codec(cls).parse:
        if name in data:
            raw = data[name]
            values[name] = raw if parse is None else parse(raw)
    return cls(Key(kind, data.get("key", implied_key)), moodle_id=moodle_id, **values)


#: A resource's key, read in C (sorting half a million resources by key).
_KEY_OF: Callable[[Resource], Key] = attrgetter("key")


@dataclass(frozen=True)
class State:
    """A read-only set of resources keyed by :class:`Key`; desired and live alike.

    ``foreign`` is filled only on live state: objects Moodle holds that the tool does
    not own but that occupy a unique name a desired object needs (a username, a course
    shortname). They are keyed by the *desired* key they collide with, and may only be
    taken over through a reviewed adopt rule.
    """

    resources: Mapping[Key, Resource] = field(default_factory=dict)
    foreign: Mapping[Key, Resource] = field(default_factory=dict)
    #: Live only: desired accounts to create, or whose email is to change, whose (new) email
    #: another account already uses (its Moodle id). Moodle refuses such a create or change
    #: unless allowaccountssameemail is on.
    email_holders: Mapping[Key, int] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        items: Iterable[Resource],
        *,
        foreign: Mapping[Key, Resource] | None = None,
        email_holders: Mapping[Key, int] | None = None,
    ) -> State:
        """Build a state from resources; a duplicate key is a programming error."""
        out: dict[Key, Resource] = {}
        for item in items:
            if item.key in out and out[item.key] != item:
                raise ValueError(f"two different resources share the key {item.key}")
            out[item.key] = item
        return cls(out, dict(foreign or {}), dict(email_holders or {}))

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources.values())

    def __len__(self) -> int:
        return len(self.resources)

    def __contains__(self, key: object) -> bool:
        return key in self.resources

    def get(self, key: Key) -> Resource | None:
        """The resource with this key, or None."""
        return self.resources.get(key)

    def by_kind(self, kind: Kind) -> list[Resource]:
        """Every resource of one kind, sorted by key."""
        return list(self._by_kind.get(kind, ()))

    @cached_property
    def _by_kind(self) -> dict[Kind, tuple[Resource, ...]]:
        # One pass and one sort per kind for the state's lifetime: planning asks per kind many times.
        kinds: dict[Kind, list[Resource]] = {}
        for resource in self.resources.values():
            kinds.setdefault(resource.key.kind, []).append(resource)
        return {kind: tuple(sorted(found, key=_KEY_OF)) for kind, found in kinds.items()}

    def counts(self) -> dict[str, int]:
        """How many resources of each kind, for summaries."""
        out = {k.value: 0 for k in Kind}
        for key in self.resources:
            out[key.kind.value] += 1
        return out
