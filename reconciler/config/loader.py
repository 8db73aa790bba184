"""Load a config file: read it, check it completely, build the typed :class:`Config`.

Every problem in a file is reported in one run, each located (``file:line:col``) and
worded for a person; a config problem never surfaces as a traceback. Secrets are not
resolved here: a :class:`SecretRef` is resolved later, by the command that needs it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from reconciler.config.build import build_config
from reconciler.config.checks import semantic_issues
from reconciler.config.document import parse_document
from reconciler.config.issues import ConfigIssue
from reconciler.config.model import Config
from reconciler.config.schema import schema_issues
from reconciler.errors import ConfigError

__all__ = ["ConfigIssue", "check_config", "load_config"]


def check_config(path: str | os.PathLike[str]) -> list[ConfigIssue]:
    """Every problem of the config file at ``path``, sorted by position; empty when valid."""
    return _load(path)[1]


def load_config(path: str | os.PathLike[str]) -> Config:
    """The config file at ``path`` as a :class:`Config`.

    Raises :class:`ConfigError` whose ``issues`` are every :class:`ConfigIssue` found.
    """
    config, issues = _load(path)
    if config is None:
        raise ConfigError(list(issues))
    return config


#: Largest config file read. A district's config is a few KB; a file past this is a
#: mistake (a data export, a log) and would only cost minutes and gigabytes to parse.
MAX_CONFIG_BYTES = 1 << 20


def _load(path: str | os.PathLike[str]) -> tuple[Config | None, list[ConfigIssue]]:
    file = os.fspath(path)
    try:
        with Path(file).open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        return None, [ConfigIssue(file, 0, 0, "", f"cannot read the file: {exc.strerror or exc}")]
    if len(raw) > MAX_CONFIG_BYTES:
        message = (
            f"the file is larger than {MAX_CONFIG_BYTES // 1024} KiB, the most a config may be "
            "(a district's config is a few KB): is it the right file?"
        )
        return None, [ConfigIssue(file, 1, 1, "", message)]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        col = len(raw[line_start : exc.start].decode("utf-8", "replace")) + 1
        return None, [ConfigIssue(file, line, col, "", "the file is not UTF-8 text")]
    doc, issues = parse_document(text, file)
    if doc is None:
        return None, issues
    # A value the reader already objected to (an unsupported tag...) would only draw
    # follow-on complaints at the same place; the reader's issue names the cause.
    reading = {(issue.line, issue.col) for issue in issues}
    checked = [i for i in [*schema_issues(doc), *semantic_issues(doc)] if (i.line, i.col) not in reading]
    issues = sorted([*issues, *checked])
    if issues:
        return None, issues
    return build_config(doc, digest=_digest(doc.data)), []


#: Top-level sections that say how the tool runs, not what Moodle should hold: changing
#: them must not make a reviewed plan stale.
_NOT_DIGESTED = ("serve",)


def _digest(data: object) -> str:
    """sha256 of the canonical JSON of the settings: comments, layout, key order,
    ``x-`` anchor holders and the ``serve`` section do not change it."""
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if not k.startswith("x-") and k not in _NOT_DIGESTED}
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
