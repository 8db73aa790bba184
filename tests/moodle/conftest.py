"""Fixtures for the Moodle client tests: the golden recordings of a real Moodle 4.5."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

_CANDIDATES = (
    Path(__file__).resolve().parents[1] / "golden" / "moodle",
    Path("/work/shared/golden/moodle"),
)


def _golden_dir() -> Path | None:
    override = os.environ.get("PS2M_GOLDEN_MOODLE")
    for path in (Path(override),) if override else _CANDIDATES:
        if (path / "production").is_dir():
            return path
    return None


def _load(directory: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.jsonl")):
        if path.name.startswith("_") and path.name != "_protocol.jsonl":
            continue  # _sequence repeats the per-function files; _max_input_vars is summarized
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                record["_source"] = f"{directory.name}/{path.name}"
                records.append(record)
    return records


@pytest.fixture(scope="session")
def golden_dir() -> Path:
    found = _golden_dir()
    if found is None:
        pytest.skip("golden Moodle recordings not found (set PS2M_GOLDEN_MOODLE)")
    return found


@pytest.fixture(scope="session")
def golden_records(golden_dir: Path) -> list[dict[str, Any]]:
    """Every recorded web-service call, production and debug."""
    return _load(golden_dir / "production") + _load(golden_dir / "debug")
