"""Stable pseudonyms: with a redaction key (``PS2MOODLE_REDACT_KEY`` or a key file) a person
has the same pseudonym in every plan; without one, pseudonyms hold for one plan and the
renderings say so."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.errors import SecretError
from reconciler.plan.model import PlanDocument
from reconciler.redact import redact_document
from reconciler.redactkey import ENV, FILE_ENV, derive, redact_key
from reconciler.render.files import save_plan
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text
from tests.support.plans import OTTO, PERSONAL, ZEB, sample_doc

KEY = derive(b"a district secret of some length")


def another_plan() -> PlanDocument:
    """A different plan holding the same person (ZEB): one account change fewer."""
    doc = sample_doc()
    return replace(doc, changes=tuple(c for c in doc.changes if c.key != OTTO), checksum=None)


def pseudonym(view: PlanDocument, key: str) -> str:
    return next(c for c in view.changes if c.key.id == key).resource.label


def shown_pseudonym(view: dict[str, Any], key: str) -> str:
    """The username a JSON rendering gives the account change with ``key``."""
    change = next(c for c in view["changes"] if c["key"] == key)
    username: str = (change["after"] or change["before"])["username"]
    return username


def test_with_a_key_a_person_has_the_same_pseudonym_in_two_plans() -> None:
    first, second = redact_document(sample_doc(), KEY), redact_document(another_plan(), KEY)
    assert pseudonym(first, ZEB.id) == pseudonym(second, ZEB.id)
    assert first.pseudonyms == second.pseudonyms == "stable"
    assert not [s for s in PERSONAL if s in render_text(first)]


def test_without_a_key_the_two_plans_differ_and_say_so() -> None:
    first, second = redact_document(sample_doc()), redact_document(another_plan())
    assert pseudonym(first, ZEB.id) != pseudonym(second, ZEB.id)
    assert first.pseudonyms == "per-plan"
    note = "valid in this plan only: set PS2MOODLE_REDACT_KEY to keep them across plans"
    assert note in render_text(first) and note in render_markdown(first)
    assert "the same in every plan" in render_text(redact_document(sample_doc(), KEY))


def test_another_key_gives_other_pseudonyms() -> None:
    other = derive(b"another district secret entirely")
    assert pseudonym(redact_document(sample_doc(), KEY), ZEB.id) != pseudonym(
        redact_document(sample_doc(), other), ZEB.id
    )


def test_the_key_comes_from_the_environment_or_a_file(tmp_path: Path) -> None:
    assert redact_key({}) is None
    assert redact_key({ENV: "a district secret of some length"}) == KEY
    keyfile = tmp_path / "redact.key"
    keyfile.write_text("a district secret of some length\n", encoding="utf-8")
    assert redact_key({FILE_ENV: str(keyfile)}) == KEY  # the trailing newline is not part of it


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({ENV: "short"}, "PS2MOODLE_REDACT_KEY: the redaction key must be at least 16 characters"),
        ({FILE_ENV: "/nonexistent/redact.key"}, "PS2MOODLE_REDACT_KEY_FILE (/nonexistent/redact.key): cannot read"),
    ],
)
def test_an_unusable_key_is_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SecretError, match=message.replace("(", r"\(").replace(")", r"\)")):
        redact_key(environ)


def test_show_redacts_two_plans_alike_with_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "a district secret of some length")
    runner = CliRunner()
    shown = []
    for name, doc in (("one", sample_doc()), ("two", another_plan())):
        plan_json = save_plan(replace(doc, checksum=None), tmp_path / name).json  # sealed anew as it is saved
        result = runner.invoke(app, ["show", str(plan_json), "--format", "json", "--redact"])
        assert result.exit_code == 0, result.output
        shown.append(json.loads(result.stdout))
    assert shown_pseudonym(shown[0], ZEB.id) == shown_pseudonym(shown[1], ZEB.id)

    monkeypatch.setenv(ENV, "short")
    result = runner.invoke(app, ["show", str(tmp_path / "one" / "plan.json"), "--redact"])
    assert result.exit_code == 1
    assert "at least 16 characters" in result.output and "Traceback" not in result.output
