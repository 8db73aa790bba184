"""Pausing Python's cyclic garbage collector while the pure steps build bulk data.

A district's plan is millions of small dicts, tuples and frozen dataclasses. None of
them forms a reference cycle, so reference counting frees them all; but while they are
being built the cyclic collector keeps walking every live object, again and again as the
heap grows: about 40% of the CPU of planning, saving and loading a district's first plan.
:func:`bulk` turns it off for the duration of a step (nested or concurrent steps share
the pause), and back on after, so cycles made elsewhere are still collected.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_lock = threading.Lock()
_depth = 0
_was_enabled = False


def bulk(step: Callable[P, R]) -> Callable[P, R]:
    """Run ``step`` with the cyclic collector paused (it builds acyclic data only)."""

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
