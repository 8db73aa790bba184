"""The JSON rendering is the document itself: complete, stable, one change per line."""

from __future__ import annotations

import json

import pytest

from reconciler.plan.model import Plan
from reconciler.render.json import render_json
from reconciler.safety import SafetyVerdict
from tests.support.plans import sample_doc

from .golden import check_golden


def test_json_matches_the_golden_file() -> None:
    check_golden("plan.json", render_json(sample_doc()))


def test_json_is_the_document() -> None:
    for doc in (sample_doc(), sample_doc(Plan(), SafetyVerdict(ok=True))):
        assert json.loads(render_json(doc)) == doc


def test_one_change_per_line() -> None:
    doc = sample_doc()
    lines = render_json(doc).splitlines()
    start = lines.index('  "changes": [')
    assert [json.loads(line.strip().rstrip(",")) for line in lines[start + 1 : start + 1 + len(doc["changes"])]] == (
        doc["changes"]
    )


def test_lines_are_what_the_standard_encoder_writes() -> None:
    # The renderer calls the encoder's C core directly; its text must be json.dumps's.
    awkward = {"k": ['a\u2028b\x00"\\', 2.5, None, True, {"é": "ü"}], "": {}, "n": -0.0}
    doc = {**sample_doc(), "notices": [awkward]}
    # split("\n"): str.splitlines() would also split at the U+2028 the encoder writes raw.
    line = next(line for line in render_json(doc).split("\n") if line.startswith('    {"k"'))
    assert line.strip().rstrip(",") == json.dumps(awkward, ensure_ascii=False)


def test_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="not JSON compliant"):
        render_json({**sample_doc(), "notices": [float("nan")]})
