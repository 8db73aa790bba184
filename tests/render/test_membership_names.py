"""Memberships read as people (usernames), and redaction hides those usernames too."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.desired import build_desired
from reconciler.model import State
from reconciler.plan.diff import compute_plan
from reconciler.plan.file import build_document, seal
from reconciler.plan.model import PlanDocument, SafetyVerdict
from reconciler.redact import redact_document
from reconciler.render import PlanFormat, render
from tests.support.factories import config, roster


def _document() -> PlanDocument:
    desired = build_desired(config(), {"north": roster()}).state
    plan = compute_plan(desired, State())
    return seal(
        build_document(
            plan,
            config_digest="d",
            scope="all",
            verdict=SafetyVerdict(ok=True),
            created_at=datetime(2024, 9, 1, tzinfo=UTC),
        )
    )


def test_enrolments_name_the_member_and_the_course_heading_its_shortname() -> None:
    text = render(_document(), PlanFormat.TEXT)
    assert "+ enrol ann as student" in text
    assert "+ add bob to group" in text
    assert "course 100-ENG1-1-S1-2024 (ps2m:north:100:section:201)" in text


def test_redaction_replaces_member_usernames_in_every_format() -> None:
    view = redact_document(_document())
    for fmt in PlanFormat:
        out = render(view, fmt)
        for name in ("ann", "bob", "tlead", "tco"):
            assert f" {name} " not in out and f'"{name}"' not in out, (fmt, name)
    assert "+ enrol person-" in render(view, PlanFormat.TEXT)
