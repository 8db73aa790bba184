"""Diagnostics on stderr: how loud (``-v``/``-q``) and in what shape (``--log-format``).

One handler on the root logger, set up once per run by the global options; a command's own
``-v`` only raises the level. Both shapes pass every message through :func:`scrub`, so a
credential that slips into a message (a URL with a token, an Authorization header) is
masked before it is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from enum import Enum
from typing import TextIO


class LogFormat(str, Enum):
    """The shape of the log lines on stderr."""

    TEXT = "text"  # time level logger: message, for people
    JSON = "json"  # one JSON object per line, for log collectors


#: Values that are credentials whatever the message around them: ``token=...``-style
#: parameters and HTTP authorization schemes.
_SECRETS = re.compile(
    r"\b(?P<name>(?:ws)?token|client_secret|access_token|password|webhook_key|secret)(?P<sep>\s*[=:]\s*)"
    r"(?P<value>[^\s&,;\"']+)|\b(?P<scheme>Bearer|Basic)\s+[A-Za-z0-9+/=._~-]+",
    re.IGNORECASE,
)
MASK = "***"


def scrub(message: str) -> str:
    """``message`` with every credential-looking value replaced by ``***``."""

    def mask(match: re.Match[str]) -> str:
        if match.group("scheme"):
            return f"{match.group('scheme')} {MASK}"
        return f"{match.group('name')}{match.group('sep')}{MASK}"

    return _SECRETS.sub(mask, message)


def _message(record: logging.LogRecord) -> str:
    """The record's message, its exception named (never a traceback), scrubbed."""
    message = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        message = f"{message}: {type(error).__name__}: {error}"
    return scrub(message)


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """``time level logger: message``, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{_time(record)} {record.levelname} {record.name}: {_message(record)}"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": _time(record), "level": record.levelname, "logger": record.name, "message": _message(record)}
        return json.dumps(entry, ensure_ascii=False)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to whatever ``sys.stderr`` is when a record comes (a test runner
    swaps it per run)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


#: The handler :func:`configure` installed, replaced by the next call.
_installed: list[logging.Handler] = []


def configure(level: int, fmt: LogFormat) -> None:
    """Send records at ``level`` and above to stderr in ``fmt``, replacing this module's
    earlier setup (handlers others installed, such as a test runner's, stay)."""
    handler = _Stderr()
    handler.setFormatter(JsonFormatter() if fmt is LogFormat.JSON else TextFormatter())
    root = logging.getLogger()
    while _installed:
        root.removeHandler(_installed.pop())
    root.addHandler(handler)
    _installed.append(handler)
    root.setLevel(level)
    # httpx logs every request line with its URL at INFO; the URLs carry no secret
    # (tokens travel in bodies and headers), but they drown the tool's own notes.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def raise_to(level: int) -> None:
    """Make the log at least as detailed as ``level`` (a command's own ``-v``)."""
    root = logging.getLogger()
    root.setLevel(min(root.level, level))
