"""schema/plan.schema.json describes every plan file ps2moodle writes (JSON Schema 2020-12)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from reconciler.model import Kind
from reconciler.plan.file import render_json
from reconciler.plan.model import Action, Plan, PlanDocument, Reason, SafetyVerdict
from reconciler.redact import redact_document
from reconciler.render.files import save_plan
from tests.support.plans import district_plan, sample_doc

SCHEMA_PATH = Path(__file__).parents[2] / "schema" / "plan.schema.json"


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _errors(validator: Draft202012Validator, doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(sample_doc(), id="every-action"),
        pytest.param(sample_doc(Plan(), SafetyVerdict(ok=True)), id="empty"),
        pytest.param(
            sample_doc(district_plan(schools=3, students=40, staff=5, sections=9, enrolments=90)), id="district"
        ),
        pytest.param(
            sample_doc(verdict=SafetyVerdict(ok=False, violations=("3 user suspends: over 0",))), id="refused"
        ),
    ],
)
def test_written_plans_validate(validator: Draft202012Validator, tmp_path: Path, doc: PlanDocument) -> None:
    written = json.loads(save_plan(doc, tmp_path).json.read_text(encoding="utf-8"))
    assert _errors(validator, written) == []


def test_redacted_views_validate(validator: Draft202012Validator) -> None:
    assert _errors(validator, json.loads(render_json(redact_document(sample_doc())))) == []


def test_schema_enums_match_the_model() -> None:
    defs = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))["$defs"]
    assert defs["action"]["enum"] == [a.value for a in Action]
    assert defs["kind"]["enum"] == [k.value for k in Kind]
    assert defs["reason"]["enum"] == [r.value for r in Reason]


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        pytest.param(("changes", 0, "before"), {"key": "x"}, "is not of type 'null'", id="create-with-before"),
        pytest.param(("changes", 0, "action"), "teleport", "is not one of", id="unknown-action"),
        pytest.param(("changes", 0, "reason"), "in PowerSchool", "is not valid under any", id="reason-in-words"),
        pytest.param(("changes", 0, "fields"), [], "Additional properties are not allowed", id="fields-of-format-2"),
        pytest.param(("checksum",), "md5:00", "does not match", id="checksum-format"),
        pytest.param(("verdict", "ok"), "yes", "is not of type 'boolean'", id="verdict"),
    ],
)
def test_the_schema_has_teeth(
    validator: Draft202012Validator, path: tuple[Any, ...], value: Any, complaint: str
) -> None:
    doc = json.loads(render_json(sample_doc()))
    target: Any = doc
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert any(complaint in e for e in _errors(validator, doc))


def test_a_fingerprints_member_of_format_1_is_refused(validator: Draft202012Validator) -> None:
    doc = {**json.loads(render_json(sample_doc())), "fingerprints": {}}
    assert any("Additional properties are not allowed" in e for e in _errors(validator, doc))
