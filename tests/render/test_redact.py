"""--redact: no name, email or username of a person survives in any format."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import pytest

from reconciler import keys
from reconciler.model import User
from reconciler.plan.file import render_json
from reconciler.plan.model import Change, NoticeLevel, PlanDocument, SafetyVerdict
from reconciler.redact import PERSON_KEY, redact_document
from reconciler.render.layout import label
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text
from tests.support.plans import OTTO, PERSONAL, TABBY, ZEB, sample_doc

RENDERERS: dict[str, Callable[[PlanDocument], str]] = {
    "text": render_text,
    "markdown": render_markdown,
    "json": render_json,
}


def _user_change(doc: PlanDocument, key: str) -> Change:
    return next(c for c in doc.changes if c.key.id == key)


def _user(resource: object) -> User:
    assert isinstance(resource, User)
    return resource


@pytest.mark.parametrize("fmt", RENDERERS)
def test_no_personal_string_survives_in_any_format(fmt: str) -> None:
    doc = sample_doc()
    assert [s for s in PERSONAL if s not in render_json(doc)] == []  # the plan holds them all...
    redacted = RENDERERS[fmt](redact_document(doc))
    assert [s for s in PERSONAL if s in redacted] == []  # ...and the view none of them


def test_the_original_document_is_left_alone() -> None:
    doc = sample_doc()
    before = render_json(doc)
    redact_document(doc)
    assert render_json(doc) == before


def test_a_view_is_marked_and_keeps_the_plan_checksum() -> None:
    doc = sample_doc()
    view = redact_document(doc)
    assert view.redacted is True and doc.redacted is False
    assert view.checksum == doc.checksum


def test_a_person_has_one_pseudonym_across_the_document() -> None:
    view = redact_document(sample_doc())
    zeb = _user_change(view, ZEB.id)
    name = label(zeb)
    assert re.fullmatch(r"person-[0-9a-f]{10}", name)
    assert _user(zeb.after).username == name
    shared = view.notices[1].message
    mari = next(
        c for c in view.changes if c.key.kind.value == "user" and c.action.value == "suspend" and label(c) != name
    )
    assert f"2 accounts share one email ({label(mari)}, {name})" in shared


def test_a_changed_value_shows_two_pseudonyms() -> None:
    otto = _user_change(redact_document(sample_doc()), OTTO.id)
    fields = {f.field: (f.before, f.after) for f in otto.fields}
    before, after = fields["email"]
    assert before != after and before.startswith("email-") and after.startswith("email-")
    assert _user(otto.after).email == after and _user(otto.before).email == before
    assert dict(_user(otto.after).profile)["city"] == fields["profile.city"][1]
    assert _user(otto.before).firstname == _user(otto.after).firstname  # unchanged stays equal


def test_courses_keys_counts_and_account_flags_stay() -> None:
    doc = sample_doc()
    view = redact_document(doc)
    assert [c.key for c in view.changes] == [c.key for c in doc.changes]
    assert [label(c) for c in view.changes if c.key.kind.value != "user"] == [
        label(c) for c in doc.changes if c.key.kind.value != "user"
    ]
    assert view.summary == doc.summary
    hal = next(c for c in view.changes if c.action.value == "unsuspend")
    assert [(f.field, f.before, f.after) for f in hal.fields] == [("suspended", True, False)]
    assert _user(hal.after).auth == "manual"


def test_a_notice_about_a_person_is_withheld() -> None:
    view = redact_document(sample_doc())
    notice = next(n for n in view.notices if n.key == TABBY.id)
    assert re.fullmatch(
        r"person-[0-9a-f]{10}: warning about this account withheld \(personal data\); see plan\.json", notice.message
    )
    course_notice = next(n for n in view.notices if n.level is NoticeLevel.INFO)
    assert "ALG1-3-S1-2026" in course_notice.message


def test_person_keys_are_recognised_as_reconciler_keys_builds_them() -> None:
    assert PERSON_KEY.match(keys.student_key("north", 1).id) and PERSON_KEY.match(keys.staff_key("a:b", 2).id)
    for other in (
        keys.section_course_key("north", 100, 1),
        keys.group_course_key("north", 100, "ALG1", 2026),
        keys.group_key("north", 100, 1),
        keys.cohort_key("north", "grade_level", "9"),
        keys.category_key(("High Schools", "Lincoln")),
    ):
        assert not PERSON_KEY.match(other.id)


def test_free_text_loses_addresses_but_keeps_short_numbers() -> None:
    verdict = SafetyVerdict(
        ok=True,
        violations=("school 100 returned no students; ask someone.else@district.example.org",),
        override_reason="approved by zquimby",
    )
    view = redact_document(sample_doc(verdict=verdict))
    (violation,) = view.verdict.violations
    assert re.fullmatch(r"school 100 returned no students; ask email-[0-9a-f]{10}", violation)
    assert view.verdict.override_reason == f"approved by {label(_user_change(view, ZEB.id))}"


def test_an_adopt_rule_is_scrubbed_of_personal_values() -> None:
    doc = sample_doc()
    adopt = next(c for c in doc.changes if c.rule)
    named = replace(doc, changes=tuple(replace(c, rule="ifairweather") if c is adopt else c for c in doc.changes))
    view = redact_document(named)
    assert "ifairweather" not in render_text(view)
    assert "takes over the existing 'person-" in render_text(view)


def test_pseudonyms_are_stable_for_a_plan_and_differ_between_plans() -> None:
    assert render_json(redact_document(sample_doc())) == render_json(redact_document(sample_doc()))
    whole = sample_doc()
    other = replace(whole, changes=tuple(c for c in whole.changes if c.key != OTTO))
    assert label(_user_change(redact_document(other), ZEB.id)) != label(_user_change(redact_document(whole), ZEB.id))
