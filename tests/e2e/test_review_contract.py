"""The review contract through the real commands, over loopback HTTP: a plan a reviewer
pinned by its checksum, or that CI signed with a key only it holds, is the only plan
apply runs. Anything else is refused before a single write (exit 1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.plan.file import read_plan
from reconciler.signing import KEY_ENV, signature_path
from tests.support.plans import reseal

from .harness import MakeStack, Stack, config_text, connection, load

BODY = """
    schools: [200]
    students:
      cohorts:
        - field: grade_level
    school_settings:
      200: { terms: ["24-25", S1], courses: { CALC: } }
"""
#: A test key (not a secret: it exists only in this test's environment).
KEY = "ci-only-test-signing-key-0001"


def _stack(make_stack: MakeStack) -> tuple[Stack, Path]:
    text = config_text(connection("pinned", BODY))
    stack = make_stack(text)
    return stack, stack.write(text)


def _reseal_with_a_new_cohort_name(plan_file: Path) -> str:
    """What someone without the key can do: edit a change and recompute the checksum.
    Returns the new checksum."""

    def rename(doc: dict[str, Any]) -> None:
        cohort = next(c for c in doc["changes"] if c["kind"] == "cohort")
        cohort["after"]["name"] = "Grade 99"

    reseal(plan_file, rename)
    return read_plan(plan_file).sealed_checksum


def test_apply_runs_only_the_plan_whose_checksum_was_approved(make_stack: MakeStack) -> None:
    stack, config = _stack(make_stack)
    plan_file, outcome = stack.plan(config)
    approved = load(plan_file)["checksum"]
    assert f"Checksum: {approved}" in outcome.output  # what the reviewer sees, and pins
    before = stack.view.everything()

    forged = _reseal_with_a_new_cohort_name(plan_file)
    refused = stack.cli("apply", plan_file, "-c", config, "--expect-checksum", approved)
    assert refused.code == 1, refused.output
    assert f"its checksum is {forged}, not the approved {approved}" in refused.output
    assert "nothing was changed" in refused.output
    assert stack.view.everything() == before

    plan_file, _ = stack.plan(config)
    pinned = load(plan_file)["checksum"]
    done = stack.cli("apply", plan_file, "-c", config, "--expect-checksum", pinned.removeprefix("sha256:").upper())
    assert done.code == 0, done.output
    assert "Grade 99" not in {c.name for c in stack.view.cohorts().values()}
    stack.converged(config)


def test_with_a_key_apply_refuses_unsigned_and_resealed_plans(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, config = _stack(make_stack)
    monkeypatch.setenv(KEY_ENV, KEY)
    plan_file, outcome = stack.plan(config)
    assert signature_path(plan_file).is_file()
    assert f"plan signed: {signature_path(plan_file)}" in outcome.output
    before = stack.view.everything()

    _reseal_with_a_new_cohort_name(plan_file)  # show and load accept it: its checksum is right
    assert stack.cli("show", plan_file).code == 0
    refused = stack.apply(plan_file, config, expect=1)
    assert "signature plan.json.sig does not match its content" in refused.output

    signature_path(plan_file).unlink()
    refused = stack.apply(plan_file, config, expect=1)
    assert "it is not signed (plan.json.sig is missing) and a plan signing key is configured" in refused.output

    # Signed with another key: refused alike.
    plan_file, _ = stack.plan(config)
    monkeypatch.setenv(KEY_ENV, "another-key-of-some-other-ci")
    refused = stack.apply(plan_file, config, expect=1)
    assert "does not match its content" in refused.output
    assert stack.view.everything() == before

    monkeypatch.setenv(KEY_ENV, KEY)
    stack.apply(plan_file, config)
    stack.converged(config)


def test_an_unusable_key_stops_plan_and_apply_before_anything_is_read(
    make_stack: MakeStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack, config = _stack(make_stack)
    plan_file, _ = stack.plan(config)
    monkeypatch.setenv(KEY_ENV, "short")
    outcome = stack.plan(config, expect=1)[1]
    assert f"the plan signing key in {KEY_ENV} is shorter than 16 characters" in outcome.output
    assert "short" not in outcome.output.replace("shorter", "")
    outcome = stack.apply(plan_file, config, expect=1)
    assert "shorter than 16 characters" in outcome.output


def test_expect_checksum_is_for_saved_plans(make_stack: MakeStack) -> None:
    stack, config = _stack(make_stack)
    outcome = stack.cli("apply", config, "--auto-approve", "--expect-checksum", "sha256:00")
    assert outcome.code == 1
    assert "is a config, not a saved plan: --expect-checksum only apply to a plan file" in outcome.output
    assert stack.view.owned_accounts() == {}


def test_a_re_sealed_plan_that_shows_another_person_is_refused(make_stack: MakeStack) -> None:
    """The username a membership line shows is not what apply writes (it writes ids): an
    edit that makes the plan show one student and enrol another is refused before any write."""
    stack, config = _stack(make_stack)
    plan_file, _ = stack.plan(config)
    enrolments = [c for c in load(plan_file)["changes"] if c["kind"] == "enrolment" and c.get("member")]
    first, other = enrolments[0], next(c for c in enrolments if c["member"] != enrolments[0]["member"])
    before = stack.view.everything()

    def show_someone_else(doc: dict[str, Any]) -> None:
        edited = next(c for c in doc["changes"] if c["key"] == first["key"])
        edited["member"] = other["member"]

    reseal(plan_file, show_someone_else)
    refused = stack.cli("apply", plan_file, "-c", config)
    assert refused.code == 1, refused.output
    assert f"enrolment:{first['key']}: the username it shows is not" in refused.output
    assert other["member"] not in refused.output  # names keys, never the names themselves
    assert stack.view.everything() == before
