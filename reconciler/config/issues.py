"""A located config problem, and the dotted paths that name a place in the document."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

PathPart = str | int
"""One step into the document: a mapping key or a list index."""

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def format_path(parts: Sequence[PathPart]) -> str:
    """A document path as people read it: ``connections[0].school_settings.100.terms[1]``.

    Keys that are not plain words are quoted (``safety.thresholds["suspend:user"]``).
    """
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part, ensure_ascii=False)}]"
    return text


@dataclass(frozen=True, slots=True, order=True)
class ConfigIssue:
    """One problem in a config file.

    ``line`` and ``col`` are 1-based; both are 0 when the problem concerns the whole file
    (it cannot be read). ``path`` names the place in the document (empty for the whole
    document). ``message`` is a plain sentence and never contains a secret value.
    """

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def to_dict(self) -> dict[str, str | int]:
        """The issue as a JSON-ready mapping."""
        return {"file": self.file, "line": self.line, "col": self.col, "path": self.path, "message": self.message}
