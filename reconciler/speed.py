"""The two speed-ups the pure steps keep, each measured (CPU seconds, district scale:
50,000 students, a first plan of 531,724 changes; a plan file of 466,001 changes).

- :func:`gc_paused`: those steps build millions of small dicts, tuples and frozen
  dataclasses, none in a reference cycle, so reference counting frees them all; but while
  they are being built the cyclic collector walks every live object again and again as
  the heap grows. Paused: reading a plan file 16.3 s -> 4.0 s, the diff 7.6 s -> 4.6 s,
  the desired state 4.3 s -> 3.1 s, saving the plan with its three renderings (a row, a
  line and a string per change) 8.0 s -> 6.2 s.
- :func:`members`: an enum member by its value through a plain dict: 0.05 µs against
  the 0.58 µs of ``Action(value)`` (EnumType's call), about 0.7 s of reading a plan file
  (1.4 million lookups).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from enum import Enum
from functools import wraps
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
E = TypeVar("E", bound=Enum)

_lock = threading.Lock()
_depth = 0
_was_enabled = False


def gc_paused(step: Callable[P, R]) -> Callable[P, R]:
    """Run ``step`` with the cyclic collector paused (it builds acyclic data only); nested
    or concurrent steps share the pause, and the collector is back on after the last."""

    @wraps(step)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        _enter()
        try:
            return step(*args, **kwargs)
        finally:
            _leave()

    return paused


def _enter() -> None:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1


def _leave() -> None:
    global _depth
    with _lock:
        _depth -= 1
        if _depth == 0 and _was_enabled:
            gc.enable()


def members(enum: type[E]) -> Callable[[str], E]:
    """A function from a value to its member of ``enum``: a dict lookup, and the enum's own
    ValueError for a value it does not have."""
    table = {member.value: member for member in enum}

    def member(value: str) -> E:
        found = table.get(value)
        return enum(value) if found is None else found

    return member
