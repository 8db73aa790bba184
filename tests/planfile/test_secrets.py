"""Plans carry no secrets: not the resolved values, nothing shaped like a token, no secret keys."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.config.loader import load_config
from reconciler.plan.file import build_document, render_json, seal
from reconciler.redact import redact_document
from reconciler.render.files import save_plan
from reconciler.render.markdown import render_markdown
from reconciler.render.text import render_text
from tests.support.plans import CREATED, OVERRIDDEN, sample_plan

EXAMPLE = Path(__file__).parents[2] / "examples" / "minimal.yaml"
#: What the example config's ${...} references resolve to in this test.
SECRETS = {
    "MOODLE_TOKEN": "0123456789abcdef0123456789abcdef",  # the shape of a Moodle web service token
    "PS_CLIENT_ID": "3f2b7c9e-client-id-sentinel",
    "PS_CLIENT_SECRET": "client-secret-sentinel-a9Zq",
}
SECRET_LIKE = [
    re.compile(r"\b[0-9a-f]{32}\b"),  # Moodle token (sha256 hex digests are 64 long, not matched)
    re.compile(r"(?i)bearer\s+\S"),
    re.compile(r"(?i)\b(token|secret|password)\b\s*[\"']?\s*[:=]"),
]


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _keys(v)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


@pytest.fixture
def outputs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    config = load_config(EXAMPLE)
    for ref in (config.moodle.token, config.connections[0].powerschool.client_secret):
        assert ref.resolve() in SECRETS.values()  # the secrets really are at hand
    doc = build_document(
        sample_plan(), config_digest=config.digest, scope="all", verdict=OVERRIDDEN, created_at=CREATED
    )
    paths = save_plan(doc, tmp_path, redact=True)
    doc = paths.document
    view = redact_document(doc)
    rendered = {
        f"{name}": fn(d)
        for d in (doc, view)
        for name, fn in (("text", render_text), ("markdown", render_markdown), ("json", render_json))
    }
    return {**rendered, **{p.name: p.read_text(encoding="utf-8") for p in (paths.json, paths.text, paths.markdown)}}


def test_no_resolved_secret_appears(outputs: dict[str, str]) -> None:
    for name, text in outputs.items():
        assert [s for s in SECRETS.values() if s in text] == [], name


def test_nothing_secret_shaped_appears(outputs: dict[str, str]) -> None:
    for name, text in outputs.items():
        assert [p.pattern for p in SECRET_LIKE if p.search(text)] == [], name


def test_no_document_key_names_a_secret() -> None:
    doc = seal(build_document(sample_plan(), config_digest="", scope="all", verdict=OVERRIDDEN, created_at=CREATED))
    assert {
        k for k in _keys(json.loads(render_json(doc))) if re.search(r"(?i)token|secret|password|credential", k)
    } == set()
