"""The JSON rendering is the document itself: complete, stable, one change per line."""

from __future__ import annotations

import json

from reconciler.plan.file import change_record, render_json
from reconciler.plan.model import Plan, SafetyVerdict
from tests.support.plans import sample_doc

from .golden import check_golden


def test_json_matches_the_golden_file() -> None:
    check_golden("plan.json", render_json(sample_doc()))


def test_json_is_the_document() -> None:
    for doc in (sample_doc(), sample_doc(Plan(), SafetyVerdict(ok=True))):
        data = json.loads(render_json(doc))
        assert data["changes"] == json.loads(json.dumps([change_record(c) for c in doc.changes]))
        assert data["checksum"] == doc.checksum
        assert data["verdict"] == {
            "ok": doc.verdict.ok,
            "violations": list(doc.verdict.violations),
            "override_reason": doc.verdict.override_reason,
        }
        assert data["notices"] == [{"level": n.level.value, "message": n.message, "key": n.key} for n in doc.notices]
        assert data["summary"]["total"] == len(doc.changes)


def test_one_change_per_line() -> None:
    doc = sample_doc()
    lines = render_json(doc).splitlines()
    start = lines.index('  "changes": [')
    assert [json.loads(line.strip().rstrip(",")) for line in lines[start + 1 : start + 1 + len(doc.changes)]] == (
        json.loads(json.dumps([change_record(c) for c in doc.changes]))
    )
