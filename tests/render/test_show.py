"""``ps2moodle show``: renders a verified plan file; refuses an altered one without a traceback."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reconciler import keys
from reconciler.cli import app
from reconciler.model import Category, Cohort, Course, Group, User, enrolment
from reconciler.plan.file import read_plan
from reconciler.plan.model import Action, Change, Plan, Reason, SafetyVerdict
from reconciler.redact import redact_document
from reconciler.render import PlanFormat, render
from reconciler.render.files import save_plan
from reconciler.render.layout import value
from tests.support.plans import PERSONAL, reseal, sample_doc

runner = CliRunner()


@pytest.fixture
def plan_json(tmp_path: Path) -> Path:
    return save_plan(sample_doc(), tmp_path).json


@pytest.mark.parametrize("fmt", list(PlanFormat))
def test_shows_the_plan_in_each_format(plan_json: Path, fmt: PlanFormat) -> None:
    result = runner.invoke(app, ["show", str(plan_json), "--format", fmt.value])
    assert result.exit_code == 0, result.output
    assert result.stdout == render(sample_doc(), fmt)  # not a terminal: no colour


def test_text_is_the_default(plan_json: Path) -> None:
    result = runner.invoke(app, ["show", str(plan_json)])
    assert result.stdout == render(sample_doc(), PlanFormat.TEXT)


@pytest.mark.parametrize("fmt", list(PlanFormat))
def test_redact_shows_no_personal_data(plan_json: Path, fmt: PlanFormat) -> None:
    result = runner.invoke(app, ["show", str(plan_json), "--format", fmt.value, "--redact"])
    assert result.exit_code == 0, result.output
    assert result.stdout == render(redact_document(sample_doc()), fmt)
    assert [s for s in PERSONAL if s in result.stdout] == []


def test_an_altered_plan_is_refused_with_a_message(plan_json: Path) -> None:
    plan_json.write_text(plan_json.read_text(encoding="utf-8").replace('"suspend"', '"delete"', 1), encoding="utf-8")
    result = runner.invoke(app, ["show", str(plan_json)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "has been altered since it was written" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_a_missing_plan_is_refused_with_a_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["show", str(tmp_path / "nope.json")])
    assert result.exit_code == 1
    assert "cannot read plan file" in result.stderr and "Traceback" not in result.stderr


# --- what show displays is what apply writes ---------------------------------------------

_NORTH = "ps2m:north:"
_CAT = keys.category_key(("High Schools", "Lincoln"))
_ENG = keys.section_course_key("north", 100, 5501)
_ALG = keys.group_course_key("north", 100, "ALG1", 2026)
_JO = keys.student_key("north", 1001)


def _updates() -> Plan:
    """One update of every kind that has updates, each with every attribute filled in."""
    user = User(
        _JO,
        username="jo",
        firstname="Jo",
        lastname="March",
        email="jo@example.org",
        profile=(("city", "Concord"),),
        customfields=(("homeroom", "B12"),),
        moodle_id=31,
    )
    course = Course(_ENG, "ENG-1", "English 9", _CAT, startdate=100, enddate=200, moodle_id=51)
    category = Category(_CAT, name="Lincoln", parent=keys.category_key(("High Schools",)), moodle_id=5)
    cohort = Cohort(keys.cohort_key("north", "grade_level", "9"), name="Grade 9", moodle_id=7)
    group = Group(keys.group_key("north", 100, 8801), course=_ALG, name="ALG1 section 2", moodle_id=9)
    seat = enrolment(_ENG, _JO, ["student"], moodle_id=31)
    pairs = [
        (user, replace(user, lastname="March-Laurence")),
        (course, replace(course, fullname="English 9 (S1)")),
        (category, replace(category, name="Lincoln High")),
        (cohort, replace(cohort, name="Grade 10")),
        (group, replace(group, name="ALG1 section 3")),
        (seat, replace(seat, roles=("editingteacher",))),
    ]
    return Plan(changes=tuple(Change(Action.UPDATE, b.key, b, a, Reason.DIFFERS) for b, a in pairs))


def _altered(value: Any) -> Any:
    """Another value of the same shape, unlike any the plan holds."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 4242
    if isinstance(value, list):
        return ["altered-role"]
    if isinstance(value, dict):
        return {k: f"altered-{k}" for k in value}
    if isinstance(value, str) and value.startswith(_NORTH):
        return _NORTH + "altered:1"
    return f"Altered {value}"


def _field_edits() -> list[tuple[int, str]]:
    """(change index, attribute) for every attribute apply writes to an existing object."""
    plan = _updates()
    return [
        (n, name)
        for n, change in enumerate(plan.changes)
        for name in change.resource.to_dict(implied_key=change.key.id)
        if name not in type(change.resource).CREATE_ONLY
    ]


@pytest.mark.parametrize(("index", "name"), _field_edits(), ids=lambda v: str(v))
@pytest.mark.parametrize("fmt", [PlanFormat.TEXT, PlanFormat.MARKDOWN])
def test_show_displays_an_edited_after_that_apply_would_write(
    tmp_path: Path, index: int, name: str, fmt: PlanFormat
) -> None:
    # Anyone can edit plan.json and recompute its sha256: whatever they put in a change's
    # ``after`` (what apply writes) is what show puts in front of the reviewer.
    path = save_plan(sample_doc(_updates(), SafetyVerdict(ok=True)), tmp_path).json
    edited: dict[str, Any] = {}

    def edit(doc: dict[str, Any]) -> None:
        after = doc["changes"][index]["after"]
        after[name] = edited["value"] = _altered(after[name])

    reseal(path, edit)
    written = read_plan(path).changes[index].after
    assert written is not None and written.to_dict()[name] == edited["value"]  # apply would write it
    result = runner.invoke(app, ["show", str(path), "--format", fmt.value])
    assert result.exit_code == 0, result.output
    new = edited["value"]
    expected = [(f"{name}.{k}", v) for k, v in new.items()] if isinstance(new, dict) else [(name, new)]
    lines = [line.strip() for line in result.stdout.splitlines()]
    for label, shown in expected:
        assert any(line.startswith(f"{label}: ") and line.endswith(f" -> {value(shown)}") for line in lines), (
            label,
            result.stdout,
        )


def test_create_only_attributes_are_neither_written_nor_shown(tmp_path: Path) -> None:
    # ``auth`` is set when an account is created; an update never writes it, so an edit of
    # it changes nothing apply does and nothing show displays.
    path = save_plan(sample_doc(_updates(), SafetyVerdict(ok=True)), tmp_path).json
    before = runner.invoke(app, ["show", str(path)]).stdout
    reseal(path, lambda doc: doc["changes"][0]["after"].update(auth="ldap"))
    after = runner.invoke(app, ["show", str(path)]).stdout
    checksum = re.compile(r"sha256:[0-9a-f]{64}")
    assert checksum.sub("", after) == checksum.sub("", before)
