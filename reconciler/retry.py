"""One retry policy for every HTTP client: bounded attempts, exponential backoff with
jitter, a server's ``Retry-After`` honoured, and failures that no retry can fix (a
certificate that does not verify, a host name that does not resolve) never retried.

The clients decide *what* is safe to repeat (a read, an idempotent write, a request that
never left); this module decides *when* and *how often*. An attempt asks for another by
raising :class:`Retry`; anything else it raises ends the loop at once.
"""

from __future__ import annotations

import email.utils
import random
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import httpx

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: ``attempts`` in all, backoff doubling from ``base_delay_s`` and
    stretched by up to ``jitter`` (0.5: up to half as long again, so clients that failed
    together do not come back together), no single wait longer than ``max_delay_s``.
    A server's Retry-After is waited exactly (it said when), within the same cap."""

    attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 60.0
    jitter: float = 0.5

    def backoff(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (1-based), before jitter."""
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))

    def wait(self, attempt: int, retry_after: float | None, rng: Callable[[], float] = random.random) -> float:
        """The wait before retry number ``attempt``: the server's ``retry_after`` when it
        sent one, else the backoff with jitter; never more than ``max_delay_s``."""
        if retry_after is not None:
            return min(self.max_delay_s, retry_after)
        return min(self.max_delay_s, self.backoff(attempt) * (1 + self.jitter * rng()))


class Retry(Exception):
    """Raised by an attempt that may be repeated: ``error`` is what the caller sees if no
    attempt is left, ``after`` the server's Retry-After in seconds when it sent one."""

    def __init__(self, error: Exception, *, after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.after = after


def run(
    attempt: Callable[[int], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None],
    on_retry: Callable[[int, Exception, float], None] = lambda _n, _error, _wait: None,
    rng: Callable[[], float] = random.random,
) -> T:
    """``attempt(n)`` for n = 1, 2, ... until it returns, raises something other than
    :class:`Retry`, or ``policy.attempts`` are spent (then the last ``Retry.error``).
    ``on_retry(n, error, wait)`` is told before each wait (for logs)."""
    number = 1
    while True:
        try:
            return attempt(number)
        except Retry as retry:
            if number >= policy.attempts:
                raise retry.error from None
            wait = policy.wait(number, retry.after, rng)
            on_retry(number, retry.error, wait)
            sleep(wait)
            number += 1


def retry_after(response: httpx.Response) -> float | None:
    """The server's Retry-After, in seconds (delta or HTTP date), when it sent one."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def lasting_cause(exc: httpx.TransportError) -> str | None:
    """What makes a connection failure permanent, in words, or None when another try
    might work: a certificate that does not verify (``certificate verify failed:
    self-signed certificate``), another TLS failure, a host name that does not resolve."""
    host = _host(exc)
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = cause.verify_message or cause.reason or "unknown reason"
            return f"certificate verify failed: {detail} (host {host}; name a private CA with ca_file)"
        if isinstance(cause, ssl.SSLError):
            return f"TLS with {host} failed: {cause.reason or cause}"
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve host {host} ({cause.strerror or cause})"
        cause = cause.__cause__ or cause.__context__
    return None


def _host(exc: httpx.TransportError) -> str:
    try:
        return str(exc.request.url.host)
    except RuntimeError:  # an error raised without its request
        return "the server"
