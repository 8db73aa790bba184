"""The audit log: one fsync-ed JSON line per change, whole lines under concurrent appends."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from reconciler.audit import AuditLog, last_unfinished
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


def _run_lines(run: str, *events: dict[str, object]) -> list[dict[str, object]]:
    return [{"event": "start", "run": run, "plan": CHECKSUM}, *({"run": run, **e} for e in events)]


def _write(path: Path, lines: list[dict[str, object]], tail: str = "") -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + tail, encoding="utf-8")


def test_the_last_run_without_an_end_names_its_unanswered_calls(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    a, b = {"action": "create", "kind": "user", "key": "k1"}, {"action": "create", "kind": "user", "key": "k2"}
    finished = _run_lines("r1", {"event": "sending", "call": 1, "changes": [a]}, {"event": "end"})
    killed = _run_lines(
        "r2",
        {"event": "sending", "call": 1, "changes": [a]},
        {"event": "answered", "call": 1, "changes": [a]},
        {"event": "sending", "call": 2, "changes": [b]},
    )
    _write(path, finished + killed, tail='{"event": "sending", "call": 3, "chan')  # torn by the kill
    unfinished = last_unfinished(path)
    assert unfinished is not None and unfinished.start["run"] == "r2"
    assert unfinished.in_flight == (b,)

    with AuditLog(path) as audit:  # the next run records what k2 became: nothing is left to recover
        audit.record_event("recovered", CHECKSUM, run="r3", of_run="r2", **b, outcome="applied", error=None)
    after = last_unfinished(path)
    assert after is not None and after.in_flight == ()


def test_no_unfinished_run_when_the_last_one_ended_or_there_is_no_log(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    assert last_unfinished(path) is None
    _write(path, _run_lines("r1", {"event": "sending", "call": 1, "changes": []}, {"event": "interrupted"}))
    assert last_unfinished(path) is None
