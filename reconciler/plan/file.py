"""The saved plan: a versioned, checksummed JSON file that binds apply to what was reviewed.

``ps2moodle plan`` writes it (with its text and Markdown renderings), ``show`` renders it
and ``apply`` executes it. This module holds both sides of the format: the writer and the
reader of a :class:`PlanDocument`. The file holds, in this order:

- the format version, the tool and its version, the creation time (UTC), the scope and
  ``config_digest`` (the config the plan was computed from);
- the safety verdict (with the override reason, if a person gave one), the brakes it
  judged by (the safety policy's limits, for renderings), the summary counts (which must
  agree with the changes), the notices and the names of the cohorts and groups the
  plan's memberships belong to (for renderings; a plan without ``brakes`` or ``names``
  reads as one that has none);
- the changes in apply order. Each carries what apply must still find in Moodle: a create
  needs its key free; an adopt needs the unowned object it recorded as ``before``;
  anything else needs the owned object ``before`` with its Moodle id unchanged, and a move
  also needs the key it moves to free;
- ``checksum``: the sha256 of every byte of the file before the checksum line. Any edit to
  the file makes :func:`read_plan` refuse it.

The layout is fixed, because the checksum is over the bytes: ``{`` on the first line; then
each member on one line (``  "scope": "all",``), except that a non-empty list opens on its
member's line and holds one item per line (``    {...},``) before its closing ``  ],``;
last the checksum line, then ``}``. One line per change diffs and greps one change at a
time and lets both sides stream: a district's first plan (half a million changes) is
never held as text or JSON objects whole. Lines are encoded and decoded by orjson, which
writes 2x and reads 2.8x as fast as the standard library here (``tests/planfile`` holds
the two to the same JSON).

A document is *sealed* when it gets its checksum (:func:`seal`, or :func:`write_plan` as
it writes). Plans never hold secrets: the config enters only as its digest, and no
resource carries a token or password. ``schema/plan.schema.json`` describes the format.
Apart from ``created_at`` a document is deterministic: the same plan gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any, TypeVar

import orjson

from reconciler import __version__
from reconciler.errors import PlanFileError
from reconciler.model import Key, Kind, resource_from_dict
from reconciler.plan.model import (
    Action,
    BrakeLimit,
    Brakes,
    Change,
    Notice,
    NoticeLevel,
    Plan,
    PlanDocument,
    Reason,
    SafetyVerdict,
    Summary,
)
from reconciler.speed import gc_paused, members

#: Bumped on any incompatible change to the file's shape. 2: no fingerprints member, checksum
#: over the file's bytes. 3: changes hold no copy of what before and after say (no fields,
#: no label), reasons are codes, and a change's course is data (no display-only context).
FORMAT_VERSION = 3
CHECKSUM = "checksum"
#: List items encoded per write.
_BATCH = 1000
_CHECKSUM_HEAD = b'  "checksum": '
_LIST_END = b"  ],\n"
T = TypeVar("T")
_action, _kind, _reason, _level = members(Action), members(Kind), members(Reason), members(NoticeLevel)


def build_document(
    plan: Plan,
    *,
    config_digest: str,
    scope: str,
    verdict: SafetyVerdict,
    created_at: datetime,
    brakes: Brakes | None = None,
    names: Mapping[str, str] | None = None,
) -> PlanDocument:
    """The (unsealed) document of ``plan``; ``created_at`` must be timezone-aware.
    ``brakes`` and ``names`` are recorded for renderings (see :class:`PlanDocument`)."""
    if created_at.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return PlanDocument(
        format_version=FORMAT_VERSION,
        tool="ps2moodle",
        tool_version=__version__,
        created_at=created_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        scope=scope,
        config_digest=config_digest,
        redacted=False,
        verdict=verdict,
        notices=plan.notices,
        changes=plan.changes,
        owned=dict(sorted(plan.owned_counts.items())),
        brakes=brakes,
        names=dict(sorted((names or {}).items())),
    )


# --- writing ---------------------------------------------------------------------------


def change_record(change: Change) -> dict[str, Any]:
    """A change as its file line holds it. What a reader can tell from ``key`` is left out:
    the key of ``before`` and ``after`` unless a move or adopt gives ``before`` another one."""
    before, after, key = change.before, change.after, change.key.id
    out: dict[str, Any] = {
        "action": change.action,
        "kind": change.key.kind,
        "key": key,
        "before": None if before is None else before.to_dict(implied_key=key),
        "before_id": None if before is None else before.moodle_id,
        "after": None if after is None else after.to_dict(implied_key=key),
        "reason": change.reason,
    }
    if change.rule:
        out["rule"] = change.rule
    if change.group_course is not None:
        out["group_course"] = change.group_course.id
    if change.course_name:
        out["course_name"] = change.course_name
    if change.member:
        out["member"] = change.member
    return out


def _summary_record(summary: Summary) -> dict[str, Any]:
    return {"total": summary.total, "by_action": summary.by_action, "by_kind": summary.by_kind, "owned": summary.owned}


def _header_records(doc: PlanDocument) -> Iterator[tuple[str, Any]]:
    verdict = doc.verdict
    yield from (
        ("format_version", doc.format_version),
        ("tool", doc.tool),
        ("tool_version", doc.tool_version),
        ("created_at", doc.created_at),
        ("scope", doc.scope),
        ("config_digest", doc.config_digest),
        ("redacted", doc.redacted),
        *((("pseudonyms", doc.pseudonyms),) if doc.pseudonyms is not None else ()),
        ("verdict", {"ok": verdict.ok, "violations": verdict.violations, "override_reason": verdict.override_reason}),
        ("brakes", None if doc.brakes is None else _brakes_record(doc.brakes)),
        ("summary", _summary_record(doc.summary)),
        ("notices", [{"level": n.level, "message": n.message, "key": n.key} for n in doc.notices]),
        ("names", doc.names),
    )


def _brakes_record(brakes: Brakes) -> dict[str, Any]:
    return {
        "min_existing": brakes.min_existing,
        "limits": {b.brake: {"count": b.count, "percent": b.percent} for b in brakes.limits},
    }


def _list_lines(head: bytes, items: Iterable[Any], count: int) -> Iterator[bytes]:
    if not count:
        yield head + b"[],\n"
        return
    yield head + b"[\n"
    rows = iter(items)
    for start in range(0, count, _BATCH):
        batch = b",\n    ".join(map(orjson.dumps, islice(rows, _BATCH)))
        yield b"    " + batch + (b",\n" if start + _BATCH < count else b"\n")
    yield _LIST_END


def _body(doc: PlanDocument) -> Iterator[bytes]:
    """The file's bytes before the checksum line, in pieces of up to a thousand lines."""
    yield b"{\n"
    for name, value in _header_records(doc):
        head = b'  "' + name.encode() + b'": '
        if isinstance(value, list):
            yield from _list_lines(head, value, len(value))
        else:
            yield head + orjson.dumps(value) + b",\n"
    yield from _list_lines(b'  "changes": ', map(change_record, doc.changes), len(doc.changes))


def _checksum_line(checksum: str) -> bytes:
    return _CHECKSUM_HEAD + orjson.dumps(checksum) + b"\n}\n"


def _sealed(doc: PlanDocument, write: Callable[[bytes], object]) -> PlanDocument:
    """Hand ``write`` the file's bytes; ``doc`` with its checksum."""
    digest = hashlib.sha256()
    for chunk in _body(doc):
        digest.update(chunk)
        write(chunk)
    checksum = "sha256:" + digest.hexdigest()
    if doc.checksum not in (None, checksum):
        raise ValueError("the plan document was changed after it was sealed")
    write(_checksum_line(checksum))
    return doc if doc.checksum is not None else replace(doc, checksum=checksum)


def seal(doc: PlanDocument) -> PlanDocument:
    """``doc`` with its checksum, without writing it anywhere."""
    return _sealed(doc, lambda _: None)


def render_json(doc: PlanDocument) -> str:
    """The document as its file's text; ``doc`` must be sealed, or a view of a sealed one
    (a redacted view keeps the checksum of the plan it shows)."""
    return (b"".join(_body(doc)) + _checksum_line(doc.sealed_checksum)).decode("utf-8")


def write_plan(doc: PlanDocument, path: Path) -> PlanDocument:
    """Write ``doc`` to ``path`` (replaced atomically), sealing it; the sealed document."""
    return write_atomically(path, lambda file: _sealed(doc, file.write))


def write_atomically(path: Path, write: Callable[[IO[bytes]], T]) -> T:
    """Write a file through ``write`` under a temporary name, then put it in place; what
    ``write`` returned."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as file:
        result = write(file)
    os.replace(tmp, path)
    return result


# --- reading ---------------------------------------------------------------------------


class _Layout(ValueError):
    """The file does not have the layout plan writes (so it was not written by it, or was edited)."""


_MALFORMED = (KeyError, TypeError, ValueError, AttributeError)


class _Parser:
    """Reads a plan file one line at a time, hashing as it goes; each line is a member, the
    opening or the end of a list, a list item, or the checksum line."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        self.digest = hashlib.sha256()
        self.header: dict[str, Any] = {}
        self.changes: list[Change] = []
        self.failure: Exception | None = None
        self.opened: str | None = None  # the list whose items are being read
        self.items: list[Any] = []

    def parse(self, rows: Iterator[bytes]) -> str:
        """The checksum the file states, once every line before it was read."""
        if next(rows, b"") != b"{\n":
            raise _Layout("no opening brace")
        self.digest.update(b"{\n")
        for raw in rows:
            if self.opened is None and raw.startswith(_CHECKSUM_HEAD):
                if b"".join(rows) != b"}\n":
                    raise _Layout("text after the checksum")
                checksum: str = orjson.loads(raw[len(_CHECKSUM_HEAD) :])
                return checksum
            self.digest.update(raw)
            if self.opened is None:
                self.member(raw)
            elif raw == _LIST_END:
                self.header[self.opened], self.opened = self.items, None
            else:
                self.item(raw)
        raise _Layout("no checksum line")

    def member(self, raw: bytes) -> None:
        name, colon, value = raw[3:].partition(b'": ')
        key = name.decode("utf-8")
        if not raw.startswith(b'  "') or not colon or key in self.header:
            raise _Layout("not a member line, or a repeated one")
        if value == b"[\n":
            if key == "changes":
                _check_header(self.path, self.header)  # changes are read only in a plan of this version
            self.opened, self.items = key, []
        elif value.endswith(b",\n"):
            self.header[key] = orjson.loads(value[:-2])
        else:
            raise _Layout("not a member line")

    def item(self, raw: bytes) -> None:
        if not raw.startswith(b"    "):
            raise _Layout("not a list item")
        value = orjson.loads(raw[4:-2] if raw.endswith(b",\n") else raw[4:-1])
        if self.opened != "changes":
            self.items.append(value)
        elif self.failure is None:
            try:
                self.changes.append(_change(value))
            except _MALFORMED as exc:
                self.failure = exc


#: How every plan file starts (its layout is fixed), give or take a byte-order mark and spaces.
_PLAN_START = re.compile(rb'\A(?:\xef\xbb\xbf)?\s*\{\s*"format_version"\s*:')


def is_plan_file(path: str | os.PathLike[str]) -> bool:
    """Whether the file at ``path`` is a plan file, told by its first bytes, not its name
    (a config is YAML or JSON whose first member is never ``format_version``).
    :class:`OSError` when it cannot be read."""
    with Path(path).open("rb") as file:
        return _PLAN_START.match(file.read(256)) is not None


@gc_paused
def read_plan(path: str | os.PathLike[str]) -> PlanDocument:
    """The verified document of a plan file, or :class:`PlanFileError` saying what is wrong
    (unreadable, not a plan, another format version, a redacted view, altered, malformed)."""
    parser = _Parser(path)
    try:
        with Path(path).open("rb") as file:
            try:
                checksum = parser.parse(iter(file))
            except ValueError:  # _Layout, undecodable text or JSON
                file.seek(0)
                raise _diagnose(path, file.read()) from None
    except OSError as exc:
        raise PlanFileError(f"cannot read plan file {path}: {exc.strerror}") from None
    header = parser.header
    header.pop("changes", None)  # an empty list sits on its member line, like any other member
    _check_header(path, header)
    if checksum != "sha256:" + parser.digest.hexdigest():
        raise _altered(path)
    try:
        if parser.failure is not None:
            raise parser.failure
        return _document(header, parser.changes, checksum)
    except _MALFORMED as exc:
        raise PlanFileError(f"plan file {path} is malformed: {type(exc).__name__}: {exc}") from None


def _change(record: Mapping[str, Any]) -> Change:
    kind = _kind(record["kind"])
    key = record["key"]
    before, after = record["before"], record["after"]
    if before is None and after is None:
        raise ValueError(f"change {key!r} has neither before nor after")
    group_course = record.get("group_course")
    reason = record["reason"]
    return Change(
        action=_action(record["action"]),
        key=Key(kind, key),
        before=None
        if before is None
        else resource_from_dict(kind, before, implied_key=key, moodle_id=record["before_id"]),
        after=None if after is None else resource_from_dict(kind, after, implied_key=key),
        reason=None if reason is None else _reason(reason),
        rule=_text(record.get("rule", "")),
        group_course=None if group_course is None else Key(Kind.COURSE, _text(group_course)),
        course_name=_text(record.get("course_name", "")),
        member=_text(record.get("member", "")),
    )


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, not {value!r}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, not {value!r}")
    return value


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError(f"expected a count, not {value!r}")
    return value


def _document(header: Mapping[str, Any], changes: list[Change], checksum: str) -> PlanDocument:
    verdict, summary = header["verdict"], header["summary"]
    reason = verdict["override_reason"]
    doc = PlanDocument(
        format_version=header["format_version"],
        tool=_text(header["tool"]),
        tool_version=_text(header["tool_version"]),
        created_at=_text(header["created_at"]),
        scope=_text(header["scope"]),
        config_digest=_text(header["config_digest"]),
        redacted=_flag(header["redacted"]),
        verdict=SafetyVerdict(
            ok=_flag(verdict["ok"]),
            violations=tuple(map(_text, verdict["violations"])),
            override_reason=None if reason is None else _text(reason),
        ),
        notices=tuple(Notice(_level(n["level"]), _text(n["message"]), _text(n["key"])) for n in header["notices"]),
        changes=tuple(changes),
        owned={_text(kind): _count(n) for kind, n in summary["owned"].items()},
        checksum=checksum,
        brakes=_brakes(header.get("brakes")),
        names={_text(key): _text(name) for key, name in header.get("names", {}).items()},
    )
    if summary != _summary_record(doc.summary):
        raise ValueError("its summary does not count its changes")
    return doc


def _brakes(record: Mapping[str, Any] | None) -> Brakes | None:
    """The recorded brakes (absent in a plan written before they were recorded)."""
    if record is None:
        return None
    limits = tuple(
        BrakeLimit(_text(brake), _limit(limit["count"]), _limit(limit["percent"]))
        for brake, limit in record["limits"].items()
    )
    return Brakes(limits, _count(record["min_existing"]))


def _limit(value: Any) -> Any:
    if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0):
        raise TypeError(f"expected a limit, not {value!r}")
    return value


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
