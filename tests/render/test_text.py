"""The text rendering: Terraform-like, grouped, stable, plain unless colour is asked for."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console
from typer.testing import CliRunner

import reconciler.cli.show as show_command
from reconciler import keys
from reconciler.cli import app
from reconciler.model import cohort_member, enrolment, group_member
from reconciler.plan.model import Action, Change, Plan, SafetyVerdict
from reconciler.plan.safety import brake_action
from reconciler.redact import redact_document
from reconciler.render.files import save_plan
from reconciler.render.layout import legend, summary_sentence
from reconciler.render.text import clip, render_text
from reconciler.words import count
from tests.support.plans import first_labelled, sample_doc

from .golden import check_golden

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_text_matches_the_golden_file() -> None:
    check_golden("plan.txt", render_text(sample_doc()))
    check_golden("plan.redacted.txt", render_text(redact_document(sample_doc())))


def test_rendering_is_byte_identical_for_the_same_plan() -> None:
    assert render_text(sample_doc()) == render_text(sample_doc())


def test_ends_with_the_summary_sentence() -> None:
    # The sample's one deletion is a group membership: the ``remove`` brake governs it.
    assert render_text(sample_doc()).splitlines()[-1] == (
        "Plan: 7 to create, 1 to adopt, 1 to move, 1 to update, 1 to unsuspend, 2 to suspend, 1 to remove."
    )


def test_summary_words_are_the_names_of_the_brakes() -> None:
    by_kind = {
        "user": {"create": 2, "suspend": 1, "delete": 1},
        "enrolment": {"delete": 3, "suspend": 4},
        "cohort_member": {"delete": 5},
        "group_member": {"delete": 1, "create": 1},
        "course": {"update": 1, "adopt": 1},
    }
    doc = SimpleNamespace(summary=SimpleNamespace(by_kind=by_kind))
    assert summary_sentence(doc) == (
        "Plan: 3 to create, 1 to adopt, 1 to update, 5 to suspend, 3 to unenrol, 6 to remove, 1 to delete."
    )
    assert legend(doc) == "+ create  & adopt  ~ update  ! suspend  - unenrol  - remove  - delete"
    course, user = keys.section_course_key("north", 100, 7), keys.student_key("north", 1)
    dropped = [
        enrolment(course, user, ["student"]),
        cohort_member(keys.cohort_key("north", "grade", "9"), user),
        group_member(keys.group_key("north", 100, 8), user),
    ]
    plan = Plan(changes=tuple(Change(Action.DELETE, r.key, before=r, after=None) for r in dropped))
    # Each word is the brake that counts those changes (safety.brake_action), and no other.
    words = {brake_action(c) for c in plan.changes}
    assert words == {"unenrol", "remove"}
    counted = SimpleNamespace(summary=SimpleNamespace(by_kind=plan.counts()))
    assert summary_sentence(counted) == "Plan: 1 to unenrol, 2 to remove."


def test_an_empty_plan_says_so() -> None:
    text = render_text(sample_doc(Plan(), SafetyVerdict(ok=True)))
    assert text.endswith("Safety check: passed.\n\nNo changes. Moodle already matches PowerSchool and the config.\n")
    assert "Legend" not in text


def test_groups_district_wide_then_schools_then_courses() -> None:
    lines = render_text(sample_doc()).splitlines()
    headings = [line for line in lines if line in ("District-wide", "School 100", "School 600")]
    assert headings == ["District-wide", "School 100", "School 600"]
    school_100 = lines[lines.index("School 100") : lines.index("School 600")]
    courses = [line for line in school_100 if line.startswith("  course")]
    # A course the plan creates is titled by its shortname (and sorted by it).
    assert courses == [
        "  course ENG1-1-S1-2026 (ps2m:north:100:section:5501)",
        "  course ps2m:north:100:course:ALG1:2026",
    ]


def test_updates_show_each_field_before_and_after() -> None:
    text = render_text(sample_doc())
    assert (
        "  ~ update user ovashti  # differs from PowerSchool\n"
        '      email: "ottoline.vashti@students.example.org" -> "o.vashti.okafor@students.example.org"\n'
        '      lastname: "Vashti" -> "Vashti-Okafor"\n'
        '      profile.city: "Marrowdale" -> "Thistlewick"\n'
    ) in text


def test_a_refused_plan_says_apply_will_not_run_it() -> None:
    text = render_text(sample_doc(verdict=SafetyVerdict(ok=False, violations=("too many", "and more"))))
    assert "Safety check: REFUSED (2 violations). apply will not run this plan without an override.\n" in text
    assert "  - too many\n  - and more\n" in text
    assert "Override reason" not in text


def test_plain_without_colour_and_the_same_text_with_it() -> None:
    plain = render_text(sample_doc())
    coloured = render_text(sample_doc(), color=True)
    assert "\x1b" not in plain
    assert "\x1b[32m+ create user zquimby" in coloured
    assert ANSI.sub("", coloured) == plain


def test_control_and_bidi_characters_are_shown_escaped() -> None:
    doc = first_labelled(sample_doc(), "Evil\x1b[2J\u202eCourse")
    doc = replace(doc, notices=(replace(doc.notices[0], message="line one\nline two"), *doc.notices[1:]))
    text = render_text(doc)
    assert "\x1b" not in text and "\u202e" not in text
    assert "Evil\\u001b[2J\\u202eCourse" in text
    assert "line one\\u000aline two" in text


def test_unicode_line_separators_are_shown_escaped() -> None:
    text = render_text(first_labelled(sample_doc(), "Two\u2028lines\u2029here"))
    assert "\u2028" not in text and "\u2029" not in text
    assert "Two\\u2028lines\\u2029here" in text


def test_counts_are_said_with_correct_plurals() -> None:
    assert [count(1, "category"), count(2, "category"), count(1, "warning"), count(0, "warning")] == [
        "1 category",
        "2 categories",
        "1 warning",
        "0 warnings",
    ]
    assert count(1_204, "person") == "1,204 people"
    text = render_text(sample_doc())
    assert "Notices: 2 warnings, 1 info" in text
    one = sample_doc()
    one = replace(one, notices=one.notices[:1])
    assert "Notices: 1 warning, 0 info" in render_text(one)


def test_summary_brakes_and_verdict_come_before_the_changes() -> None:
    lines = render_text(sample_doc()).splitlines()
    order = [lines.index(line) for line in ("Brakes (limits from the config's safety policy):", "District-wide")]
    assert lines[4].startswith("Summary ") and lines[4].split()[1:] == [
        "create",
        "adopt",
        "move",
        "update",
        "unsuspend",
        "suspend",
        "remove",  # a cohort membership dropped counts against the remove brake, not delete
    ]
    assert order == sorted(order)
    assert any(line.startswith("  suspend  user ") and line.endswith("OVER THE LIMIT") for line in lines)


def test_a_bundle_says_its_reason_once_and_sorts_people_by_name() -> None:
    text = render_text(sample_doc())
    assert (
        "    2 people to enrol  # in PowerSchool, not in Moodle\n"
        "      + enrol ps2m:north:staff:2001 as editingteacher\n"
        "      + enrol ps2m:north:student:1001 as student\n"
    ) in text
    assert text.count("# in PowerSchool, not in Moodle") == 6  # 7 creates in 6 bundles: once per bundle


def test_clip_keeps_the_head_says_how_many_more_lines_and_where_and_ends_with_the_sentence() -> None:
    text = render_text(sample_doc())
    lines = text.splitlines()
    clipped = clip(text, 10, "out/plan.txt").splitlines()
    assert clipped[:10] == lines[:10]
    assert clipped[10] == f"... {len(lines) - 11} more lines in out/plan.txt"
    assert clipped[11] == lines[-1]
    assert clip(text, len(lines), "x") == text


def test_show_on_a_terminal_is_cut_and_points_at_plan_txt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    save_plan(sample_doc(), tmp_path)
    screen = io.StringIO()
    monkeypatch.setattr(show_command, "out", Console(file=screen, force_terminal=True, color_system=None))
    monkeypatch.setattr(show_command, "TERMINAL_LINES", 12)
    result = CliRunner().invoke(app, ["show", str(tmp_path / "plan.json")])
    assert result.exit_code == 0, result.output
    shown = screen.getvalue().splitlines()
    assert len(shown) == 14
    assert shown[12].endswith(f"more lines in {tmp_path / 'plan.txt'}")
    assert shown[13].startswith("Plan: 7 to create")
