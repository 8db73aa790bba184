"""`ps2moodle demo` runs the whole job on emulators and names the audit log it wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app


@pytest.mark.slow
def test_the_demo_converges_and_names_the_audit_log_of_its_writes(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    audit = out / "audit.jsonl"
    assert f"every write is in the audit log {audit}." in result.stdout
    assert result.stdout.count(f"Every write is recorded in the audit log {audit}.") == 2, "one per apply"
    events = [json.loads(line)["event"] for line in audit.read_text(encoding="utf-8").splitlines()]
    assert events.count("start") == 2 and events.count("end") == 2
    assert "No changes." in result.stdout.rsplit("5. Apply", 1)[1]
