"""The saved plan: a versioned, checksummed JSON document that binds apply to what was reviewed.

``ps2moodle plan`` writes it (with its text and Markdown renderings), ``show`` renders it
and ``apply`` executes it. The document holds, in this order:

- the format version, the tool and its version, the creation time (UTC), the scope and
  ``config_digest`` (the config the plan was computed from);
- the safety verdict (with the override reason, if a person gave one), the summary counts
  and the notices;
- the changes (:meth:`Change.to_dict`) in apply order. Each carries what apply must still
  find in Moodle: a create needs its key free; an adopt needs the unowned object it
  recorded as ``before``; anything else needs the owned object ``before`` with its Moodle
  id unchanged, and a move also needs the key it moves to free;
- ``checksum``: the sha256 of every byte of the file before the checksum line
  (:mod:`reconciler.render.json` fixes the layout). Any edit to the file makes
  :func:`load_plan` refuse it.

A document is *sealed* when it gets its checksum: :func:`save_plan` seals it as it writes
it (a district's first plan is encoded once), :func:`seal` without writing.

Plans never hold secrets: the config enters only as its digest, and no resource carries a
token or password. ``schema/plan.schema.json`` describes the format. Apart from
``created_at`` a document is deterministic: the same plan gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

from reconciler import __version__
from reconciler.bulk import bulk
from reconciler.errors import PlanFileError
from reconciler.model import Key, Resource, State
from reconciler.plan.model import Action, Change, Notice, Plan
from reconciler.redact import redact_document
from reconciler.render.json import CHECKSUM, body_chunks, checksum_line
from reconciler.render.layout import group_changes
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text

#: Bumped on any incompatible change to the document's shape. 2: no fingerprints member
#: (apply reads what it checks from the changes), checksum over the file's bytes.
FORMAT_VERSION = 2
#: Where ``plan`` writes unless told otherwise.
DEFAULT_OUT_DIR = Path("plan-output")

T = TypeVar("T")


class Verdict(Protocol):
    """What the safety gate said (:class:`reconciler.safety.SafetyVerdict` fits)."""

    @property
    def ok(self) -> bool: ...
    @property
    def violations(self) -> Sequence[str]: ...
    @property
    def override_reason(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class PlanPaths:
    """The files :func:`save_plan` wrote."""

    json: Path
    text: Path
    markdown: Path


@bulk
def build_document(
    plan: Plan,
    *,
    config_digest: str,
    scope: str,
    verdict: Verdict,
    created_at: datetime,
) -> dict[str, Any]:
    """The (unsealed) plan file document for ``plan``; ``created_at`` must be timezone-aware."""
    if created_at.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return {
        "format_version": FORMAT_VERSION,
        "tool": "ps2moodle",
        "tool_version": __version__,
        "created_at": created_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "scope": scope,
        "config_digest": config_digest,
        "redacted": False,
        "verdict": {
            "ok": verdict.ok,
            "violations": list(verdict.violations),
            "override_reason": verdict.override_reason,
        },
        "summary": {
            "total": len(plan.changes),
            "by_action": plan.action_totals(),
            "by_kind": plan.counts(),
            "owned": dict(sorted(plan.owned_counts.items())),
        },
        "notices": [n.to_dict() for n in plan.notices],
        "changes": [c.to_dict() for c in plan.changes],
    }


def _sealed(doc: dict[str, Any], write: Callable[[bytes], object]) -> None:
    """Hand ``write`` the plan file's bytes, giving ``doc`` its checksum on the way."""
    digest = hashlib.sha256()
    for chunk in body_chunks(doc):
        data = chunk.encode("utf-8")
        digest.update(data)
        write(data)
    checksum = "sha256:" + digest.hexdigest()
    if doc.setdefault(CHECKSUM, checksum) != checksum:
        raise ValueError("the plan document was changed after it was sealed")
    write(checksum_line(checksum).encode("utf-8"))


@bulk
def seal(doc: dict[str, Any]) -> dict[str, Any]:
    """Give ``doc`` its checksum without writing it anywhere; returns ``doc``."""
    _sealed(doc, lambda _: None)
    return doc


@bulk
def save_plan(
    doc: dict[str, Any],
    out_dir: str | os.PathLike[str] = DEFAULT_OUT_DIR,
    *,
    redact: bool = False,
    redact_key: bytes | None = None,
) -> PlanPaths:
    """Write ``plan.json`` (always complete: it is what apply runs), sealing ``doc``, then
    ``plan.txt`` and ``plan.md`` next to it; ``redact`` pseudonymizes personal data in the
    two renderings (the same in every plan with ``redact_key``). Each file is replaced atomically."""
    out = Path(out_dir)
    paths = PlanPaths(out / "plan.json", out / "plan.txt", out / "plan.md")
    try:
        out.mkdir(parents=True, exist_ok=True)
        _replace(paths.json, lambda file: _sealed(doc, file.write))
        view = redact_document(doc, redact_key) if redact else doc
        groups = group_changes(view["changes"])  # both renderings group alike
        _replace(paths.text, lambda file: file.write(render_text(view, groups=groups).encode("utf-8")))
        _replace(paths.markdown, lambda file: file.write(render_markdown(view, groups=groups).encode("utf-8")))
    except OSError as exc:
        raise PlanFileError(f"cannot write the plan to {out}: {exc.strerror}") from None
    return paths


def _replace(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as file:
        write(file)
    os.replace(tmp, path)


def read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The verified document of a plan file, or :class:`PlanFileError` saying what is wrong
    (unreadable, not a plan, another format version, a redacted view, altered)."""
    header, changes = _read(path, lambda change: change)
    return {**header, "changes": changes}


@bulk
def load_plan(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Plan]:
    """The verified document of a plan file, less its changes, and the :class:`Plan` they
    make. The changes are turned into :class:`Change` objects as they are read, so the
    whole file is never held as JSON objects too."""
    header, changes = _read(path, Change.from_dict)
    try:
        plan = Plan(
            changes=tuple(changes),
            notices=tuple(Notice(n["level"], n["message"], n["key"]) for n in header["notices"]),
            owned_counts=dict(header["summary"]["owned"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PlanFileError(f"plan file {path} is malformed: {type(exc).__name__}: {exc}") from None
    return header, plan


class _Layout(ValueError):
    """The file does not have the layout plan writes (so it was not written by it, or was edited)."""


def _read(path: str | os.PathLike[str], convert: Callable[[dict[str, Any]], T]) -> tuple[dict[str, Any], list[T]]:
    """The members of a plan file but its changes, and its changes passed through ``convert``.

    The file is read one line at a time in the layout :mod:`reconciler.render.json` writes,
    hashing as it goes. Anything else is diagnosed by :func:`_diagnose`, which says why.
    """
    try:
        with Path(path).open("rb") as file:
            try:
                header, changes, digest, failure = _parse(file, convert)
            except ValueError:  # _Layout, undecodable text or JSON
                file.seek(0)
                raise _diagnose(path, file.read()) from None
    except OSError as exc:
        raise PlanFileError(f"cannot read plan file {path}: {exc.strerror}") from None
    header.pop("changes", None)  # an empty list sits on its member line, like any other member
    _check_header(path, header)
    if header.get(CHECKSUM) != "sha256:" + digest:
        raise _altered(path)
    if failure is not None:
        raise PlanFileError(f"plan file {path} is malformed: {type(failure).__name__}: {failure}")
    return header, changes


def _parse(
    lines: Iterable[bytes], convert: Callable[[dict[str, Any]], T]
) -> tuple[dict[str, Any], list[T], str, Exception | None]:
    """``(header, converted changes, hex digest of the bytes before the checksum line,
    the first conversion failure)``; :class:`_Layout` when the layout is not plan's."""
    digest = hashlib.sha256()
    header: dict[str, Any] = {}
    changes: list[T] = []
    failure: Exception | None = None
    rows = iter(lines)
    if next(rows, b"") != b"{\n":
        raise _Layout("no opening brace")
    digest.update(b"{\n")
    for raw in rows:
        text = raw.decode("utf-8")
        if text.startswith(f'  "{CHECKSUM}": '):
            header[CHECKSUM] = json.loads(text[len(CHECKSUM) + 6 :])
            if b"".join(rows) != b"}\n":
                raise _Layout("text after the checksum")
            return header, changes, digest.hexdigest(), failure
        digest.update(raw)
        if not text.startswith('  "'):
            raise _Layout("not a member line")
        if not text.endswith(": [\n"):
            if not text.endswith(",\n"):
                raise _Layout("not a member line")
            member = json.loads("{" + text[:-2] + "}")
            if len(member) != 1 or member.keys() & header.keys():
                raise _Layout("a repeated member")
            header.update(member)
            continue
        name = json.loads(text[2:-4])
        if name in header or (name == "changes" and "format_version" not in header):
            raise _Layout("a repeated member, or changes before the format version")
        if header.get("redacted") is True:
            raise _Layout("a redacted view")
        items: list[Any] = []
        for raw in rows:
            digest.update(raw)
            item = raw.decode("utf-8")
            if item == "  ],\n":
                break
            if not item.startswith("    "):
                raise _Layout("not a list item")
            value = json.loads(item[4:-2] if item.endswith(",\n") else item[4:-1])
            if name != "changes":
                items.append(value)
            elif failure is None:
                try:
                    changes.append(convert(value))
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    failure = exc
        else:
            raise _Layout("a list that does not end")
        if name != "changes":
            header[name] = items
    raise _Layout("no checksum line")


def _check_header(path: str | os.PathLike[str], doc: Mapping[str, Any]) -> None:
    """Refuse documents that are not plans this version can apply, saying why."""
    if "format_version" not in doc:
        raise PlanFileError(f"{path} is not a ps2moodle plan file (it has no format_version)")
    if doc["format_version"] != FORMAT_VERSION:
        raise PlanFileError(
            f"plan file {path} has format version {doc['format_version']!r}; this ps2moodle "
            f"({__version__}) reads version {FORMAT_VERSION}. Plan again with this version."
        )
    if doc.get("redacted") is True:
        raise PlanFileError(
            f"{path} is a redacted view of plan {doc.get(CHECKSUM)}; it cannot be verified or applied. "
            "Use the plan.json that `ps2moodle plan` wrote."
        )


def _diagnose(path: str | os.PathLike[str], data: bytes) -> PlanFileError:
    """Why a file that is not laid out as plan writes it cannot be loaded."""
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        return PlanFileError(f"cannot read plan file {path}: it is not UTF-8 text")
    except ValueError as exc:
        return PlanFileError(f"plan file {path} is not valid JSON: {exc}")
    if not isinstance(doc, dict):
        doc = {}
    try:
        _check_header(path, doc)
    except PlanFileError as exc:
        return exc
    if b"\r\n" in data:
        return _altered(path, "its line endings were changed to CRLF (git's autocrlf, or an editor?)")
    return _altered(path)


def _altered(path: str | os.PathLike[str], how: str = "its checksum does not match its content") -> PlanFileError:
    return PlanFileError(
        f"plan file {path} has been altered since it was written: {how}. "
        "Run `ps2moodle plan` again and review the new plan."
    )


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


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
