"""YAML text -> a plain document that remembers where every key and value was written.

The config is parsed with ruamel.yaml's round-trip composer, which keeps the position of
every node, and converted to plain JSON-like data (dicts with string keys, lists, str,
int, float, bool, None) for the schema and the checks. Converting the nodes ourselves
(not ruamel's constructor) lets one run report every duplicate key instead of stopping at
the first, and keeps mapping keys exactly as written (course ``0100`` stays ``"0100"``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ruamel.yaml import YAML
from ruamel.yaml.composer import MaxDepthExceededError
from ruamel.yaml.error import MarkedYAMLError, ReusedAnchorWarning, StreamMark, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from reconciler.config.issues import ConfigIssue, PathPart, format_path

Path = tuple[PathPart, ...]
Position = tuple[int, int]
"""A 1-based (line, column)."""

_TAG = "tag:yaml.org,2002:"
_CONSTRUCTED = {_TAG + "int", _TAG + "float", _TAG + "bool", _TAG + "null"}
# Kept as the text written: a date-like term name stays text instead of becoming a date.
_AS_TEXT = {_TAG + "str", _TAG + "timestamp"}
_COLLECTIONS = {_TAG + "map", _TAG + "seq"}
_MERGE = _TAG + "merge"
#: A config nests about eight levels; far deeper text is a mistake, refused before Python's recursion limit.
_MAX_DEPTH = 50
#: Aliases can multiply a small text into billions of values ("billion laughs"); a real config has thousands.
_MAX_VALUES = 200_000


@dataclass(frozen=True)
class Document:
    """A parsed config: plain ``data`` plus where each value and each mapping key sits."""

    file: str
    data: object
    values: Mapping[Path, Position]
    keys: Mapping[Path, Position]

    def position(self, path: Path, *, key: bool = False) -> Position:
        """Where the value at ``path`` was written (its key, with ``key=True``, when it has one).

        A path that is not in the document (a missing key) falls back to its nearest
        written ancestor, so every issue can be located.
        """
        if key and path in self.keys:
            return self.keys[path]
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, (1, 1))

    def issue(self, path: Path, message: str, *, key: bool = False) -> ConfigIssue:
        """A :class:`ConfigIssue` at ``path`` (at its key with ``key=True``)."""
        line, col = self.position(path, key=key)
        return ConfigIssue(self.file, line, col, format_path(path), message)


def parse_document(text: str, file: str) -> tuple[Document | None, list[ConfigIssue]]:
    """Parse YAML text. Returns the document (None when it cannot be parsed) and the
    problems found while reading it: syntax errors, duplicate keys, unsupported tags."""
    yaml = YAML(typ="rt")
    yaml.max_depth = _MAX_DEPTH
    try:
        with warnings.catch_warnings():
            # Redefining an anchor is valid YAML (later aliases use the new one); the library never prints.
            warnings.simplefilter("ignore", ReusedAnchorWarning)
            root = yaml.compose(text)
    except MaxDepthExceededError as exc:
        line, col = _mark_position(exc.problem_mark)
        return None, [ConfigIssue(file, line, col, "", f"invalid YAML: nested deeper than {_MAX_DEPTH} levels")]
    except MarkedYAMLError as exc:
        return None, [_syntax_issue(exc, file)]
    except ReaderError as exc:
        line, col = _offset_position(text, exc.position)
        return None, [ConfigIssue(file, line, col, "", f"invalid YAML: {exc.reason} (character #x{exc.character:04x})")]
    if root is None or (isinstance(root, ScalarNode) and root.tag == _TAG + "null"):
        message = "the file holds no settings: a config needs at least version, moodle and connections"
        return None, [ConfigIssue(file, 1, 1, "", message)]
    converter = _Converter(yaml, file)
    data = converter.convert(root, ())
    if converter.overflow:
        # What was left out would only draw false complaints (missing keys, wrong types).
        return None, [converter.overflow]
    return Document(file, data, converter.values, converter.keys), converter.issues


def _syntax_issue(exc: MarkedYAMLError, file: str) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    line, col = _mark_position(mark) if mark is not None else (1, 1)
    message = f"invalid YAML: {exc.problem or exc.context}"
    if exc.problem and exc.context and exc.context.startswith("while"):
        at = exc.context_mark
        where = f" that starts at line {at.line + 1}, column {at.column + 1}" if at is not None else ""
        message += f" ({exc.context}{where})"
    elif exc.problem and exc.context:  # "expected a single document in the stream", "but found another document"
        message = f"invalid YAML: {exc.context}, {exc.problem}"
    if "'\\t'" in message:
        message += "; indent with spaces, YAML does not allow tabs"
    return ConfigIssue(file, line, col, "", message)


def _short(tag: str) -> str:
    """A tag as written: ``!!set`` for the standard ones."""
    return "!!" + tag.removeprefix(_TAG) if tag.startswith(_TAG) else tag


def _mark_position(mark: StreamMark) -> Position:
    return mark.line + 1, mark.column + 1


def _offset_position(text: str, offset: int) -> Position:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


class _Converter:
    """Walks the composed node graph once, recording positions and collecting issues."""

    def __init__(self, yaml: YAML, file: str) -> None:
        self._constructor = yaml.constructor
        self._file = file
        self._active: set[int] = set()  # nodes being converted: an alias back to one is a cycle
        self._seen: set[tuple[int, int, str]] = set()
        self._count = 0
        self._converted: set[int] = set()  # nodes converted once: meeting one again is an alias
        self._aliased = False
        self.overflow: ConfigIssue | None = None
        self.values: dict[Path, Position] = {}
        self.keys: dict[Path, Position] = {}
        self.issues: list[ConfigIssue] = []

    def _overflow_message(self) -> str:
        if self._aliased:
            return f"aliases expand this file to over {_MAX_VALUES} values; write it out plainly"
        return (
            f"the file holds over {_MAX_VALUES} values, far more than a config (a few thousand): is it the right file?"
        )

    def _report(self, node: Node, path: Path, message: str) -> None:
        line, col = _mark_position(node.start_mark)
        # A node reached again through an alias would repeat its issue at the same place.
        if (line, col, message) not in self._seen:
            self._seen.add((line, col, message))
            self.issues.append(ConfigIssue(self._file, line, col, format_path(path), message))

    def convert(self, node: Node, path: Path) -> object:
        self._count += 1
        if self._count > _MAX_VALUES:
            if self.overflow is None:
                line, col = _mark_position(node.start_mark)
                self.overflow = ConfigIssue(self._file, line, col, "", self._overflow_message())
            return None
        if id(node) in self._converted:
            self._aliased = True
        self._converted.add(id(node))
        self.values.setdefault(path, _mark_position(node.start_mark))
        if id(node) in self._active:
            self._report(node, path, "this alias refers to a value that contains it (a loop)")
            return None
        tag = str(node.tag)
        if isinstance(node, ScalarNode):
            return self._scalar(node, tag, path)
        if tag not in _COLLECTIONS:
            self._report(node, path, f"the YAML tag {_short(tag)} is not supported; remove it")
        self._active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self._active.discard(id(node))

    def _scalar(self, node: ScalarNode, tag: str, path: Path) -> object:
        text: str = node.value
        if tag in _AS_TEXT:
            return text
        if tag not in _CONSTRUCTED:
            self._report(node, path, f"the YAML tag {_short(tag)} is not supported; remove it")
            return text
        try:
            value = self._constructor.construct_object(node, deep=True)
        except (YAMLError, ValueError):
            self._report(node, path, f"this is not a valid {tag.removeprefix(_TAG)}")
            return text
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                self._report(node, path, "must be a finite number")
            return float(value)
        return int(value)

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, object]:
        result: dict[str, object] = {}
        merged: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.extend(self._merge_sources(value_node, path))
                continue
            key = self._key(key_node, path)
            if key is None:
                continue
            key_path = (*path, key)
            if key in result:
                first = self.keys[key_path][0]
                self._report(key_node, key_path, f"duplicate key '{key}': it is already given on line {first}")
                continue
            self._entry(result, key, key_node, value_node, key_path)
        # Explicit keys win over merged ones; among merged mappings the first listed wins.
        for key_node, value_node in merged:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key is not None and key not in result:
                self._entry(result, key, key_node, value_node, (*path, key))
        return result

    def _entry(self, result: dict[str, object], key: str, key_node: Node, value_node: Node, key_path: Path) -> None:
        self.keys[key_path] = _mark_position(key_node.start_mark)
        if isinstance(value_node, ScalarNode) and value_node.tag == _TAG + "null" and not value_node.value:
            # An empty value has no text of its own: point at its key.
            self.values[key_path] = self.keys[key_path]
        result[key] = self.convert(value_node, key_path)

    def _key(self, node: Node, path: Path) -> str | None:
        if isinstance(node, ScalarNode):
            key: str = node.value
            return key
        self._report(node, path, "a key must be plain text, not a list or a mapping")
        return None

    def _merge_sources(self, node: Node, path: Path) -> Iterator[tuple[Node, Node]]:
        """The entries a ``<<`` merge brings in, in priority order."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, MappingNode):
                self._report(source, path, "'<<' merges a mapping or a list of mappings, nothing else")
                continue
            if id(source) in self._active:
                self._report(source, path, "this merge refers to a mapping that contains it (a loop)")
                continue
            self._active.add(id(source))
            try:
                own = [(k, v) for k, v in source.value if k.tag != _MERGE]
                nested = [pair for k, v in source.value if k.tag == _MERGE for pair in self._merge_sources(v, path)]
            finally:
                self._active.discard(id(source))
            yield from own
            yield from nested
