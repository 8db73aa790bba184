"""The JSON Schema: shipped in the package, well-formed, documented, and in step with the model."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from enum import Enum
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reconciler.config import templates
from reconciler.config.model import (
    AdoptRule,
    CohortRule,
    Connection,
    CourseMode,
    CourseRule,
    EnrolmentRemoval,
    MembershipRemoval,
    MoodleSettings,
    PasswordMode,
    PeopleSettings,
    PowerSchoolSettings,
    RemovalPolicy,
    SafetyPolicy,
    ServeSettings,
    UserRemoval,
)
from reconciler.config.schema import _HANDLERS, config_schema
from reconciler.model import Key, Kind
from reconciler.plan.model import Action, Change, verb
from reconciler.plan.safety import brake_action
from reconciler.powerschool.roster import ENROLL_STATUSES

SCHEMA = config_schema()
DEFS = SCHEMA["$defs"]
REPO_SCHEMA = Path(__file__).parents[2] / "schema" / "config.schema.json"


def _nodes(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every mapping in the schema, with where it is."""
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _nodes(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _nodes(value, f"{where}/{i}")


def _objects(schema: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object schema (one with properties), with where it is."""
    return ((where, node) for where, node in _nodes(schema) if "properties" in node)


def test_the_installed_package_ships_the_schema_the_repo_holds() -> None:
    shipped = files("reconciler") / "schema" / "config.schema.json"

    assert shipped.is_file()
    assert json.loads(shipped.read_text("utf-8")) == json.loads(REPO_SCHEMA.read_text("utf-8")) == SCHEMA


def test_the_schema_is_valid_draft_2020_12() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(SCHEMA)


def test_every_fixed_set_of_keys_refuses_unknown_keys() -> None:
    objects = list(_objects(SCHEMA))

    assert len(objects) > 15
    for where, node in objects:
        if "propertyNames" in node:  # a map keyed by data (roles): names checked, values typed
            assert isinstance(node["additionalProperties"], dict), where
        else:
            assert node["additionalProperties"] is False, where


#: Keywords that only annotate, or apply other schemas (whose own keywords say what fails).
_NOT_FAILING = {"$schema", "$id", "$ref", "$defs", "title", "description", "default", "patternErrorMessage",
                "properties", "patternProperties", "items", "allOf"}  # fmt: skip


def _keywords(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            named = key in ("properties", "patternProperties", "$defs")  # maps of names to schemas
            yield from _keywords(list(value.values()) if named else value)
    elif isinstance(node, list):
        for value in node:
            yield from _keywords(value)


def test_every_rule_of_the_schema_has_a_plain_english_message() -> None:
    used = set(_keywords(SCHEMA)) - _NOT_FAILING

    assert used <= set(_HANDLERS) | {"propertyNames"}


def test_every_pattern_says_in_words_what_it_wants() -> None:
    patterns = [node for _, node in _nodes(SCHEMA) if "pattern" in node]

    assert len(patterns) > 10
    assert all(node.get("patternErrorMessage") for node in patterns)


def test_every_property_is_described_for_editors() -> None:
    for where, node in _objects(SCHEMA):
        for name, prop in node["properties"].items():
            assert prop.get("description"), f"{where}/properties/{name}"


def _enum(name: str) -> list[str]:
    return list(DEFS[name]["enum"])


def _values(enum: type[Enum]) -> list[str]:
    return [member.value for member in enum]


def test_enumerations_match_the_model() -> None:
    removal = DEFS["removal"]["properties"]

    assert _enum("courseMode") == _values(CourseMode)
    assert _enum("passwordMode") == _values(PasswordMode)
    assert removal["users"]["enum"] == _values(UserRemoval)
    assert removal["enrolments"]["enum"] == _values(EnrolmentRemoval)
    assert removal["cohort_members"]["enum"] == removal["group_members"]["enum"] == _values(MembershipRemoval)
    assert DEFS["students"]["properties"]["enroll_statuses"]["items"]["enum"] == list(ENROLL_STATUSES)
    assert set(_enum("objectKind")) <= set(_values(Kind))
    assert set(DEFS["adoptRule"]["properties"]["kind"]["enum"]) <= set(_values(Kind))


def test_threshold_keys_are_exactly_the_brakes_the_safety_gate_applies() -> None:
    pattern = re.compile(DEFS["safety"]["properties"]["thresholds"]["propertyNames"]["pattern"])
    brakes = {brake_action(Change(a, Key(k, "ps2m:x"), None, None)) for a in Action for k in Kind} - {None}
    words = {a.value for a in Action} | {verb(a, k) for a in Action for k in Kind}

    assert brakes == {"suspend", "unenrol", "remove", "delete", "adopt"}
    for word in words:  # a key the gate never reads would be a brake that silently does nothing
        assert bool(pattern.search(word)) == (word in brakes), word
        for kind in Kind:
            assert bool(pattern.search(f"{word}:{kind.value}")) == (word in brakes), f"{word}:{kind.value}"
    for wrong in ("suspend:", "suspend:users", "Suspend", "delete:user:x"):
        assert not pattern.search(wrong), wrong


#: (where in the schema, the dataclass whose field defaults the schema's "default" must match)
DEFAULTED: list[tuple[str, type[Any]]] = [
    ("moodle", MoodleSettings),
    ("powerschool", PowerSchoolSettings),
    ("connection", Connection),
    ("students", PeopleSettings),
    ("staff", PeopleSettings),
    ("cohortRule", CohortRule),
    ("courseRule", CourseRule),
    ("removal", RemovalPolicy),
    ("safety", SafetyPolicy),
    ("adoptRule", AdoptRule),
    ("serve", ServeSettings),
]


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


@pytest.mark.parametrize(("definition", "cls"), DEFAULTED, ids=[d for d, _ in DEFAULTED])
def test_schema_defaults_are_the_model_defaults(definition: str, cls: type[Any]) -> None:
    model = {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
    checked = 0
    for name, prop in DEFS[definition]["properties"].items():
        schema_default = prop.get("default", DEFS.get(prop.get("$ref", "").removeprefix("#/$defs/"), {}).get("default"))
        if schema_default is not None:
            assert schema_default == _plain(model[name]), f"{definition}.{name}"
            checked += 1
    assert checked


@pytest.mark.parametrize(
    ("definition", "key", "catalogue"),
    [
        ("connection", "course_name_template", templates.COURSE),
        ("connection", "course_shortname_template", templates.COURSE),
        ("connection", "group_course_name_template", templates.GROUP_COURSE),
        ("connection", "group_course_shortname_template", templates.GROUP_COURSE),
        ("students", "username", templates.STUDENT),
        ("staff", "username", templates.STAFF),
        ("cohortRule", "name", templates.COHORT),
    ],
)
def test_template_descriptions_list_exactly_their_placeholders(
    definition: str, key: str, catalogue: templates.Catalogue
) -> None:
    description = DEFS[definition]["properties"][key]["description"]

    assert set(re.findall(r"\{([a-z_]+)\}", description)) == set(catalogue)
