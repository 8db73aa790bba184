"""The per-person view: every change to one person in one place, and `show --by person`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.plan.file import write_plan
from reconciler.redact import redact_document
from reconciler.render.people import people, render_people_text
from tests.support.plans import PERSONAL, sample_doc

from .golden import check_golden


def test_the_view_matches_the_golden_file() -> None:
    check_golden("plan.people.txt", render_people_text(sample_doc()))


def test_each_person_has_every_change_to_them_account_first() -> None:
    found = {p.label: p for p in people(sample_doc().changes)}
    assert sorted(found) == ["hpemberton", "ifairweather", "mokonkwo", "ovashti", "zquimby"]
    zeb = found["zquimby"]
    assert [c.key.kind.value for c in zeb.changes] == ["user", "enrolment", "group_member"]
    assert zeb.name == "Zebulon Quimby"


def test_one_person_by_username_or_key_says_why_they_lose_a_course() -> None:
    by_name = render_people_text(sample_doc(), person="ovashti")
    by_key = render_people_text(sample_doc(), person="ps2m:north:student:1002")
    assert by_name == by_key
    assert "! suspend enrolment in course BIO-1-S1-2026 as student  # dropped in PowerSchool" in by_name
    assert "zquimby" not in by_name


def test_an_unknown_person_is_said_to_have_no_changes() -> None:
    assert "No change in this plan is about nobody" in render_people_text(sample_doc(), person="nobody")


def test_redacted_view_names_no_one() -> None:
    text = render_people_text(redact_document(sample_doc()))
    assert [v for v in PERSONAL if v in text] == []
    assert "person-" in text


def test_show_by_person_and_person_filter(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    write_plan(sample_doc(), plan)
    runner = CliRunner()
    everyone = runner.invoke(app, ["show", str(plan), "--by", "person"])
    assert everyone.exit_code == 0, everyone.output
    assert everyone.output.endswith("5 people with changes.\n")
    one = runner.invoke(app, ["show", str(plan), "--person", "mokonkwo"])
    assert one.exit_code == 0
    assert "- remove from cohort 'Grade 9'  # no longer implied by PowerSchool" in one.output
    markdown = runner.invoke(app, ["show", str(plan), "--by", "person", "--format", "markdown"])
    assert markdown.exit_code == 1
    assert "text only" in markdown.output
