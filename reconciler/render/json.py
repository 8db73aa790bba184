"""The plan as JSON: the plan file's own text, one member per line, one list item per line.

The layout is fixed, because the checksum is over the bytes:

- ``{`` on the first line; then each member of the document on one line (``  "scope": "all",``),
  in the document's order, except that a non-empty list opens on its member's line and
  holds one item per line (``    {...},``) before its closing ``  ],``;
- last, the ``checksum`` line: ``"sha256:"`` and the hex sha256 of every byte before that
  line; then ``}``.

One line per change diffs and greps one change at a time and lets a reader stream the
file. The C encoder does the work, a thousand items per call, so a district's first plan
(half a million changes) is written without ever holding its text whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from reconciler.render.layout import Doc

#: One encoder for every line: json.dumps would build a new one per call.
#: Plan documents are trees built fresh from the model: no cycle to guard against.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, check_circular=False)


def _one_encoder() -> Callable[[Any], str]:
    """The encoder's C core, made once: ``JSONEncoder.encode`` makes a new one per call,
    a third of the time of writing half a million short lines. Where the C core is
    missing (not CPython), the plain method."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _ENCODER.encode
    core = make(None, _ENCODER.default, json.encoder.encode_basestring, None, ": ", ", ", False, False, False)
    join = "".join
    return lambda value: join(core(value, 0))


_encode = _one_encoder()
CHECKSUM = "checksum"
#: List items encoded per call (and per chunk yielded).
_BATCH = 1000
_ITEM_SEPARATOR = ",\n    "


def body_chunks(doc: Doc) -> Iterator[str]:
    """The text before the checksum line, in pieces of up to a thousand lines."""
    yield "{\n"
    for name, value in doc.items():
        if name == CHECKSUM:
            continue
        head = f"  {_encode(name)}: "
        if not (isinstance(value, list) and value):
            yield f"{head}{_encode(value)},\n"
            continue
        yield head + "[\n"
        for start in range(0, len(value), _BATCH):
            items = _ITEM_SEPARATOR.join(map(_encode, value[start : start + _BATCH]))
            yield f"    {items}{',' if start + _BATCH < len(value) else ''}\n"
        yield "  ],\n"


def checksum_line(checksum: str) -> str:
    """The file's last member and its closing brace."""
    return f"  {_encode(CHECKSUM)}: {_encode(checksum)}\n}}\n"


def json_chunks(doc: Doc) -> Iterator[str]:
    """:func:`render_json`'s text in pieces. ``doc`` must hold its checksum (a sealed
    document, or a view of one: :func:`reconciler.planfile.seal`)."""
    yield from body_chunks(doc)
    yield checksum_line(doc[CHECKSUM])


def render_json(doc: Doc) -> str:
    """The document as the plan file's JSON, ending with a newline."""
    return "".join(json_chunks(doc))
