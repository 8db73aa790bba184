"""The audit log: one fsync-ed JSON line per change, whole lines under concurrent appends."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from reconciler.audit import AuditLog
from reconciler.errors import ReconcilerError

CHANGE = {"action": "suspend", "kind": "user", "key": "ps2m:d:student:7", "label": "zebulon.q", "before": {}}
CHECKSUM = "sha256:" + "ab" * 32


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_change_line_names_plan_action_object_and_outcome(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    with AuditLog(path) as audit:
        audit.record(CHECKSUM, CHANGE, "failed", "Moodle said no", override_reason="rollover week")
    (line,) = _lines(path)
    assert line == {
        "time": line["time"],
        "event": "change",
        "plan": CHECKSUM,
        "action": "suspend",
        "kind": "user",
        "key": "ps2m:d:student:7",
        "outcome": "failed",
        "error": "Moodle said no",
        "override_reason": "rollover week",
    }
    assert isinstance(line["time"], str) and line["time"].endswith("Z")
    assert datetime.fromisoformat(line["time"]).utcoffset() is not None


def test_lines_carry_no_label_or_attributes(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as audit:
        audit.record(CHECKSUM, CHANGE, "applied", None)
    assert "zebulon" not in path.read_text(encoding="utf-8")


def test_an_override_is_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as audit:
        audit.record_override(CHECKSUM, "back-to-school", ["600 user suspends: more than the limit of 500"])
        audit.record(CHECKSUM, CHANGE, "applied", None, override_reason="back-to-school")
    first, second = _lines(path)
    assert first["event"] == "override" and first["reason"] == "back-to-school"
    assert first["violations"] == ["600 user suspends: more than the limit of 500"]
    assert second["event"] == "change" and second["outcome"] == "applied"


def test_appends_to_an_existing_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    for outcome in ("applied", "skipped"):
        with AuditLog(path) as audit:
            audit.record(CHECKSUM, CHANGE, outcome, None)
    assert [line["outcome"] for line in _lines(path)] == ["applied", "skipped"]


def test_concurrent_records_are_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    long_error = "x" * 5000  # longer than a pipe buffer: interleaving would show
    with AuditLog(path) as audit, ThreadPoolExecutor(max_workers=8) as pool:
        for n in range(400):
            pool.submit(audit.record, CHECKSUM, {**CHANGE, "key": f"k{n}"}, "failed", long_error)
    lines = _lines(path)
    assert sorted(str(line["key"]) for line in lines) == sorted(f"k{n}" for n in range(400))
    assert all(line["error"] == long_error for line in lines)


def test_unknown_outcome_is_refused(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.jsonl") as audit, pytest.raises(ValueError, match="unknown outcome"):
        audit.record(CHECKSUM, CHANGE, "ok-ish", None)


def test_closed_or_unopenable_log_raises_a_tool_error(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    audit.close()
    with pytest.raises(ReconcilerError, match="closed"):
        audit.record(CHECKSUM, CHANGE, "applied", None)
    (tmp_path / "file").write_text("")
    with pytest.raises(ReconcilerError, match="cannot open audit log"):
        AuditLog(tmp_path / "file" / "audit.jsonl")
