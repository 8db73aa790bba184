"""What a read of Moodle has found so far, and the small helpers every reader shares."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from reconciler.model import OWNED_PREFIX, Key, Kind, Resource, State
from reconciler.moodle.errors import AmbiguousOwnership, MoodleResponseError

#: What handles one answer.
Handler = Callable[[Any], None]
#: One read: the function, its parameters, and what handles its answer.
Call = tuple[str, dict[str, Any], Handler]


class Refusable(ABC):
    """What handles the answer of a read the site may refuse and the reader can do
    without (it has a slower way to the same facts)."""

    @abstractmethod
    def __call__(self, answer: Any) -> None: ...

    @abstractmethod
    def refused(self, error: MoodleResponseError) -> bool:
        """Take the refusal ``error``; False when it is not one to get round."""


def text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def owned(idnumber: Any) -> bool:
    return isinstance(idnumber, str) and idnumber.startswith(OWNED_PREFIX)


def unowned_ref(kind: Kind, moodle_id: int) -> Key:
    """A reference to a parent the tool does not own (never equal to a desired key)."""
    return Key(kind, f"#{moodle_id}")


class Found:
    """The owned objects read so far by key, the unowned holders of names desired objects
    need (by the desired key), the accounts holding a desired account's email, and every
    Moodle id each owned key was seen on (more than one: the ownership is ambiguous)."""

    def __init__(self, desired: State, kinds: set[Kind]) -> None:
        self.desired = desired
        self.kinds = kinds
        self.out: dict[Key, Resource] = {}
        self.foreign: dict[Key, Resource] = {}
        self.email_holders: dict[Key, int] = {}
        self.claims: dict[Key, set[int]] = defaultdict(set)

    def wants(self, *kinds: Kind) -> bool:
        """True when any of ``kinds`` is read."""
        return any(k in self.kinds for k in kinds)

    def claim(self, key: Key, moodle_id: int) -> None:
        self.claims[key].add(moodle_id)

    def add(self, resource: Resource) -> None:
        """Keep ``resource``; the first one read under a key wins."""
        self.out.setdefault(resource.key, resource)

    def missing(self, kind: Kind) -> list[Resource]:
        """Desired objects of ``kind`` with no owned live object, when ``kind`` is read."""
        if kind not in self.kinds:
            return []
        return [r for r in self.desired.by_kind(kind) if r.key not in self.out]

    def state(self) -> State:
        """What was read, of the kinds asked for; refused when a key was claimed by two objects."""
        clashes = {str(key): sorted(ids) for key, ids in self.claims.items() if len(ids) > 1}
        if clashes:
            raise AmbiguousOwnership(clashes)
        return State.of(
            (r for r in self.out.values() if r.key.kind in self.kinds),
            foreign=self.foreign,
            email_holders=self.email_holders,
        )
