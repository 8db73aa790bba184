"""Warnings that a stranger can trigger, logged at a bounded rate.

A scanner knocking on the webhook, or a flood of connections past the cap, would
otherwise write one WARNING per request: the log fills and hides what matters. One line
per ``interval_s`` is written, and the next one says how many were left out meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class RateLimitedLog:
    """At most one WARNING per ``interval_s`` through ``logger``."""

    def __init__(
        self, logger: logging.Logger, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._logger = logger
        self._interval = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None
        self._left_out = 0

    def warning(self, message: str, *args: object) -> None:
        """Log ``message % args`` unless one was logged less than ``interval_s`` ago."""
        with self._lock:
            now = self._clock()
            if self._last is not None and now - self._last < self._interval:
                self._left_out += 1
                return
            left_out, self._left_out, self._last = self._left_out, 0, now
        if left_out:
            message += f" ({left_out} more like this in the last {self._interval:g}s not logged)"
        self._logger.warning(message, *args)
