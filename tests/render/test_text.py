"""The text rendering: Terraform-like, grouped, stable, plain unless colour is asked for."""

from __future__ import annotations

import re
from dataclasses import replace

from reconciler.plan.model import Plan, SafetyVerdict
from reconciler.redact import redact_document
from reconciler.render.text import render_text
from tests.support.plans import first_labelled, sample_doc

from .golden import check_golden

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_text_matches_the_golden_file() -> None:
    check_golden("plan.txt", render_text(sample_doc()))
    check_golden("plan.redacted.txt", render_text(redact_document(sample_doc())))


def test_rendering_is_byte_identical_for_the_same_plan() -> None:
    assert render_text(sample_doc()) == render_text(sample_doc())


def test_ends_with_the_summary_sentence() -> None:
    assert render_text(sample_doc()).splitlines()[-1] == (
        "Plan: 7 to create, 1 to adopt, 1 to move, 1 to update, 1 to unsuspend, 2 to suspend, 1 to delete."
    )


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
