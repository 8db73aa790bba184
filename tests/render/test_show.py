"""``ps2moodle show``: renders a verified plan file; refuses an altered one without a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.redact import redact_document
from reconciler.render import PlanFormat, render
from reconciler.render.files import save_plan

from ..planfile.sample import PERSONAL, sample_doc

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
