"""The saved plan: a versioned, checksummed JSON document that binds apply to what was reviewed.

``ps2moodle plan`` writes it (with its text and Markdown renderings), ``show`` renders it
and ``apply`` executes it. The document holds:

- the changes (:meth:`Change.to_dict`) in apply order, the notices and summary counts;
- ``config_digest``: the config the plan was computed from;
- ``fingerprints``: for every live object the plan touches, keyed ``<kind>:<key>``,
  what apply must still find: ``{"expect": "owned", "sha256": ...}`` (an owned object,
  unchanged since planning), ``{"expect": "unowned", "sha256": ...}`` (the unowned
  object an adopt takes over) or ``{"expect": "absent"}`` (a key a create or move will
  take). The sha256 is over the canonical JSON of the object and its Moodle id;
- the scope, tool version, creation time (UTC) and the safety verdict (with the
  override reason, if a person gave one);
- ``checksum``: sha256 of the canonical JSON of everything else. Any edit to the file
  makes :func:`load_plan` refuse it.

Plans never hold secrets: the config enters only as its digest, and no resource carries a
token or password. ``schema/plan.schema.json`` describes the format. Apart from
``created_at`` a document is deterministic: the same plan gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from reconciler import __version__
from reconciler.bulk import bulk
from reconciler.errors import PlanFileError
from reconciler.model import Key, Kind, State
from reconciler.plan.model import Change, Notice, Plan
from reconciler.redact import redact_document
from reconciler.render.json import json_chunks
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text

#: Bumped on any incompatible change to the document's shape.
FORMAT_VERSION = 1
#: Where ``plan`` writes unless told otherwise.
DEFAULT_OUT_DIR = Path("plan-output")


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


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> str:
    """The one JSON spelling of a value that checksums and fingerprints hash."""
    return _CANONICAL.encode(value)


def _sha256(value: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def _canonical_pieces(doc: Mapping[str, Any]) -> Iterator[str]:
    """``canonical_json(doc)`` in pieces, one list item at a time: the same text without
    ever holding it whole (a district's first plan is 300 MB of it)."""
    yield "{"
    for index, (name, value) in enumerate(sorted(doc.items())):
        yield ("," if index else "") + canonical_json(name) + ":"
        if isinstance(value, list):
            yield "["
            yield from (("," if i else "") + canonical_json(item) for i, item in enumerate(value))
            yield "]"
        else:
            yield canonical_json(value)
    yield "}"


def fingerprint(obj: Mapping[str, Any], moodle_id: int | None) -> str:
    """The fingerprint of one live object: its :meth:`Resource.to_dict` and its Moodle id."""
    return _sha256({"moodle_id": moodle_id, "object": obj})


def document_checksum(doc: Mapping[str, Any]) -> str:
    """The checksum of a document: over everything but the ``checksum`` field itself."""
    digest = hashlib.sha256()
    for piece in _canonical_pieces({k: v for k, v in doc.items() if k != "checksum"}):
        digest.update(piece.encode("utf-8"))
    return "sha256:" + digest.hexdigest()


@bulk
def build_document(
    plan: Plan,
    *,
    config_digest: str,
    scope: str,
    verdict: Verdict,
    created_at: datetime,
) -> dict[str, Any]:
    """The plan file document for ``plan``; ``created_at`` must be timezone-aware."""
    if created_at.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    changes = [c.to_dict() for c in plan.changes]
    doc: dict[str, Any] = {
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
            "total": len(changes),
            "by_action": plan.action_totals(),
            "by_kind": plan.counts(),
            "owned": dict(sorted(plan.owned_counts.items())),
        },
        "changes": changes,
        "notices": [n.to_dict() for n in plan.notices],
        "fingerprints": _fingerprints(changes),
    }
    doc["checksum"] = document_checksum(doc)
    return doc


def _expectations(change: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(<kind>:<key>, expect)`` for each live object a change dict touches.

    A create needs its key free; an adopt finds the unowned object under the key it will
    take; anything else acts on the owned object ``before``, and a move also needs the
    key it moves to free.
    """
    kind, action = change["kind"], change["action"]
    if action == "create":
        yield f"{kind}:{change['key']}", "absent"
    elif action == "adopt":
        yield f"{kind}:{change['key']}", "unowned"
    else:
        before_key = change["before"]["key"]
        yield f"{kind}:{before_key}", "owned"
        if change["after"] is not None and change["after"]["key"] != before_key:
            yield f"{kind}:{change['after']['key']}", "absent"


def _fingerprints(changes: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for change in changes:
        for where, expect in _expectations(change):
            entry = {"expect": expect}
            if expect != "absent":
                entry["sha256"] = fingerprint(change["before"], change["before_id"])
            if out.setdefault(where, entry) != entry:
                raise ValueError(f"the plan touches {where} twice with different expectations")
    return out


@bulk
def save_plan(
    doc: Mapping[str, Any], out_dir: str | os.PathLike[str] = DEFAULT_OUT_DIR, *, redact: bool = False
) -> PlanPaths:
    """Write ``plan.json`` (always complete: it is what apply runs) with ``plan.txt`` and
    ``plan.md`` next to it; ``redact`` pseudonymizes personal data in the two renderings.
    Each file is replaced atomically."""
    out = Path(out_dir)
    view = redact_document(doc) if redact else doc
    paths = PlanPaths(out / "plan.json", out / "plan.txt", out / "plan.md")
    try:
        out.mkdir(parents=True, exist_ok=True)
        # Each rendering is made just before it is written; the JSON is written in pieces.
        for path, render in (
            (paths.json, lambda: json_chunks(doc)),
            (paths.text, lambda: (render_text(view),)),
            (paths.markdown, lambda: (render_markdown(view),)),
        ):
            tmp = path.with_name(path.name + ".tmp")
            with tmp.open("w", encoding="utf-8") as file:
                file.writelines(render())
            os.replace(tmp, path)
    except OSError as exc:
        raise PlanFileError(f"cannot write the plan to {out}: {exc.strerror}") from None
    return paths


def read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The verified document of a plan file, or :class:`PlanFileError` saying what is wrong
    (unreadable, not a plan, another format version, a redacted view, altered)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise PlanFileError(f"cannot read plan file {path}: {reason}") from None
    try:
        doc = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise PlanFileError(f"plan file {path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or "format_version" not in doc:
        raise PlanFileError(f"{path} is not a ps2moodle plan file (it has no format_version)")
    if doc["format_version"] != FORMAT_VERSION:
        raise PlanFileError(
            f"plan file {path} has format version {doc['format_version']!r}; this ps2moodle "
            f"({__version__}) reads version {FORMAT_VERSION}. Plan again with this version."
        )
    if doc.get("redacted") is True:
        raise PlanFileError(
            f"{path} is a redacted view of plan {doc.get('checksum')}; it cannot be verified or applied. "
            "Use the plan.json that `ps2moodle plan` wrote."
        )
    if doc.get("checksum") != document_checksum(doc):
        raise PlanFileError(
            f"plan file {path} has been altered since it was written: its checksum does not match its content. "
            "Run `ps2moodle plan` again and review the new plan."
        )
    return doc


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


@bulk
def load_plan(path: str | os.PathLike[str]) -> tuple[dict[str, Any], Plan]:
    """The verified document of a plan file and the :class:`Plan` it holds."""
    doc = read_document(path)
    try:
        plan = Plan(
            changes=tuple(Change.from_dict(c) for c in doc["changes"]),
            notices=tuple(Notice(n["level"], n["message"], n["key"]) for n in doc["notices"]),
            owned_counts=dict(doc["summary"]["owned"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PlanFileError(f"plan file {path} is malformed: {type(exc).__name__}: {exc}") from None
    return doc, plan


def find_stale(doc: Mapping[str, Any], live: State) -> list[str]:
    """What no longer matches between a plan document and Moodle as it is now: one sentence
    per touched object that changed, disappeared, or (for a create) appeared. Empty when
    the plan still applies as reviewed. Sentences name fields, never their values."""
    recorded: Mapping[str, Mapping[str, str]] = doc["fingerprints"]
    problems: list[str] = []
    seen: set[str] = set()
    for change in doc["changes"]:
        for where, _ in _expectations(change):
            if where in seen:
                continue
            seen.add(where)
            kind, _, ident = where.partition(":")
            problem = _stale(change, Key(Kind(kind), ident), recorded[where], live)
            if problem:
                problems.append(f"{_name(change, where)}: {problem}")
    return problems


def _stale(change: Mapping[str, Any], key: Key, entry: Mapping[str, str], live: State) -> str:
    action = change["action"]
    if entry["expect"] == "absent":
        if key in live:
            return f"the plan would {action} it, but it now exists in Moodle"
        if key in live.foreign:
            return f"the plan would {action} it, but an object the tool does not own now holds its name"
        return ""
    if entry["expect"] == "unowned":
        if key in live:
            return "the plan would adopt it, but the tool already owns it now"
        current = live.foreign.get(key)
    else:
        current = live.get(key)
    if current is None:
        return f"the plan would {action} it, but it is no longer in Moodle"
    now = current.to_dict()
    if fingerprint(now, current.moodle_id) == entry["sha256"]:
        return ""
    before = change["before"]
    changed = sorted(f for f in before.keys() | now.keys() if before.get(f) != now.get(f))
    if current.moodle_id != change["before_id"]:
        changed.append("Moodle id (it was re-created)")
    return "changed in Moodle since the plan was made (" + ", ".join(changed) + ")"


def _name(change: Mapping[str, Any], where: str) -> str:
    label = change["label"]
    return where if label in (change["key"], where.partition(":")[2]) else f"{where} ({label})"
