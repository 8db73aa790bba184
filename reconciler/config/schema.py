"""The config's JSON Schema: load it from the package, check a document, say what is wrong.

``schema/config.schema.json`` is the single source of truth for the config's shape (editors
read it too). jsonschema finds the violations; this module turns each into a located,
plain-English :class:`ConfigIssue`. Messages never quote a value from the document: a
value in the wrong place may be a secret. They quote keys, allowed values and limits.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

from reconciler.config.document import Document, Path
from reconciler.config.issues import ConfigIssue, format_path

_TYPE_NAMES = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping (key: value)",
    "array": "a list",
    "null": "empty",
}


@cache
def config_schema() -> Mapping[str, Any]:
    """The config JSON Schema, read from the installed package (``reconciler/schema``)."""
    schema: Mapping[str, Any] = json.loads((files("reconciler") / "schema" / "config.schema.json").read_text("utf-8"))
    return schema


def _is_whole_number(checker: object, instance: object) -> bool:
    # JSON Schema counts 100.0 as an integer; a school number or a count must be written as one.
    return isinstance(instance, int) and not isinstance(instance, bool)


@cache
def _validator() -> Draft202012Validator:
    checker = Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_whole_number)
    return validators.extend(Draft202012Validator, type_checker=checker)(config_schema())


def schema_issues(doc: Document) -> list[ConfigIssue]:
    """Every place where the document breaks the schema, one issue per problem."""
    issues = [issue for error in _validator().iter_errors(doc.data) for issue in _translate(doc, error)]
    return list(dict.fromkeys(issues))  # `required` and `anyOf` can name the same problem twice


def _translate(doc: Document, error: ValidationError) -> list[ConfigIssue]:
    path: Path = tuple(error.absolute_path)
    if "propertyNames" in error.absolute_schema_path:
        # jsonschema checks a key as if it were a value, at its mapping's path.
        key = str(error.instance)
        return [doc.issue((*path, key), f"'{key}' is not a valid key here: {_pattern_message(error)}", key=True)]
    handler = _HANDLERS.get(str(error.validator))
    if handler is None:
        return [doc.issue(path, f"does not satisfy the schema rule {error.validator!r}")]
    return handler(doc, error, path)


def _pattern_message(error: ValidationError) -> str:
    schema = error.schema
    message = str(schema["patternErrorMessage"])  # every pattern has one (a test keeps it so)
    if schema == config_schema()["$defs"]["envReference"]:
        return f"{message}; or give {error.absolute_path[-1]}_file, the path of a file holding it"
    return message


def _type_name(value: object) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "empty"


def _expected(types: str | Sequence[str]) -> str:
    names = [_TYPE_NAMES[t] for t in ([types] if isinstance(types, str) else types)]
    return " or ".join(names)


def _on_type(doc: Document, error: ValidationError, path: Path) -> list[ConfigIssue]:
    expected = _expected(error.validator_value)
    message = f"must be {expected}, not {_type_name(error.instance)}"
    if expected == "text" and isinstance(error.instance, int | float) and not isinstance(error.instance, bool):
        message += "; put it in quotes"
    return [doc.issue(path, message)]


def _on_required(doc: Document, error: ValidationError, path: Path) -> list[ConfigIssue]:
    present = error.instance if isinstance(error.instance, dict) else {}
    missing = [k for k in error.validator_value if k not in present]
    return [doc.issue(path, f"missing required key '{k}'", key=True) for k in missing]


def _on_additional(doc: Document, error: ValidationError, path: Path) -> list[ConfigIssue]:
    allowed = list(error.schema.get("properties", {}))
    patterns = error.schema.get("patternProperties", {})
    extras = [k for k in error.instance if k not in allowed and not any(re.search(p, k) for p in patterns)]
    issues = []
    for key in extras:
        message = f"unknown key '{key}'"
        close = difflib.get_close_matches(key, allowed, n=1)
        message += f"; did you mean '{close[0]}'?" if close else "."
        message += f" Allowed here: {', '.join(allowed)}"
        issues.append(doc.issue((*path, key), message, key=True))
    return issues


def _on_enum(doc: Document, error: ValidationError, path: Path) -> list[ConfigIssue]:
    return [doc.issue(path, f"must be one of: {', '.join(str(v) for v in error.validator_value)}")]


def _on_const(doc: Document, error: ValidationError, path: Path) -> list[ConfigIssue]:
    return [doc.issue(path, f"must be {json.dumps(error.validator_value)}")]


def _on_pattern(doc: Document, error: ValidationError, path: Path) -> list[ConfigIssue]:
    return [doc.issue(path, _pattern_message(error))]


def _limit(phrase: str) -> Callable[[Document, ValidationError, Path], list[ConfigIssue]]:
    def handler(doc: Document, error: ValidationError, path: Path) -> list[ConfigIssue]:
        return [doc.issue(path, f"must be {phrase} {error.validator_value}")]

    return handler


def _on_min_length(doc: Document, error: ValidationError, path: Path) -> list[ConfigIssue]:
    return [doc.issue(path, "must not be empty")]


def _on_min_items(doc: Document, error: ValidationError, path: Path) -> list[ConfigIssue]:
    n = error.validator_value
    return [doc.issue(path, f"must list at least {n} item{'s' if n > 1 else ''}")]


def _on_min_properties(doc: Document, error: ValidationError, path: Path) -> list[ConfigIssue]:
    known = list(error.schema.get("properties", {}))
    hint = f"; give at least one of: {', '.join(known)}" if known else ""
    return [doc.issue(path, f"must not be empty{hint}", key=True)]


def _on_unique(doc: Document, error: ValidationError, path: Path) -> list[ConfigIssue]:
    items: list[object] = error.instance
    for i, item in enumerate(items):
        first = _index_of(items[:i], item)
        if first is not None:
            return [doc.issue((*path, i), f"is already listed as {format_path((*path, first))}")]
    return [doc.issue(path, "has repeated items")]


def _index_of(items: Iterable[object], wanted: object) -> int | None:
    # jsonschema's notion of equal: 1 and True differ, 1 and 1.0 do not.
    for i, item in enumerate(items):
        if item == wanted and isinstance(item, bool) == isinstance(wanted, bool):
            return i
    return None


def _on_not(doc: Document, error: ValidationError, path: Path) -> list[ConfigIssue]:
    both = error.validator_value.get("required", [])
    if len(both) == 2:
        return [doc.issue((*path, both[1]), f"give only one of '{both[0]}' and '{both[1]}'", key=True)]
    return [doc.issue(path, "is not allowed here")]


def _on_any_of(doc: Document, error: ValidationError, path: Path) -> list[ConfigIssue]:
    branches: list[Mapping[str, Any]] = error.validator_value
    if all(set(b) == {"required"} and len(b["required"]) == 1 for b in branches):
        names = " or ".join(f"'{b['required'][0]}'" for b in branches)
        return [doc.issue(path, f"missing required key: give {names}", key=True)]
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        by_branch.setdefault(int(sub.relative_schema_path[0]), []).append(sub)
    # A branch whose only complaint is the value's type does not fit at all; explain the
    # branch that fits the value's type (a mapping given for a course, say).
    for sub_errors in by_branch.values():
        if not any(s.validator == "type" and not s.relative_path for s in sub_errors):
            return [issue for sub in sub_errors for issue in _translate(doc, sub)]
    types = [t for b in by_branch.values() for s in b if s.validator == "type" for t in _as_list(s.validator_value)]
    return [doc.issue(path, f"must be {_expected(list(dict.fromkeys(types)))}, not {_type_name(error.instance)}")]


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


_HANDLERS: dict[str, Callable[[Document, ValidationError, Path], list[ConfigIssue]]] = {
    "type": _on_type,
    "required": _on_required,
    "additionalProperties": _on_additional,
    "enum": _on_enum,
    "const": _on_const,
    "pattern": _on_pattern,
    "minimum": _limit("at least"),
    "maximum": _limit("at most"),
    "exclusiveMinimum": _limit("greater than"),
    "minLength": _on_min_length,
    "minItems": _on_min_items,
    "minProperties": _on_min_properties,
    "uniqueItems": _on_unique,
    "not": _on_not,
    "anyOf": _on_any_of,
}
