"""A plan is data: ordered changes with reasons, counts, digests and a safety verdict.

Renderers and the apply step read only this. ``Change.reason`` is for people; apply never
branches on it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import Any

from reconciler.model import KIND_ORDER, Key, Kind, Resource, enum_member, resource_from_dict


class Action(str, Enum):
    """What a change does. The value doubles as the display verb."""

    CREATE = "create"
    ADOPT = "adopt"  # take over an unowned object through a reviewed adopt rule
    MOVE = "move"  # re-key an owned object (reviewed section migration)
    UPDATE = "update"
    UNSUSPEND = "unsuspend"
    SUSPEND = "suspend"
    DELETE = "delete"


#: Display symbols, Terraform style.
SYMBOLS: dict[Action, str] = {
    Action.CREATE: "+",
    Action.ADOPT: "&",
    Action.MOVE: ">",
    Action.UPDATE: "~",
    Action.UNSUSPEND: "^",
    Action.SUSPEND: "!",
    Action.DELETE: "-",
}

_REMOVING = (Action.SUSPEND, Action.DELETE)
_KIND_POSITION = {kind: position for position, kind in enumerate(KIND_ORDER)}


def verb(action: Action, kind: Kind) -> str:
    """The word a person reads: enrolments are enrolled and unenrolled, memberships added."""
    if kind is Kind.ENROLMENT:
        return {Action.CREATE: "enrol", Action.DELETE: "unenrol"}.get(action, action.value)
    if kind in (Kind.COHORT_MEMBER, Kind.GROUP_MEMBER):
        return {Action.CREATE: "add", Action.DELETE: "remove"}.get(action, action.value)
    return action.value


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One attribute's before and after value."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class Change:
    """One planned change to one object.

    ``before`` is the live object (None for creates), ``after`` the object as it will be
    (None for deletes); ``fields`` lists what differs. ``context`` is for grouping in
    renderers (school, course); ``reason`` is UI-only text.
    """

    action: Action
    key: Key
    before: Resource | None
    after: Resource | None
    fields: tuple[FieldChange, ...] = ()
    reason: str = ""
    context: tuple[tuple[str, str], ...] = ()

    @property
    def resource(self) -> Resource:
        """The object as it will be, or as it was for deletes."""
        res = self.after if self.after is not None else self.before
        assert res is not None
        return res

    @property
    def is_removal(self) -> bool:
        return self.action in _REMOVING

    def sort_key(self) -> tuple[int, int, Key]:
        """Phase order: creates and updates in dependency order, removals in reverse."""
        kind_pos = _KIND_POSITION[self.key.kind]
        if self.action is Action.DELETE:
            return (2, -kind_pos, self.key)
        if self.action is Action.SUSPEND:
            return (1, kind_pos, self.key)
        return (0, kind_pos, self.key)

    def to_dict(self) -> dict[str, Any]:
        """The change as plan files hold it. What a reader can tell from ``key`` is left
        out: ``label`` when it is the key (memberships), and the key of ``before`` and
        ``after`` unless a move or adopt gives ``before`` another one."""
        # ``_value_`` rather than ``.value``: the enum property costs a second per district plan.
        before, after = self.before, self.after
        key = self.key.id
        out: dict[str, Any] = {"action": self.action._value_, "kind": self.key.kind._value_, "key": key}
        label = self.resource.label
        if label != key:
            out["label"] = label
        out["before"] = None if before is None else before.to_dict(implied_key=key)
        out["before_id"] = None if before is None else before.moodle_id
        out["after"] = None if after is None else after.to_dict(implied_key=key)
        out["fields"] = [{"field": f.field, "before": f.before, "after": f.after} for f in self.fields]
        out["reason"] = self.reason
        out["context"] = dict(self.context)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        kind = enum_member(Kind, data["kind"])
        key = data["key"]
        before = None
        if data["before"] is not None:
            before = resource_from_dict(kind, data["before"], implied_key=key)
            object.__setattr__(before, "moodle_id", data.get("before_id"))
        after = None if data["after"] is None else resource_from_dict(kind, data["after"], implied_key=key)
        fields = data["fields"]
        context = data["context"]
        return cls(
            action=enum_member(Action, data["action"]),
            key=Key(kind, key),
            before=before,
            after=after,
            fields=tuple(FieldChange(f["field"], f["before"], f["after"]) for f in fields) if fields else (),
            reason=data["reason"],
            context=tuple(sorted(context.items())) if context else (),
        )


@dataclass(frozen=True, slots=True)
class Notice:
    """Something a reviewer should know that is not a change: an object left alone and why,
    a person skipped, a migration waiting for review. ``level`` is ``info`` or ``warning``."""

    level: str
    message: str
    key: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"level": self.level, "message": self.message, "key": self.key}


#: How many examples a grouped notice names before "and N more".
NOTICE_EXAMPLES = 5


def grouped_notice(level: str, what: str, items: list[str]) -> Notice:
    """One notice for many objects sharing a reason, so a plan stays short at scale:
    ``"54 students have no login: a, b, c, d, e and 49 more"``. ``items`` are keys or
    labels that carry no personal data."""
    names = sorted(items)
    shown = ", ".join(names[:NOTICE_EXAMPLES])
    more = f" and {len(names) - NOTICE_EXAMPLES} more" if len(names) > NOTICE_EXAMPLES else ""
    return Notice(level, f"{len(names)} {what}: {shown}{more}", names[0] if len(names) == 1 else "")


@dataclass(frozen=True)
class Plan:
    """Ordered changes plus notices. Metadata (digests, verdict) lives in the plan file."""

    changes: tuple[Change, ...] = ()
    notices: tuple[Notice, ...] = ()
    owned_counts: dict[str, int] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not self.changes

    @cached_property
    def _tally(self) -> Counter[tuple[Kind, Action]]:
        # One pass over the changes for every count (half a million in a district's first plan).
        return Counter((c.key.kind, c.action) for c in self.changes)

    def counts(self) -> dict[str, dict[str, int]]:
        """``{kind: {action: n}}`` for every kind and action that occurs."""
        out: dict[str, dict[str, int]] = {}
        for (kind, action), n in sorted(((k.value, a.value), n) for (k, a), n in self._tally.items()):
            out.setdefault(kind, {})[action] = n
        return out

    def action_totals(self) -> dict[str, int]:
        """``{action: n}`` across kinds, in Action order."""
        tally: Counter[Action] = Counter()
        for (_, action), n in self._tally.items():
            tally[action] += n
        return {a.value: tally[a] for a in Action if tally[a]}
