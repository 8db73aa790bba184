"""Is a saved plan still what Moodle would get? What apply checks before its first write (pure).

Each change records the live object it acts on (``before``, with its Moodle id) or, for a
create, that its key is free. :func:`find_stale` compares that with Moodle as it is now.
"""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.model import Key, Resource, State
from reconciler.plan.model import Action, Change, Plan


def _expectations(change: Change) -> Iterator[tuple[Key, str]]:
    """``(key, expect)`` for each live object a change touches: ``absent``, ``unowned``
    (the object an adopt takes over) or ``owned``.

    A create needs its key free; an adopt finds the unowned object under the key it will
    take; anything else acts on the owned object ``before``, and a move also needs the
    key it moves to free.
    """
    if change.action is Action.CREATE:
        yield change.key, "absent"
    elif change.action is Action.ADOPT:
        yield change.key, "unowned"
    else:
        assert change.before is not None
        yield change.before.key, "owned"
        if change.after is not None and change.after.key != change.before.key:
            yield change.after.key, "absent"


def find_stale(plan: Plan, live: State) -> list[str]:
    """What no longer matches between a plan and Moodle as it is now: one sentence per
    touched object that changed, disappeared, or (for a create) appeared. Empty when the
    plan still applies as reviewed. Sentences name fields, never their values."""
    problems: list[str] = []
    seen: dict[Key, str] = {}
    for change in plan.changes:
        for key, expect in _expectations(change):
            if key in seen:
                if seen[key] != expect:
                    raise ValueError(f"the plan touches {key} twice with different expectations")
                continue
            seen[key] = expect
            problem = _stale(change, key, expect, live)
            if problem:
                problems.append(f"{_name(change, key)}: {problem}")
    return problems


def _stale(change: Change, key: Key, expect: str, live: State) -> str:
    action = change.action.value
    if expect == "absent":
        if key in live:
            return f"the plan would {action} it, but it now exists in Moodle"
        if key in live.foreign:
            return f"the plan would {action} it, but an object the tool does not own now holds its name"
        return ""
    current: Resource | None
    if expect == "unowned":
        if key in live:
            return "the plan would adopt it, but the tool already owns it now"
        current = live.foreign.get(key)
    else:
        current = live.get(key)
    if current is None:
        return f"the plan would {action} it, but it is no longer in Moodle"
    assert change.before is not None
    then, now = change.before.to_dict(), current.to_dict()
    changed = sorted(f for f in then.keys() | now.keys() if then.get(f) != now.get(f))
    if current.moodle_id != change.before.moodle_id:
        changed.append("Moodle id (it was re-created)")
    return "changed in Moodle since the plan was made (" + ", ".join(changed) + ")" if changed else ""


def _name(change: Change, key: Key) -> str:
    where = str(key)
    label = change.resource.label
    return where if label in (change.key.id, key.id) else f"{where} ({label})"
