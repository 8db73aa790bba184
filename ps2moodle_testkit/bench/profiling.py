"""``--profile``: where the tool's CPU goes, on each side of the flow.

Two profiles, both in CPU time per thread (waiting on a server costs nothing here):

- the **pure middle** (desired state, diff, render...): the main thread while a pure step
  runs;
- the **client side** (the PowerSchool and Moodle clients, the live reader, the writer):
  every thread while an I/O step runs. The clients work in pool threads started during
  the step, so each new thread gets a profiler of its own as it starts.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

#: Functions named per side.
TOP = 25


class Profiles:
    """The two profiles of one stage."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.middle = cProfile.Profile(time.thread_time)
        self.client: list[cProfile.Profile] = []

    @contextmanager
    def pure(self) -> Iterator[None]:
        """Profile the main thread as pure middle."""
        self.middle.enable()
        try:
            yield
        finally:
            self.middle.disable()

    @contextmanager
    def io(self) -> Iterator[None]:
        """Profile the main thread and every thread started meanwhile as client side."""
        main = self._new_client_profile()
        threading.setprofile(self._start_thread)
        main.enable()
        try:
            yield
        finally:
            main.disable()
            threading.setprofile(None)

    def _new_client_profile(self) -> cProfile.Profile:
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self.client.append(profile)
        return profile

    def _start_thread(self, frame: FrameType, event: str, arg: Any) -> None:
        # Called once at a new thread's first event: hand the thread to its own profiler.
        sys.setprofile(None)
        self._new_client_profile().enable()

    def report(self) -> dict[str, str]:
        """The hottest functions of each side (by own CPU time), as printable tables.
        Call once every profiled thread has ended."""
        return {"middle": _top([self.middle]), "client": _top(self.client)}


def _top(profiles: list[cProfile.Profile]) -> str:
    out = io.StringIO()
    used = [p for p in profiles if p.getstats()]
    if not used:
        return "(nothing ran)\n"
    stats = pstats.Stats(used[0], stream=out)
    for profile in used[1:]:
        stats.add(profile)
    stats.strip_dirs().sort_stats("tottime").print_stats(TOP)
    return out.getvalue()
